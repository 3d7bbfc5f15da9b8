"""The intake pages in a real Chromium (Debian's, driven by Playwright; no browser download).

One submission in Persian with JavaScript disabled, as Tor Browser's safest mode would do it,
and one in English with JavaScript and in-page recording (Chromium's fake microphone).
Both must end on the receipt page and load nothing from another host.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from intake.models import AudioFile, Consent, Testimony
from tests import audio_fixtures as fx

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PERSIAN_DIGITS = "۰۱۲۳۴۵۶۷۸۹"


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture
def playwright_browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.skip(
            "no Chromium at /usr/bin/chromium: install the Debian packages chromium and "
            "chromium-driver (sudo apt-get install chromium chromium-driver; .ci/run does)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[*FLAGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"],
        )
        yield browser
        browser.close()


def _watch_hosts(page: object, base: str, seen: list[str]) -> None:
    page.on("request", lambda request: seen.append(request.url))  # type: ignore[attr-defined]


def test_persian_submission_without_javascript(
    app: Flask, live_server: str, playwright_browser: object, tmp_path: Path
) -> None:
    wav = tmp_path / "shahadat.wav"
    wav.write_bytes(fx.tone_wav(2.0))
    context = playwright_browser.new_context(  # type: ignore[attr-defined]
        java_script_enabled=False, locale="fa-IR"
    )
    page = context.new_page()
    requests: list[str] = []
    _watch_hosts(page, live_server, requests)
    page.goto(live_server + "/")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator("html").get_attribute("lang") == "fa"
    assert page.locator("#recorder").is_hidden()  # no JavaScript: the file input does the job
    page.set_input_files("#audio", str(wav))
    page.check("input[name=language][value=fa]")
    page.check("#consent-archive")
    page.check("#consent-transcribe")
    page.fill("#embargo_until", "۱۴۱۰/۰۱/۰۱")
    page.fill("#name", "نام آزمایشی")
    page.click("#send")
    page.wait_for_selector("#receipt-code")
    code = page.inner_text("#receipt-code")
    assert sum(ch in PERSIAN_DIGITS for ch in code) == 16
    assert page.locator("html").get_attribute("dir") == "rtl"
    page.screenshot(path=str(tmp_path / "receipt-fa.png"))
    assert requests and all(url.startswith(live_server) for url in requests)
    with app.extensions["testimony"].db.session() as s:
        consent = s.scalars(select(Consent)).one()
        assert consent.wording_locale == "fa" and consent.transcribe and not consent.translate
        assert consent.embargo_until is not None and consent.embargo_until.year == 2031
    context.close()


def test_english_submission_with_in_page_recording(
    app: Flask, live_server: str, playwright_browser: object, tmp_path: Path
) -> None:
    context = playwright_browser.new_context(  # type: ignore[attr-defined]
        java_script_enabled=True, locale="en-US"
    )
    context.grant_permissions(["microphone"], origin=live_server)
    page = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    _watch_hosts(page, live_server, requests)
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(live_server + "/")
    assert page.locator("html").get_attribute("dir") == "ltr"
    page.wait_for_selector("#recorder", state="visible")
    page.click("#record-start")
    page.wait_for_timeout(2500)
    page.click("#record-stop")
    page.wait_for_selector("#record-preview", state="visible")
    assert page.eval_on_selector("#audio", "el => el.files.length") == 1
    page.check("input[name=language][value=en]")
    page.check("#consent-transcribe")
    page.click("#send")
    page.wait_for_selector("#receipt-code")
    code = page.inner_text("#receipt-code").replace(" ", "")
    assert len(code) == 16 and code.isdigit()
    assert all(url.startswith(live_server) or url.startswith("blob:") for url in requests)
    assert not [e for e in errors if "Content Security Policy" in e]
    with app.extensions["testimony"].db.session() as s:
        audio = s.scalars(select(AudioFile)).one()
        assert audio.duration_s > 1.0
        assert "webm" in audio.source_format or "ogg" in audio.source_format
        assert s.scalars(select(Testimony)).one().language.value == "en"
    context.close()
