"""The staff app in a real Chromium: first sign-in with TOTP (the code computed by pyotp),
playing, editing and saving a segment, a second reviewer approving it, the first unable to
approve their own edit, and the Persian interface right-to-left."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from flask import Flask
from werkzeug.serving import make_server

from intake.models import ReviewState, Role
from intake.records import accounts
from tests.browser.test_intake_pages import playwright_browser  # noqa: F401 - a fixture
from tests.staff_support import (
    PASSWORD,
    code_for,
    ready_account,
    segments_of,
    transcribed_testimony,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def staff_server(staff_app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, staff_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


def _wait_until(page: object, expression: str, timeout_s: float = 10.0) -> None:
    # wait_for_function evaluates a string, which the page's CSP (no eval) refuses.
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, expression
        time.sleep(0.1)


def _first_sign_in(page: object, base: str, email: str, once: str) -> None:
    p = page
    p.goto(base + "/staff/review/")  # type: ignore[attr-defined]
    p.fill("#email", email)  # type: ignore[attr-defined]
    p.fill("#password", once)  # type: ignore[attr-defined]
    p.click("#sign-in")  # type: ignore[attr-defined]
    p.fill("#current", once)  # type: ignore[attr-defined]
    p.fill("#new_password", PASSWORD)  # type: ignore[attr-defined]
    p.fill("#repeat", PASSWORD)  # type: ignore[attr-defined]
    p.click("#save-password")  # type: ignore[attr-defined]
    assert p.locator(".qr svg").count() == 1  # type: ignore[attr-defined]
    secret = p.inner_text("#totp-secret")  # type: ignore[attr-defined]
    p.fill("#code", pyotp.TOTP(secret).now())  # type: ignore[attr-defined]
    p.click("#confirm-code")  # type: ignore[attr-defined]


def _sign_in(page: object, base: str, email: str, secret: str) -> None:
    p = page
    p.goto(base + "/staff/review/")  # type: ignore[attr-defined]
    p.fill("#email", email)  # type: ignore[attr-defined]
    p.fill("#password", PASSWORD)  # type: ignore[attr-defined]
    p.click("#sign-in")  # type: ignore[attr-defined]
    p.fill("#code", code_for(secret))  # type: ignore[attr-defined]
    p.click("#confirm-code")  # type: ignore[attr-defined]


def test_reviewers_edit_play_and_approve_with_four_eyes(
    app: Flask,
    staff_app: Flask,
    staff_server: str,
    playwright_browser: object,  # noqa: F811
    tmp_path: Path,
) -> None:
    pseudonym = transcribed_testimony(app, ["the first segment", "a secnod one"])
    first_seg = segments_of(staff_app, pseudonym)[1]
    with staff_app.extensions["testimony"].db.session() as s:
        _acc, once = accounts.create(s, "first@example.org", [Role.reviewer])
    second = ready_account(staff_app, "second@example.org", [Role.reviewer])
    browser = playwright_browser
    requests: list[str] = []

    ctx_a = browser.new_context(locale="en-US")  # type: ignore[attr-defined]
    a = ctx_a.new_page()
    a.on("request", lambda r: requests.append(r.url))
    _first_sign_in(a, staff_server, "first@example.org", once)
    a.wait_for_selector("table.queue")
    a.click(f"text={pseudonym}")
    seg = f"#seg-{first_seg.id}"
    a.wait_for_selector(seg)
    # Click the segment's time: the player jumps there and plays.
    a.click(f"{seg} a.time")
    _wait_until(a, "document.getElementById('player-1').currentTime >= 0.5")
    assert "current" in (a.get_attribute(seg, "class") or "")
    a.fill(f"{seg} textarea", "a second one")
    a.click(f"{seg} .save-button")
    a.wait_for_selector("#live:has-text('Segment saved')")
    assert segments_of(staff_app, pseudonym)[1].review_state == ReviewState.edited
    a.reload()
    assert a.locator(f"{seg} .approve-button").count() == 0
    assert a.locator(f"{seg} .own-edit").is_visible()

    ctx_b = browser.new_context(locale="en-US")  # type: ignore[attr-defined]
    b = ctx_b.new_page()
    b.on("request", lambda r: requests.append(r.url))
    _sign_in(b, staff_server, second.email, second.secret)
    b.goto(f"{staff_server}/staff/review/{pseudonym}")
    b.click(f"{seg} .approve-button")
    b.wait_for_selector("#live:has-text('Segment approved')")
    row = segments_of(staff_app, pseudonym)[1]
    assert row.review_state == ReviewState.approved and row.approved_by == f"account:{second.id}"
    assert requests and all(url.startswith(staff_server) for url in requests)
    ctx_a.close()
    ctx_b.close()


def test_persian_staff_interface_is_right_to_left(
    app: Flask,
    staff_app: Flask,
    staff_server: str,
    playwright_browser: object,  # noqa: F811
    tmp_path: Path,
) -> None:
    pseudonym = transcribed_testimony(app, ["an English segment"])
    reviewer = ready_account(staff_app, "fa@example.org", [Role.reviewer])
    ctx = playwright_browser.new_context(locale="fa-IR", java_script_enabled=False)  # type: ignore[attr-defined]
    page = ctx.new_page()
    _sign_in(page, staff_server, reviewer.email, reviewer.secret)
    page.goto(f"{staff_server}/staff/review/{pseudonym}")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.evaluate("getComputedStyle(document.querySelector('main')).direction") == "rtl"
    # The English transcript stays left-to-right inside the Persian page.
    assert page.evaluate("getComputedStyle(document.querySelector('ol.segments')).direction") == (
        "ltr"
    )
    assert "ذخیره" in page.inner_text("main")
    page.screenshot(path=str(tmp_path / "editor-fa.png"), full_page=True)
    ctx.close()
