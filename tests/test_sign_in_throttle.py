"""Sign-in limits an attacker cannot turn against the owner (OWASP's device cookies), the same
answers for known and unknown emails, custodian passphrases under the same delay, no address in
the staff cookie, distinct cookie names per app, and emails without look-alike characters."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from intake.cli import main
from intake.config import Config
from intake.events import Action
from intake.models import Event, SignInThrottle, StaffAccount, Testimony, utcnow
from intake.public import custodians
from intake.records import accounts, throttle
from intake.views.staff import auth
from tests import audio_fixtures as fx
from tests.staff_support import Staff, code_for, ready_account, sign_in, staff_client
from tests.support import ALL_CONSENT, csrf_token, submit, worker_keyring

WRONG = "not the password at all"


def _post_password(client: FlaskClient, email: str, password: str) -> tuple[int, str]:
    token = csrf_token(client, "/staff/sign-in")
    r = client.post(
        "/staff/sign-in", data={"csrf_token": token, "email": email, "password": password}
    )
    return r.status_code, r.get_data(as_text=True)


def _expire_waits(app: Flask) -> None:
    """Move every wait into the past: as if the attacker's delay had run out."""
    with app.extensions["testimony"].db.session() as s:
        s.execute(update(SignInThrottle).values(locked_until=utcnow() - timedelta(seconds=1)))


def _sign_out(client: FlaskClient) -> None:
    token = csrf_token(client, "/staff/")
    assert client.post("/staff/sign-out", data={"csrf_token": token}).status_code == 302


def test_an_attacker_cannot_lock_the_owners_browser_out(staff_app: Flask) -> None:
    owner = ready_account(staff_app, "owner@example.org", [])
    browser = staff_client(staff_app)
    sign_in(browser, owner, step_offset=-1)  # earns the device cookie
    assert browser.get_cookie(auth.DEVICE_COOKIE, path="/staff/") is not None
    _sign_out(browser)

    # 18 wrong passwords from browsers without the device cookie (the reported attack), the
    # waits run out between them so every one is counted: the shared bucket is at its most.
    for _ in range(18):
        status, _html = _post_password(staff_client(staff_app), owner.email, WRONG)
        assert status in (401, 429)
        _expire_waits(staff_app)
    assert _post_password(staff_client(staff_app), owner.email, WRONG)[0] == 401
    stranger = staff_client(staff_app)
    status, html = _post_password(stranger, owner.email, owner.password)
    assert status == 429 and "wait" in html  # a new browser waits, even with the password

    # The owner's own browser is not touched: the right password goes through at once.
    sign_in(browser, owner, step_offset=0)
    assert browser.get("/staff/").status_code == 200
    # And the owner's success clears nothing of the attacker's wait.
    status, _html = _post_password(staff_client(staff_app), owner.email, owner.password)
    assert status == 429


def test_a_device_has_its_own_small_counter(staff_app: Flask) -> None:
    owner = ready_account(staff_app, "typos@example.org", [])
    browser = staff_client(staff_app)
    sign_in(browser, owner, step_offset=-1)
    _sign_out(browser)
    # The owner's own typos slow down only this browser: others are not delayed by them...
    for _ in range(throttle.FREE_FAILURES + 1):
        assert _post_password(browser, owner.email, WRONG)[0] == 401
    assert _post_password(browser, owner.email, owner.password)[0] == 429
    assert _post_password(staff_client(staff_app), owner.email, owner.password)[0] == 302
    with staff_app.extensions["testimony"].db.session() as s:
        failed = [
            e.detail for e in s.scalars(select(Event).where(Event.action == Action.sign_in_failed))
        ]
    assert [d["device"] for d in failed if d] == [True] * (throttle.FREE_FAILURES + 1)


def test_a_device_cookie_counts_only_for_its_own_account(staff_app: Flask) -> None:
    first = ready_account(staff_app, "first@example.org", [])
    second = ready_account(staff_app, "second@example.org", [])
    browser = staff_client(staff_app)
    sign_in(browser, first, step_offset=-1)
    _sign_out(browser)
    # The cookie earned on `first` is no pass for `second`: those attempts share second's
    # bucket with every other browser...
    for _ in range(throttle.FREE_FAILURES + 1):
        assert _post_password(browser, second.email, WRONG)[0] == 401
    assert _post_password(staff_client(staff_app), second.email, second.password)[0] == 429
    # ... and a forged cookie is no cookie at all.
    forged = staff_client(staff_app)
    forged.set_cookie(auth.DEVICE_COOKIE, "WzIsICJub25jZSJd.forged", path="/staff/")
    assert _post_password(forged, second.email, second.password)[0] == 429


def test_unknown_and_known_emails_get_the_same_answers_and_delays(staff_app: Flask) -> None:
    known = ready_account(staff_app, "staff@example.org", [])
    answers: dict[str, list[tuple[int, str]]] = {}
    for email in (known.email, "nobody@example.org"):
        client = staff_client(staff_app)
        seen = []
        for _ in range(throttle.FREE_FAILURES + 3):
            status, html = _post_password(client, email, WRONG)
            error = re.search(r'class="error"[^>]*>([^<]*)<', html)
            seen.append((status, re.sub(r"\d+", "N", error.group(1) if error else "")))
        answers[email] = seen
    assert answers[known.email] == answers["nobody@example.org"]
    assert [s for s, _ in answers[known.email]][-2:] == [429, 429]
    # The same count and the same wait, in one bucket each, as the table records them.
    with staff_app.extensions["testimony"].db.session() as s:
        rows = s.scalars(select(SignInThrottle)).all()
        assert len(rows) == 2
        assert {r.failures for r in rows} == {throttle.FREE_FAILURES + 1}
        waits = {r.locked_until - r.updated_at for r in rows if r.locked_until is not None}
        assert waits == {timedelta(seconds=throttle.delay_s(throttle.FREE_FAILURES + 1))}


def test_the_code_step_counts_in_the_password_steps_bucket(staff_app: Flask) -> None:
    owner = ready_account(staff_app, "codes@example.org", [])
    browser = staff_client(staff_app)
    sign_in(browser, owner, step_offset=-1)
    _sign_out(browser)
    # Wrong codes after the right password, from the owner's browser, slow only that browser.
    assert _post_password(browser, owner.email, owner.password)[0] == 302
    token = csrf_token(browser, "/staff/sign-in/code")
    wrong = str((int(code_for(owner.secret)) + 1) % 1_000_000).zfill(6)
    for _ in range(throttle.FREE_FAILURES + 1):
        r = browser.post("/staff/sign-in/code", data={"csrf_token": token, "code": wrong})
        assert r.status_code == 400
    r = browser.post(
        "/staff/sign-in/code", data={"csrf_token": token, "code": code_for(owner.secret)}
    )
    assert r.status_code == 400 and "wait" in r.get_data(as_text=True)
    assert _post_password(staff_client(staff_app), owner.email, owner.password)[0] == 302


def test_the_staff_cookie_holds_no_digest_of_address_or_browser(staff_app: Flask) -> None:
    staff = ready_account(staff_app, "cookie@example.org", [])
    client = staff_client(staff_app)
    address, agent = "203.0.113.77", "MarkedBrowser/1.0"
    client.environ_base.update(REMOTE_ADDR=address, HTTP_USER_AGENT=agent)
    sign_in(client, staff)
    assert client.get("/staff/").status_code == 200
    cookie = client.get_cookie(staff_app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    signer = staff_app.session_interface.get_signing_serializer(staff_app)  # type: ignore[attr-defined]
    content = json.dumps(signer.loads(cookie.value))
    # Flask-Login's identifier: sha512 of "address|user agent" (and of each part alone).
    for text in (f"{address}|{agent}", address, agent, f"{address}|"):
        digest = hashlib.sha512(text.encode()).hexdigest()
        assert digest not in content and digest not in cookie.value
    assert address not in content and agent not in content
    assert "_id" not in json.loads(content)
    device = client.get_cookie(auth.DEVICE_COOKIE, path="/staff/")
    assert device is not None and address not in device.value


def test_each_app_has_its_own_cookie_name(app: Flask, staff_app: Flask) -> None:
    public, staff = app.config["SESSION_COOKIE_NAME"], staff_app.config["SESSION_COOKIE_NAME"]
    assert public != staff and "session" not in (public, staff)
    visitor = app.test_client()
    visitor.get("/")
    assert visitor.get_cookie(public) is not None and visitor.get_cookie(staff) is None


def test_custodian_passphrases_are_slowed_and_logged(
    app: Flask, staff_app: Flask, migrated: Config
) -> None:
    svc = app.extensions["testimony"]
    keeper = ready_account(staff_app, "keeper@example.org", [])
    with svc.db.session() as s:
        cheap = migrated.with_overrides(custodian_kdf_passes=1, custodian_kdf_mib=8)
        custodians.add(s, worker_keyring(app), cheap, keeper.email, "correct horse battery")
    submit(app.test_client(), [(fx.tone_wav(1.0), "a.wav")], consent=ALL_CONSENT, name="N")
    with svc.db.session() as s:
        pseudonym = s.scalars(select(Testimony.pseudonym)).one()
    client = staff_client(staff_app)
    sign_in(client, keeper)
    token = csrf_token(client, "/staff/custodian/")

    def reveal(passphrase: str) -> tuple[int, str]:
        r = client.post(
            "/staff/custodian/reveal",
            data={
                "csrf_token": token,
                "pseudonym": pseudonym,
                "passphrase": passphrase,
                "reason": "checking the limit on wrong passphrases",
            },
        )
        return r.status_code, r.get_data(as_text=True)

    for _ in range(throttle.FREE_FAILURES + 1):
        assert reveal("a wrong passphrase")[0] == 400
    status, html = reveal("correct horse battery")
    assert status == 429 and "wait" in html and "N</" not in html
    with svc.db.session() as s:
        failed = s.scalars(
            select(Event).where(Event.action == Action.custodian_unlock_failed).order_by(Event.seq)
        ).all()
        assert [e.detail for e in failed] == [
            {"account": keeper.id, "failures": n} for n in range(1, throttle.FREE_FAILURES + 2)
        ]
        assert all(e.account_id == keeper.id and e.testimony_id is None for e in failed)
    _expire_waits(staff_app)
    assert reveal("correct horse battery")[0] == 200
    with svc.db.session() as s:
        assert s.scalars(select(SignInThrottle)).all() == []  # a success starts again


@pytest.mark.parametrize(
    "email",
    [
        "staff\u202e@example.org",  # right-to-left override
        "st\u200baff@example.org",  # zero-width space
        "staff\u200d@example.org",  # zero-width joiner
        "\u2066staff@example.org",  # left-to-right isolate
        "staff@exam\u00adple.org",  # soft hyphen
        "staff@example.org\u0000",
    ],
)
def test_look_alike_emails_are_refused(migrated: Config, email: str) -> None:
    with pytest.raises(accounts.AccountError) as caught:
        accounts.normalise_email(email)
    assert caught.value.reason == "bad_email"
    env = {
        "TESTIMONY_INSTANCE_PATH": str(migrated.instance_path),
        "TESTIMONY_DATABASE_URL": migrated.database_url,
        "TESTIMONY_BROKER_URL": migrated.broker_url,
    }
    r = CliRunner().invoke(main, ["user", "add", email, "--role", "reviewer"], env=env)
    assert r.exit_code != 0 and "bad_email" in r.output


def test_emails_are_compared_in_nfkc_form(staff_app: Flask) -> None:
    assert accounts.normalise_email("ＳＴＡＦＦ@ｅｘａｍｐｌｅ.org") == "staff@example.org"
    ready_account(staff_app, "staff@example.org", [])
    with staff_app.extensions["testimony"].db.session() as s:
        with pytest.raises(accounts.AccountError) as caught:
            accounts.create(s, "ｓｔａｆｆ@example.org", ["reviewer"])
        assert caught.value.reason == "exists"


def test_the_admin_page_refuses_a_look_alike_email(staff_app: Flask) -> None:
    admin = ready_account(staff_app, "admin@example.org", [])
    with staff_app.extensions["testimony"].db.session() as s:
        row = s.get(StaffAccount, admin.id)
        assert row is not None
        accounts.set_roles(s, row, ["admin"], "operator")
    client = staff_client(staff_app)
    sign_in(client, Staff(admin.email, admin.password, admin.secret, admin.id))
    token = csrf_token(client, "/staff/admin/accounts")
    r = client.post(
        "/staff/admin/accounts",
        data={"csrf_token": token, "email": "admin\u202e@example.org", "roles": ["reviewer"]},
    )
    assert r.status_code == 400 and "not an email address" in r.get_data(as_text=True)
    with staff_app.extensions["testimony"].db.session() as s:
        assert s.scalars(select(StaffAccount)).all() == [s.get(StaffAccount, admin.id)]


def test_the_delay_schedule_is_three_free_failures_then_doubling_to_a_quarter_hour() -> None:
    # Written out, not computed from the module's constants, so that a changed number shows.
    expected = [0, 0, 0, 0, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
    assert [throttle.delay_s(n) for n in range(15)] == expected
    assert throttle.delay_s(100) == 900


def test_a_bucket_waits_its_delay_and_forgets_after_a_quiet_day(staff_app: Flask) -> None:
    key = throttle.bucket(b"k" * 64, "email", "someone@example.org")
    other = throttle.bucket(b"k" * 64, "email", "other@example.org")
    now = utcnow()
    with staff_app.extensions["testimony"].db.session() as s:
        for n in range(1, 4):
            assert throttle.fail(s, key, now) == n
            assert throttle.wait_s(s, key, now) == 0  # the free failures
        assert throttle.fail(s, key, now) == 4
        # Two seconds from now: the wait rounds up, and ends exactly at the time it names.
        assert throttle.wait_s(s, key, now) == 3
        assert throttle.wait_s(s, key, now + timedelta(seconds=1.5)) == 1
        assert throttle.wait_s(s, key, now + timedelta(seconds=2)) == 0
        # Failures within the day keep counting, however far apart.
        later = now + timedelta(hours=23)
        assert throttle.fail(s, key, later) == 5
        assert throttle.wait_s(s, key, later) == 5
        # A bucket quiet for more than a day is dropped by the next failure anywhere.
        quiet = later + timedelta(days=1, seconds=1)
        assert throttle.fail(s, other, quiet) == 1
        assert throttle.failures(s, key) == 0
        assert throttle.fail(s, key, quiet) == 1
        throttle.clear(s, key)
        assert throttle.failures(s, key) == 0 and throttle.failures(s, other) == 1


def test_a_device_cookie_on_an_unknown_email_is_an_ordinary_wrong_attempt(
    staff_app: Flask,
) -> None:
    owner = ready_account(staff_app, "holder@example.org", [])
    browser = staff_client(staff_app)
    sign_in(browser, owner, step_offset=-1)
    _sign_out(browser)
    assert _post_password(browser, "nobody@example.org", WRONG)[0] == 401


def test_a_full_sign_in_clears_the_count_of_its_own_bucket(staff_app: Flask) -> None:
    owner = ready_account(staff_app, "clears@example.org", [])
    browser = staff_client(staff_app)
    sign_in(browser, owner, step_offset=-1)
    _sign_out(browser)
    for _ in range(throttle.FREE_FAILURES):
        assert _post_password(browser, owner.email, WRONG)[0] == 401
    sign_in(browser, owner, step_offset=0)  # password and code: the count starts again
    _sign_out(browser)
    assert _post_password(browser, owner.email, WRONG)[0] == 401
    assert _post_password(browser, owner.email, owner.password)[0] == 302
