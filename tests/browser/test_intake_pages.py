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

from intake.models import AudioFile, Consent, Job, Testimony
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


def test_background_send_keeps_the_recording_through_errors(
    app: Flask, live_server: str, playwright_browser: object, tmp_path: Path
) -> None:
    """With JavaScript the form is checked first, then sent in the background with a progress
    bar; an error (here a box left unticked, then a name too long, which only the server
    checks) never discards the in-page recording, and the corrected form does not send it
    again."""
    context = playwright_browser.new_context(  # type: ignore[attr-defined]
        java_script_enabled=True, locale="en-US"
    )
    context.grant_permissions(["microphone"], origin=live_server)
    page = context.new_page()
    posts: list[int] = []  # the body size of each POST the server received
    inner = app.wsgi_app

    def measure(environ: dict[str, object], start_response: object) -> object:
        if environ["REQUEST_METHOD"] == "POST":
            posts.append(int(str(environ.get("CONTENT_LENGTH") or 0)))
        return inner(environ, start_response)  # type: ignore[arg-type]

    app.wsgi_app = measure  # type: ignore[method-assign,assignment]
    page.goto(live_server + "/")
    page.wait_for_selector("#recorder", state="visible")
    page.click("#record-start")
    page.wait_for_timeout(2500)
    page.click("#record-stop")
    page.wait_for_selector("#record-preview", state="visible")
    page.check("input[name=language][value=en]")

    # 1. No consent ticked: refused in the page, nothing sent, the recording still there.
    page.click("#send")
    page.wait_for_selector("#field-errors")
    assert "at least one use" in page.inner_text("#field-errors")
    assert posts == []
    assert page.eval_on_selector("#audio", "el => el.files.length") == 1

    # 2. An error only the server finds: the recording was sent once, with progress, and kept.
    page.check("#consent-transcribe")
    page.fill("#embargo_until", "2001-01-01")
    page.click("#send")
    page.wait_for_selector("#kept-files")
    assert "must be in the future" in page.inner_text("#field-errors")
    assert "kept: 1 file" in page.inner_text("#kept-files")
    assert page.eval_on_selector("#upload-progress", "el => el.value") == 100
    assert page.locator("#record-preview").is_visible()  # still playable in the page
    assert len(posts) == 1 and posts[0] > 10_000
    with app.extensions["testimony"].db.session() as s:
        assert s.scalars(select(Testimony)).all() == []

    # 3. Corrected: the form goes through without the audio being sent again.
    page.fill("#embargo_until", "")
    page.click("#send")
    page.wait_for_selector("#receipt-code")
    assert len(posts) == 2 and posts[1] < 5_000
    code = page.inner_text("#receipt-code").replace(" ", "")
    assert len(code) == 16 and code.isdigit()
    assert page.evaluate("() => localStorage.length + sessionStorage.length") == 0
    with app.extensions["testimony"].db.session() as s:
        assert len(s.scalars(select(AudioFile)).all()) == 1
    context.close()


@pytest.mark.parametrize("locale", ["fa", "en"])
def test_receipt_page_screenshots(
    app: Flask, live_server: str, playwright_browser: object, tmp_path: Path, locale: str
) -> None:
    """The receipt page on a phone and a desktop, in both languages, saved for a person to
    look at (under $TESTIMONY_SHOTS when set); the code is shown in both digit systems and
    the page has no link away but the language switch."""
    import os

    wav = tmp_path / "a.wav"
    wav.write_bytes(fx.tone_wav(1.0))
    shots = Path(os.environ.get("TESTIMONY_SHOTS", str(tmp_path)))
    shots.mkdir(parents=True, exist_ok=True)
    context = playwright_browser.new_context(  # type: ignore[attr-defined]
        java_script_enabled=False, locale="fa-IR" if locale == "fa" else "en-US"
    )
    page = context.new_page()
    page.goto(live_server + "/")
    page.set_input_files("#audio", str(wav))
    page.check(f"input[name=language][value={locale}]")
    page.check("#consent-archive")
    page.click("#send")
    page.wait_for_selector("#receipt-code")
    hrefs = page.eval_on_selector_all("a", "els => els.map(e => e.getAttribute('href'))")
    assert hrefs and all(h.startswith("/language/") for h in hrefs)
    shown = page.inner_text("#receipt-code") + page.inner_text("#receipt-code-other")
    assert sum(ch in PERSIAN_DIGITS for ch in shown) == 16
    assert sum(ch.isascii() and ch.isdigit() for ch in shown) == 16
    for width in (390, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(shots / f"receipt-{locale}-{width}.png"), full_page=True)
    page.emulate_media(media="print")
    page.screenshot(path=str(shots / f"receipt-{locale}-print.png"), full_page=True)
    context.close()


@pytest.mark.parametrize(("javascript", "bits"), [(True, 8), (False, 8), (True, 18)])
def test_the_page_solves_the_proof_of_work(
    migrated: object, playwright_browser: object, tmp_path: Path, javascript: bool, bits: int
) -> None:
    """With the proof of work on, the page's script solves its form's puzzle while the form is
    filled in and sends the nonce: the submission keeps the ordinary turn. Without JavaScript
    the same form is accepted all the same, and its transcription waits an hour longer. At 18
    bits (about a second here) the form is sent at once, usually before the puzzle is solved:
    the page waits for the nonce and still gets the ordinary turn (the test holds the
    solver's later slices until the send button was pressed, so that the send surely comes
    first)."""
    from intake import create_app
    from intake.public import proof_of_work

    config = migrated.with_overrides(  # type: ignore[attr-defined]
        proof_of_work_bits=bits, unproven_delay_s=3600.0
    )
    app = create_app(config)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    wav = tmp_path / "a.wav"
    wav.write_bytes(fx.tone_wav(2.0))
    context = playwright_browser.new_context(  # type: ignore[attr-defined]
        java_script_enabled=javascript, locale="en-US"
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))  # the script's own errors
    if bits > 8:
        # The solver works in slices of 20 ms, each after a setTimeout(0): hold those until
        # the form was sent, so the page must wait for its nonce (a visitor who sends quickly).
        page.add_init_script(
            "window.heldSlices = []; const later = window.setTimeout;"
            "window.setTimeout = function (fn, ms) {"
            "  if (ms === 0 && window.heldSlices) { window.heldSlices.push(fn); return 0; }"
            "  return later.apply(window, arguments); };"
            "window.releaseSlices = function () { const held = window.heldSlices;"
            "  window.heldSlices = null; held.forEach(function (fn) { later(fn, 0); }); };"
        )
    try:
        page.goto(base + "/")
        if javascript and bits == 8:
            page.wait_for_function("() => document.getElementById('proof-nonce').value !== ''")
            challenge = page.get_attribute("#proof-challenge", "value") or ""
            nonce = page.get_attribute("#proof-nonce", "value") or ""
            assert proof_of_work.leading_zero_bits(proof_of_work.work(challenge, nonce)) >= 8
        page.set_input_files("#audio", str(wav))
        page.check("input[name=language][value=en]")
        page.check("#consent-transcribe")
        page.click("#send")
        if bits > 8:
            page.wait_for_timeout(300)
            page.evaluate("() => window.releaseSlices()")
        page.wait_for_selector("#receipt-code", timeout=120_000)
        assert not errors
        with app.extensions["testimony"].db.session() as s:
            job = s.scalars(select(Job)).one()
            assert job.turn_at is not None and job.audio_s is not None
            extra = (job.turn_at - job.created_at).total_seconds() - job.audio_s
            assert abs(extra - (0.0 if javascript else 3600.0)) < 1.0
    finally:
        context.close()
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        app.extensions["testimony"].db.dispose()
