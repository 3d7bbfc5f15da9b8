"""The volunteers' and archivists' daily work in a real Chromium: shortcuts on a Persian
keyboard layout (the physical key counts, not the letter), playback speed and rewind-on-resume,
the jump after a split landing below the sticky player on a phone, the record page's history
and the preview of what will leave (the marked span is silent in the audio it plays), and every
staff page passing axe-core with nothing off-screen, in Persian and English at 390 and 1280 px.

Set TESTIMONY_SCREENSHOTS to a folder (docs/images) to keep the screenshots the docs show.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
from faster_whisper.audio import decode_audio
from flask import Flask

from intake.models import Role
from tests.browser.test_intake_pages import playwright_browser  # noqa: F401 - a fixture
from tests.browser.test_staff_review import _sign_in, staff_server  # noqa: F401 - a fixture
from tests.export.approved import approved_record
from tests.export.test_export_runs import NAMED
from tests.staff_support import ready_account, segments_of, transcribed_testimony
from tests.test_record_page import level
from tests.translation_support import approved_testimony

pytestmark = pytest.mark.browser

ALT = 1  # CDP modifier bit


def _shot(page: object, tmp_path: Path, name: str) -> None:
    keep = os.environ.get("TESTIMONY_SCREENSHOTS")
    folder = Path(keep) if keep else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=True)  # type: ignore[attr-defined]


def _wait(page: object, expression: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, expression
        time.sleep(0.1)


def _key(cdp: object, key: str, code: str, vk: int, modifiers: int = ALT) -> None:
    """Press a key through Chromium's input pipeline as a Persian layout sends it."""
    for kind in ("rawKeyDown", "keyUp"):
        cdp.send(  # type: ignore[attr-defined]
            "Input.dispatchKeyEvent",
            {
                "type": kind,
                "modifiers": modifiers,
                "key": key,
                "code": code,
                "windowsVirtualKeyCode": vk,
                "nativeVirtualKeyCode": vk,
            },
        )


def test_shortcuts_read_the_physical_key_on_a_persian_layout(
    app: Flask,
    staff_app: Flask,
    staff_server: str,  # noqa: F811
    playwright_browser: object,  # noqa: F811
    tmp_path: Path,
) -> None:
    pseudonym = transcribed_testimony(app, ["یک جمله", "جمله دوم", "جمله سوم", "چهارم"])
    segs = segments_of(staff_app, pseudonym)
    reviewer = ready_account(staff_app, "keys@example.org", [Role.reviewer])
    ctx = playwright_browser.new_context(locale="fa-IR")  # type: ignore[attr-defined]
    page = ctx.new_page()
    _sign_in(page, staff_server, reviewer.email, reviewer.secret)
    page.goto(f"{staff_server}/staff/review/{pseudonym}")
    cdp = ctx.new_cdp_session(page)
    third = f"#seg-{segs[2].id}"
    page.focus(f"{third} textarea")
    # Alt+R on a Persian layout types Alt+ق: the segment replays from its start (1.0 s).
    _key(cdp, "ق", "KeyR", 82)
    _wait(page, "document.getElementById('player-1').currentTime >= 1.0")
    assert "current" in (page.get_attribute(third, "class") or "")
    # Alt+ArrowDown moves on; Alt+. (a Persian layout's "." key) speeds up, Alt+, slows down.
    _key(cdp, "ArrowDown", "ArrowDown", 40)
    assert page.evaluate("document.activeElement.id") == f"text-{segs[3].id}"
    _key(cdp, "ژ", "Period", 190)  # what that key types does not matter
    assert page.evaluate("document.getElementById('player-1').playbackRate") == 1.25
    assert page.input_value("#playback-speed") == "1.25"
    _key(cdp, "و", "Comma", 188)
    _key(cdp, "و", "Comma", 188)
    _key(cdp, "و", "Comma", 188)
    assert page.evaluate("document.getElementById('player-1').playbackRate") == 0.75
    # The speed is remembered in this browser.
    page.reload()
    assert page.evaluate("document.getElementById('player-1').playbackRate") == 0.75
    # Rewind on resume: paused at 1.8 s, Esc resumes 2 s (the default) earlier, at 0.
    page.evaluate(
        "() => { const a = document.getElementById('player-1'); a.pause(); a.currentTime = 1.8; }"
    )
    _wait(page, "Math.abs(document.getElementById('player-1').currentTime - 1.8) < 0.05")
    _key(cdp, "Escape", "Escape", 27, modifiers=0)
    assert page.evaluate("document.getElementById('player-1').currentTime") < 0.5
    # Alt+B steps back by the rewind setting, here changed to 1 s.
    page.fill("#playback-rewind", "1")
    page.dispatch_event("#playback-rewind", "change")
    page.evaluate(
        "() => { const a = document.getElementById('player-1'); a.pause(); a.currentTime = 1.8; }"
    )
    _wait(page, "Math.abs(document.getElementById('player-1').currentTime - 1.8) < 0.05")
    _key(cdp, "ذ", "KeyB", 66)
    _wait(page, "Math.abs(document.getElementById('player-1').currentTime - 0.8) < 0.1")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.evaluate("window.scrollTo(0, 0)")
    _shot(page, tmp_path, "editor-playback-fa-1280.png")
    ctx.close()


def test_after_a_split_on_a_phone_the_segment_shows_below_the_sticky_player(
    app: Flask,
    staff_app: Flask,
    staff_server: str,  # noqa: F811
    playwright_browser: object,  # noqa: F811
) -> None:
    texts = [f"sentence number {i} is here" for i in range(24)]
    pseudonym = transcribed_testimony(app, texts)
    segs = segments_of(staff_app, pseudonym)
    reviewer = ready_account(staff_app, "phone@example.org", [Role.reviewer])
    ctx = playwright_browser.new_context(  # type: ignore[attr-defined]
        locale="en-US", viewport={"width": 390, "height": 700}
    )
    page = ctx.new_page()
    _sign_in(page, staff_server, reviewer.email, reviewer.secret)
    page.goto(f"{staff_server}/staff/review/{pseudonym}")
    target = f"#seg-{segs[18].id}"
    page.click(f"{target} details.tools summary")
    page.fill(f"{target} form.split input.before", "is here")
    page.click(f"{target} .split-button")
    page.wait_for_load_state()
    assert page.url.endswith(f"#seg-{segs[18].id}")
    player = page.evaluate("document.getElementById('player-1').getBoundingClientRect().bottom")
    top = page.evaluate(f"document.querySelector('{target}').getBoundingClientRect().top")
    assert page.evaluate("window.scrollY") > 0
    assert top >= player - 1, (top, player)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    ctx.close()


def test_the_record_page_shows_history_and_plays_the_redacted_audio(
    app: Flask,
    staff_app: Flask,
    staff_server: str,  # noqa: F811
    playwright_browser: object,  # noqa: F811
    tmp_path: Path,
) -> None:
    pseudonym = approved_record(app, consent=NAMED, marked=["Evin"])  # the audio leaves
    for locale, width in (("en-US", 1280), ("fa-IR", 390)):
        archivist = ready_account(staff_app, f"rec-{width}@example.org", [Role.archivist])
        ctx = playwright_browser.new_context(  # type: ignore[attr-defined]
            locale=locale, viewport={"width": width, "height": 900}
        )
        page = ctx.new_page()
        _sign_in(page, staff_server, archivist.email, archivist.secret)
        page.goto(f"{staff_server}/staff/records/{pseudonym}")
        events = page.locator("ol.history li.event")
        actions = [events.nth(i).get_attribute("data-action") for i in range(events.count())]
        assert actions[0] == "received" and "transcript_approved" in actions
        assert "access_copy_made" in actions and "redaction_marked" not in actions[:1]
        assert page.locator("ol.history .actor:has-text('account:8')").count() >= 1
        assert page.locator("svg.timeline rect.silenced").count() == 1
        assert "Evin" not in page.inner_text("main")
        src = page.get_attribute("#preview-audio", "src")
        assert src
        # The audio the page plays, fetched as the page fetches it: silent at the mark.
        response = page.request.get(staff_server + src)
        assert response.status == 200
        samples = decode_audio(io.BytesIO(response.body()))
        assert level(samples, 0.05, 0.45) < 0.001
        assert level(samples, 1.0, 1.9) > 0.05
        # And the page's own player can play it.
        page.evaluate("document.getElementById('preview-audio').play()")
        _wait(page, "document.getElementById('preview-audio').currentTime > 0.2")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        _shot(page, tmp_path, f"record-{locale[:2]}-{width}.png")
        ctx.close()


# Text in the Persian interface written with Latin digits, outside what is Latin on purpose
# (pseudonyms, emails, hashes and codes, marked dir="ltr"; form fields; English text; a
# technical name such as UTF-8).
LATIN_DIGITS = """() => {
  const out = [];
  const walk = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const node = walk.currentNode, el = node.parentElement;
    if (!/(?<![A-Za-z][-_]?)[0-9]/.test(node.textContent)) continue;
    if (el.closest('[dir=ltr], [lang=en], textarea, script, style, option[value]')) continue;
    if (!el.getClientRects().length) continue;
    out.push(node.textContent.trim().slice(0, 60));
  }
  return out;
}"""


# Buttons, fields and links of the page that start or end past the screen's edge.
OFF_SCREEN = """w => Array.from(document.querySelectorAll(
    'main button, main input:not([type=hidden]), main select, main a'))
  .filter(e => e.getClientRects().length
    && (e.getBoundingClientRect().right > w + 1 || e.getBoundingClientRect().left < -1))
  .map(e => e.outerHTML.slice(0, 80))"""


def _axe(page: object) -> list[dict[str, object]]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return list(results.response["violations"])


def _pages(app: Flask, staff_app: Flask) -> list[str]:
    reviewed = transcribed_testimony(app, ["او را در زندان اوين دیدم", "بعد به خانه رفتیم"])
    to_translate = approved_testimony(app, ["در سال ۱۳۶۷ در اوین بودم", "بعد آزاد شدم"])
    record = approved_record(app, consent=NAMED, marked=["Evin"])  # the audio leaves
    return [
        "/staff/",
        "/staff/review/",
        f"/staff/review/{reviewed}",
        "/staff/translate/",
        f"/staff/translate/{to_translate}",
        "/staff/admin/glossary",
        "/staff/custodian/",
        "/staff/access-copies",
        "/staff/export/",
        "/staff/admin/accounts",
        "/staff/admin/retention",
        f"/staff/records/{record}",
    ]


# Pages kept as the docs' screenshots: (language, width, path under /staff/) -> file name.
SHOTS = {
    ("en", 390, "access-copies"): "access-copies-en-390.png",
    ("fa", 390, "access-copies"): "access-copies-fa-390.png",
    ("fa", 390, "admin/accounts"): "accounts-fa-390.png",
}


def test_every_staff_page_passes_axe_with_nothing_off_screen(
    app: Flask,
    staff_app: Flask,
    staff_server: str,  # noqa: F811
    playwright_browser: object,  # noqa: F811
    tmp_path: Path,
) -> None:
    paths = _pages(app, staff_app)
    everyone = ready_account(staff_app, "all@example.org", list(Role))
    ctx = playwright_browser.new_context(locale="en-US")  # type: ignore[attr-defined]
    page = ctx.new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    found: dict[str, list[str]] = {}
    # The sign-in page, before signing in, in both languages and widths.
    for locale in ("fa", "en"):
        page.goto(f"{staff_server}/staff/language/{locale}?next=/staff/sign-in")
        for width in (390, 1280):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{staff_server}/staff/sign-in")
            assert page.evaluate("document.documentElement.lang") == locale
            problems = [f"{v['id']}: {len(v['nodes'])}" for v in _axe(page)]  # type: ignore[arg-type]
            if page.evaluate("document.documentElement.scrollWidth") > width:
                problems.append("page wider than the screen")
            if problems:
                found[f"{locale} {width} /staff/sign-in"] = problems
    for locale in ("en", "fa"):
        if locale == "fa":
            page.goto(f"{staff_server}/staff/language/fa?next=/staff/")
        else:
            _sign_in(page, staff_server, everyone.email, everyone.secret)
        for width in (390, 1280):
            page.set_viewport_size({"width": width, "height": 900})
            for path in paths:
                page.goto(staff_server + path)
                assert page.evaluate("document.documentElement.lang") == locale, path
                key = f"{locale} {width} {path}"
                problems = [f"{v['id']}: {len(v['nodes'])}" for v in _axe(page)]  # type: ignore[arg-type]
                if page.evaluate("document.documentElement.scrollWidth") > width:
                    problems.append("page wider than the screen")
                # Every button and field can be reached: none starts past the screen's edge.
                off = page.evaluate(OFF_SCREEN, width)
                if off:
                    problems.append(f"off-screen: {off[:3]}")
                if locale == "fa":
                    latin = page.evaluate(LATIN_DIGITS)
                    if latin:
                        problems.append(f"Latin digits: {latin[:3]}")
                if problems:
                    found[key] = problems
                name = SHOTS.get((locale, width, path.removeprefix("/staff/")))
                if name:
                    _shot(page, tmp_path, name)
    ctx.close()
    assert not found, "\n".join(f"{k}: {v}" for k, v in found.items())
