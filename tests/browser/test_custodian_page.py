"""The custodian's page in a real Chromium: sign in with TOTP, a wrong passphrase refused, the
identity shown once with no-store, the name released for export, and the Persian page right
to left, all without JavaScript (every action is a plain form)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from intake.config import Config
from intake.events import Action
from intake.models import Event, Testimony
from intake.public import custodians, identity
from tests import audio_fixtures as fx
from tests.browser.test_intake_pages import playwright_browser  # noqa: F401 - a fixture
from tests.staff_support import Staff, code_for, ready_account
from tests.support import ALL_CONSENT, submit, worker_keyring

pytestmark = pytest.mark.browser

PASSPHRASE = "correct horse battery staple"
REASON = "the family asked us to confirm the contact (request 2031-4)"
NAME, CONTACT = "Parvaneh Mohammadi", "+98 912 000 0000"


@pytest.fixture
def staff_server(staff_app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, staff_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


def _sign_in(page: object, base: str, staff: Staff, step_offset: int) -> None:
    p = page
    p.goto(base + "/staff/custodian/")  # type: ignore[attr-defined]
    p.fill("#email", staff.email)  # type: ignore[attr-defined]
    p.fill("#password", staff.password)  # type: ignore[attr-defined]
    p.click("#sign-in")  # type: ignore[attr-defined]
    p.fill("#code", code_for(staff.secret, step_offset))  # type: ignore[attr-defined]
    p.click("#confirm-code")  # type: ignore[attr-defined]
    # (wait_for_selector polls with script, which these pages run without.)
    assert p.locator("form.custodian").count() == 1  # type: ignore[attr-defined]


def _fill(page: object, pseudonym: str, passphrase: str) -> None:
    page.fill("#pseudonym", pseudonym)  # type: ignore[attr-defined]
    page.fill("#reason", REASON)  # type: ignore[attr-defined]
    page.fill("#passphrase", passphrase)  # type: ignore[attr-defined]


def test_a_custodian_reveals_and_releases_in_the_browser(
    app: Flask,
    staff_app: Flask,
    migrated: Config,
    staff_server: str,
    playwright_browser: object,  # noqa: F811
    tmp_path: Path,
) -> None:
    svc = app.extensions["testimony"]
    keeper = ready_account(staff_app, "keeper@example.org", [])
    with svc.db.session() as s:
        cheap = migrated.with_overrides(custodian_kdf_passes=1, custodian_kdf_mib=8)
        custodians.add(s, worker_keyring(app), cheap, keeper.email, PASSPHRASE)
    public = app.test_client()
    consent = {**ALL_CONSENT, "publish_named": "y"}
    submit(public, [(fx.tone_wav(1.0), "a.wav")], consent=consent, name=NAME, contact=CONTACT)
    with svc.db.session() as s:
        pseudonym = s.scalars(select(Testimony.pseudonym)).one()

    # The second sign-in uses the next step's code: a code is accepted once.
    for step, (locale, lang) in enumerate((("en-US", "en"), ("fa-IR", "fa"))):
        ctx = playwright_browser.new_context(  # type: ignore[attr-defined]
            locale=locale, java_script_enabled=False
        )
        page = ctx.new_page()
        requests: list[str] = []
        page.on("request", lambda r, seen=requests: seen.append(r.url))
        _sign_in(page, staff_server, keeper, step)
        assert page.locator("html").get_attribute("dir") == ("rtl" if lang == "fa" else "ltr")
        for width in (390, 1280):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(
                path=str(tmp_path / f"custodian-form-{lang}-{width}.png"), full_page=True
            )
        _fill(page, pseudonym, "not the passphrase at all")
        page.click("#reveal")
        assert page.locator("#error").is_visible()
        assert NAME not in page.inner_text("main")
        _fill(page, pseudonym, PASSPHRASE)
        with page.expect_response(lambda r: r.url.endswith("/staff/custodian/reveal")) as info:
            page.click("#reveal")
        assert info.value.headers["cache-control"] == "no-store"
        assert page.inner_text("#identity-name") == NAME
        assert page.inner_text("#identity-contact") == CONTACT
        for width in (390, 1280):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(
                path=str(tmp_path / f"custodian-shown-{lang}-{width}.png"), full_page=True
            )
        page.click("#done")
        _fill(page, pseudonym, PASSPHRASE)
        page.click("#release")
        assert page.locator("#released").is_visible()
        assert NAME not in page.inner_text("main")  # releasing shows nothing
        assert requests and all(url.startswith(staff_server) for url in requests)
        ctx.close()

    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony)).one()
        # Read as the exporter does, with the archive's private key.
        assert identity.released_name(s, worker_keyring(app), testimony.id) == NAME
        actions = [e.action for e in s.scalars(select(Event).where(Event.account_id == keeper.id))]
        assert actions.count(Action.identity_revealed) == 2
        assert actions.count(Action.name_released) == 2
