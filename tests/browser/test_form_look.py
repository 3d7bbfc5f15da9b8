"""How the form and the status page look in a real Chromium, on a phone and on a desktop.

Computed boxes and styles, not markup: the consent heading inside its border, the recorder's
status on its own line, the other language at the top, the embargo hint as visible text, the
page's own messages instead of the browser's, and the stepper on the status page.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from flask import Flask

from tests import audio_fixtures as fx
from tests.browser.test_intake_pages import live_server, playwright_browser  # noqa: F401

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _shots(tmp_path: Path) -> Path:
    # Screenshots go beside the test, or where TESTIMONY_SCREENSHOTS says, to be looked at.
    folder = Path(os.environ.get("TESTIMONY_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _inside(inner: dict[str, float], outer: dict[str, float]) -> bool:
    return (
        inner["x"] >= outer["x"] - 0.5
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 0.5
    )


@pytest.mark.parametrize("locale", ["fa", "en"])
@pytest.mark.parametrize("javascript", [False, True])
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_submit_page_looks_right(
    app: Flask,
    live_server: str,  # noqa: F811
    playwright_browser: object,  # noqa: F811
    tmp_path: Path,
    locale: str,
    javascript: bool,
    viewport: dict[str, int],
) -> None:
    context = playwright_browser.new_context(  # type: ignore[attr-defined]
        java_script_enabled=javascript, locale="en-US", viewport=viewport
    )
    page = context.new_page()
    page.goto(live_server + "/")
    # Tor Browser asks for English: the Persian switch is at the top, in Persian, one click
    # away (on the intake form a button of the form itself, so nothing typed is lost).
    if locale == "fa":
        link = page.get_by_role("button", name="فارسی")
        box = link.bounding_box()
        assert link.is_visible() and box is not None and box["y"] < 80
        # Drawn as a button, not a small word lost in the header.
        style = link.evaluate(
            "el => [getComputedStyle(el).borderTopWidth, getComputedStyle(el).fontWeight]"
        )
        assert float(style[0].rstrip("px")) >= 1 and int(style[1]) >= 600
        link.click()
        page.wait_for_load_state()
        assert page.locator("html").get_attribute("dir") == "rtl"
        assert page.get_by_role("button", name="English").is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], "the page scrolls sideways"
    for fieldset in page.locator("fieldset").all():
        legend = fieldset.locator("legend").bounding_box()
        outer = fieldset.bounding_box()
        assert legend and outer and _inside(legend, outer), fieldset.inner_text()[:60]
        # Below the top border, not cut by it (the box of a fieldset starts at its legend's top
        # when the legend sits on the border).
        assert legend["y"] >= outer["y"] + 1, fieldset.inner_text()[:60]
    assert page.locator("#recorder").is_visible() is javascript
    if locale == "fa":
        assert page.get_attribute("#embargo_until", "placeholder") is None
        assert page.locator("#embargo-hint").is_visible()
        assert page.input_value("#embargo_until") == ""
    if javascript:
        page.evaluate("document.getElementById('record-status').textContent = 'x'.repeat(40)")
        status = page.locator("#record-status").bounding_box()
        stop = page.locator("#record-stop").bounding_box()
        assert status and stop and status["y"] >= stop["y"] + stop["height"] - 0.5
        page.evaluate("document.getElementById('record-status').textContent = ''")
    mode = "js" if javascript else "nojs"
    page.screenshot(
        path=str(_shots(tmp_path) / f"submit-{locale}-{viewport['width']}-{mode}.png"),
        full_page=True,
    )
    # Sending the empty form shows the page's own messages, not the browser's tooltips.
    page.click("#send")
    page.wait_for_selector("#field-errors, #form-error")
    assert page.locator("[role=alert]").first.is_visible()
    context.close()


@pytest.mark.parametrize("locale", ["fa", "en"])
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_status_page_looks_right(
    app: Flask,
    live_server: str,  # noqa: F811
    playwright_browser: object,  # noqa: F811
    tmp_path: Path,
    locale: str,
    viewport: dict[str, int],
) -> None:
    wav = tmp_path / "a.wav"
    wav.write_bytes(fx.tone_wav(3.0))
    context = playwright_browser.new_context(  # type: ignore[attr-defined]
        java_script_enabled=False, locale="fa-IR" if locale == "fa" else "en-US", viewport=viewport
    )
    page = context.new_page()
    page.goto(live_server + "/")
    page.set_input_files("#audio", str(wav))
    page.check(f"input[name=language][value={locale}]")
    page.check("#consent-archive")
    page.check("#consent-transcribe")
    page.check("#consent-translate")
    page.check("#consent-publish_anonymised")
    page.click("#send")
    page.wait_for_selector("#receipt-code")
    code = page.inner_text("#receipt-code")
    page.goto(live_server + "/receipt")
    page.fill("#code", code)
    page.click("button[type=submit]")
    page.wait_for_selector("#stages")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    current = page.locator("#stages [aria-current=step]")
    assert current.count() == 1 and current.is_visible()
    background = current.evaluate("el => getComputedStyle(el).backgroundColor")
    ahead = page.locator("#stages li.ahead").first
    assert background != ahead.evaluate("el => getComputedStyle(el).backgroundColor")
    duration = page.inner_text("#recording-duration")
    assert re.search("[3۳]", duration) and "0.0" not in duration
    assert page.locator("#withdraw-publish_anonymised").is_visible()
    page.screenshot(
        path=str(_shots(tmp_path) / f"status-{locale}-{viewport['width']}.png"), full_page=True
    )
    context.close()
