"""In a real Chromium: no `next=` of either app takes the browser to another host, and the two
apps served side by side on one host (as `make run` does) keep their own cookies, so opening the
public form does not sign the staff member out."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from flask import Flask
from werkzeug.serving import make_server

from intake.models import Role
from tests.browser.test_intake_pages import live_server, playwright_browser  # noqa: F401
from tests.staff_support import Staff, code_for, ready_account

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


def _elsewhere(base: str) -> str:
    """The same server under another host name: a browser that lands there has left the host."""
    return "localhost:" + str(urlsplit(base).port)


def _sign_in(page: object, url: str, staff: Staff) -> None:
    p = page
    p.goto(url)  # type: ignore[attr-defined]
    p.fill("#email", staff.email)  # type: ignore[attr-defined]
    p.fill("#password", staff.password)  # type: ignore[attr-defined]
    p.click("#sign-in")  # type: ignore[attr-defined]
    p.fill("#code", code_for(staff.secret))  # type: ignore[attr-defined]
    p.click("#confirm-code")  # type: ignore[attr-defined]


def test_no_next_leads_the_browser_to_another_host(
    app: Flask,
    staff_app: Flask,
    live_server: str,  # noqa: F811
    staff_server: str,
    playwright_browser: object,  # noqa: F811
) -> None:
    context = playwright_browser.new_context(java_script_enabled=False)  # type: ignore[attr-defined]
    page = context.new_page()
    for base, path in ((live_server, "/language/en"), (staff_server, "/staff/language/en")):
        other = _elsewhere(base)
        for target in (f"/%09/{other}/", f"/%5C{other}/", f"//{other}/", f"/%2F%2F{other}/"):
            page.goto(f"{base}{path}?next={target}")
            assert urlsplit(page.url).hostname == "127.0.0.1", (target, page.url)
    staff = ready_account(staff_app, "next@example.org", [Role.reviewer])
    other = _elsewhere(staff_server)
    _sign_in(page, f"{staff_server}/staff/sign-in?next=/%09/{other}/staff/", staff)
    assert urlsplit(page.url).hostname == "127.0.0.1", page.url
    assert "/sign-in" not in page.url
    context.close()


def test_both_apps_side_by_side_keep_their_cookies(
    app: Flask,
    staff_app: Flask,
    live_server: str,  # noqa: F811
    staff_server: str,
    playwright_browser: object,  # noqa: F811
) -> None:
    context = playwright_browser.new_context(java_script_enabled=False)  # type: ignore[attr-defined]
    page = context.new_page()
    staff = ready_account(staff_app, "both@example.org", [Role.reviewer])
    _sign_in(page, f"{staff_server}/staff/review/", staff)
    assert urlsplit(page.url).path == "/staff/review/"
    # The public form and its language switch, in the same browser, on the same host.
    page.goto(live_server + "/")
    page.goto(live_server + "/language/fa?next=/")
    page.goto(live_server + "/receipt")
    names = {c["name"] for c in context.cookies() if c["domain"] == "127.0.0.1"}
    assert {app.config["SESSION_COOKIE_NAME"], staff_app.config["SESSION_COOKIE_NAME"]} <= names
    # The staff member is still signed in.
    page.goto(f"{staff_server}/staff/review/")
    assert urlsplit(page.url).path == "/staff/review/"
    assert page.locator("#password").count() == 0
    context.close()
