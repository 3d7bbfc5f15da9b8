"""Staff accounts: first sign-in (one-time password, TOTP set-up), limits on failures, sessions
that end on the server, the idle timeout, the admin page and the `testimony user` commands."""

from __future__ import annotations

import re
import time

import pyotp
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake import sealing
from intake.cli import main
from intake.config import Config
from intake.events import Action, Group, staff_ref
from intake.models import Event, Role, StaffAccount
from intake.records import accounts, audit, throttle
from tests.staff_support import (
    PASSWORD,
    account,
    code_for,
    ready_account,
    secret_on_page,
    sign_in,
    staff_client,
)
from tests.support import csrf_token

MARKED_ADDRESS = "127.0.0.73"
MARKED_AGENT = "MarkedBrowser/7.3 (canary-agent)"
SIGN_INS = {Action.signed_in, Action.sign_in_failed, Action.signed_out, Action.session_expired}


def _sign_in_events(s: Session, account_id: int) -> list[Event]:
    """The account's sign-in events, oldest first."""
    rows = s.scalars(
        select(Event).where(Event.account_id == account_id).order_by(Event.seq)
    ).all()
    return [e for e in rows if e.action in SIGN_INS]


def test_first_sign_in_changes_the_password_and_sets_up_totp(staff_app: Flask) -> None:
    svc = staff_app.extensions["testimony"]
    with svc.db.session() as s:
        created, once = accounts.create(s, "New@Example.org", [Role.reviewer, Role.translator])
        account_id = created.id
    client = staff_client(staff_app)
    to_sign_in = client.get("/staff/review/").location
    assert to_sign_in.startswith("/staff/sign-in?next=")
    token = csrf_token(client, to_sign_in)  # the sign-in page remembers where to go next
    r = client.post(
        "/staff/sign-in", data={"csrf_token": token, "email": "new@example.org", "password": once}
    )
    assert r.location.endswith("/staff/sign-in/password")
    # Nothing is open before the second factor.
    assert client.get("/staff/").location.startswith("/staff/sign-in?next=")
    token = csrf_token(client, "/staff/sign-in/password")
    short = {"csrf_token": token, "current": once, "new_password": "short", "repeat": "short"}
    assert client.post("/staff/sign-in/password", data=short).status_code == 400
    good = {"csrf_token": token, "current": once, "new_password": PASSWORD, "repeat": PASSWORD}
    assert client.post("/staff/sign-in/password", data=good).location.endswith("/sign-in/setup")
    page = client.get("/staff/sign-in/setup").get_data(as_text=True)
    assert "<svg" in page and "data:" not in page  # drawn here, inline
    secret = secret_on_page(page)
    stored = account(staff_app, account_id)
    assert stored.totp_sealed is not None and secret.encode() not in stored.totp_sealed
    assert sealing.open_totp_secret(svc.keyring, account_id, stored.totp_sealed) == (
        secret
    )
    token = csrf_token(client, "/staff/sign-in/setup")
    wrong = str((int(pyotp.TOTP(secret).now()) + 1) % 1_000_000).zfill(6)
    assert (
        client.post("/staff/sign-in/setup", data={"csrf_token": token, "code": wrong}).status_code
        == 400
    )
    r = client.post(
        "/staff/sign-in/setup", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()}
    )
    assert r.status_code == 302 and r.location == "/staff/review/"
    assert client.get("/staff/review/").status_code == 200
    assert account(staff_app, account_id).totp_confirmed


def test_failures_bring_growing_delays_per_account(staff_app: Flask) -> None:
    staff = ready_account(staff_app, "slow@example.org", [Role.reviewer])
    client = staff_client(staff_app)
    token = csrf_token(client, "/staff/sign-in")
    wrong = {"csrf_token": token, "email": staff.email, "password": "not the password"}
    for _ in range(throttle.FREE_FAILURES):
        assert client.post("/staff/sign-in", data=wrong).status_code == 401
    assert client.post("/staff/sign-in", data=wrong).status_code == 401
    right = {**wrong, "password": staff.password}
    r = client.post("/staff/sign-in", data=right)
    assert r.status_code == 429 and "wait" in r.get_data(as_text=True)
    # Each further failure doubles the wait.
    waits = [throttle.delay_s(throttle.FREE_FAILURES + n) for n in range(1, 5)]
    assert waits == [2, 4, 8, 16]
    assert throttle.delay_s(40) == throttle.MAX_DELAY_S
    assert [throttle.delay_s(n) for n in range(throttle.FREE_FAILURES + 1)] == [0] * 4


def test_a_code_is_accepted_once(staff_app: Flask) -> None:
    staff = ready_account(staff_app, "once@example.org", [Role.reviewer])
    key = staff_app.extensions["testimony"].keyring
    code = code_for(staff.secret)
    with staff_app.extensions["testimony"].db.session() as s:
        row = s.get(StaffAccount, staff.id)
        assert row is not None
        assert accounts.check_code(s, key, row, code)
        assert not accounts.check_code(s, key, row, code)
        replayed = _sign_in_events(s, staff.id)[-1]
    assert replayed.action is Action.sign_in_failed
    assert replayed.detail == {
        "account": staff.id,
        "step": "code",
        "outcome": "replayed",
        "failures": 1,
        "device": False,
    }


def test_sign_out_needs_a_post_with_csrf_and_ends_the_session_on_the_server(
    staff_app: Flask,
) -> None:
    staff = ready_account(staff_app, "out@example.org", [Role.reviewer])
    client = staff_client(staff_app)
    sign_in(client, staff)
    before = account(staff_app, staff.id).session_token
    assert client.post("/staff/sign-out").status_code == 400  # no CSRF token
    assert client.get("/staff/").status_code == 200
    cookie = client.get_cookie(staff_app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    token = csrf_token(client, "/staff/")
    assert client.post("/staff/sign-out", data={"csrf_token": token}).status_code == 302
    assert account(staff_app, staff.id).session_token != before
    # The old cookie, replayed, opens nothing: its token no longer names an account.
    replay = staff_client(staff_app)
    replay.set_cookie(cookie.key, cookie.value, path=cookie.path)
    assert replay.get("/staff/").location.startswith("/staff/sign-in?next=")


def test_idle_session_must_sign_in_again(staff_app: Flask) -> None:
    staff = ready_account(staff_app, "idle@example.org", [Role.reviewer])
    client = staff_client(staff_app)
    sign_in(client, staff)
    timeout = staff_app.extensions["testimony"].config.staff_idle_timeout_s
    with client.session_transaction() as session:
        session["seen"] = time.time() - timeout - 1
    r = client.get("/staff/review/")
    assert r.status_code == 302 and "expired=1" in r.location
    assert client.get("/staff/").location.startswith("/staff/sign-in?next=")


def test_admin_page_creates_accounts_and_sets_roles(staff_app: Flask) -> None:
    admin = ready_account(staff_app, "admin@example.org", [Role.admin])
    client = staff_client(staff_app)
    sign_in(client, admin)
    token = csrf_token(client, "/staff/admin/accounts")
    bad = {"csrf_token": token, "email": "<b>x</b>@example.org", "roles": ["reviewer"]}
    r = client.post("/staff/admin/accounts", data=bad)
    assert r.status_code == 400 and "<b>x</b>@" not in r.get_data(as_text=True)
    r = client.post(
        "/staff/admin/accounts",
        data={"csrf_token": token, "email": "vol@example.org", "roles": ["reviewer"]},
    )
    assert r.status_code == 201
    once = re.search(r'id="one-time-password" dir="ltr">([^<]+)<', r.get_data(as_text=True))
    assert once
    with staff_app.extensions["testimony"].db.session() as s:
        created = accounts.find(s, "vol@example.org")
        assert created is not None and accounts.role_set(created) == {Role.reviewer}
        created_id = created.id
    client.post(
        f"/staff/admin/accounts/{created_id}/roles",
        data={"csrf_token": token, "roles": ["translator", "archivist"]},
    )
    client.post(
        f"/staff/admin/accounts/{created_id}/disabled", data={"csrf_token": token, "disabled": "1"}
    )
    with staff_app.extensions["testimony"].db.session() as s:
        row = s.get(StaffAccount, created_id)
        assert row is not None and row.disabled
        assert {r.role for r in row.roles} == {Role.translator, Role.archivist}
        assert accounts.role_set(row) == frozenset()


def test_user_commands_add_list_and_disable(migrated: Config) -> None:
    env = {
        "TESTIMONY_INSTANCE_PATH": str(migrated.instance_path),
        "TESTIMONY_DATABASE_URL": migrated.database_url,
        "TESTIMONY_BROKER_URL": migrated.broker_url,
    }
    runner = CliRunner()
    assert runner.invoke(main, ["init"], env=env).exit_code == 0
    r = runner.invoke(
        main, ["user", "add", "cli@example.org", "--role", "reviewer", "--role", "admin"], env=env
    )
    assert r.exit_code == 0, r.output
    assert re.search(r"one-time password: \S{20}", r.output)
    again = runner.invoke(main, ["user", "add", "cli@example.org", "--role", "reviewer"], env=env)
    assert again.exit_code != 0 and "exists" in again.output
    listed = runner.invoke(main, ["user", "list"], env=env)
    assert "cli@example.org\tadmin,reviewer\tactive, second factor not set up" in listed.output
    assert runner.invoke(main, ["user", "disable", "cli@example.org"], env=env).exit_code == 0
    assert "disabled" in runner.invoke(main, ["user", "list"], env=env).output
    routes = runner.invoke(main, ["routes"], env=env)
    assert routes.exit_code == 0, routes.output
    assert re.search(r"/staff/review/\s+GET\s+staff_review.queue\s+reviewer", routes.output)
    assert "NO RULE" not in routes.output


def test_sign_ins_failures_sign_outs_and_expiry_are_in_the_log_without_an_address(
    staff_app: Flask,
) -> None:
    staff = ready_account(staff_app, "logged@example.org", [Role.reviewer])
    client = staff_client(staff_app)
    # Every request comes from a recognisable address and browser, neither of which may reach
    # the log.
    client.environ_base.update(REMOTE_ADDR=MARKED_ADDRESS, HTTP_USER_AGENT=MARKED_AGENT)
    token = csrf_token(client, "/staff/sign-in")
    form = {"csrf_token": token, "email": staff.email, "password": "not the password"}
    assert client.post("/staff/sign-in", data=form).status_code == 401
    # An email no account has: nobody to name, nothing logged.
    unknown = {**form, "email": "nobody@example.org"}
    assert client.post("/staff/sign-in", data=unknown).status_code == 401
    r = client.post("/staff/sign-in", data={**form, "password": staff.password})
    assert r.location.endswith("/staff/sign-in/code")
    token = csrf_token(client, "/staff/sign-in/code")
    wrong = str((int(code_for(staff.secret)) + 1) % 1_000_000).zfill(6)
    assert (
        client.post("/staff/sign-in/code", data={"csrf_token": token, "code": wrong}).status_code
        == 400
    )
    r = client.post(
        "/staff/sign-in/code", data={"csrf_token": token, "code": code_for(staff.secret)}
    )
    assert r.status_code == 302 and "/sign-in" not in r.location
    token = csrf_token(client, "/staff/")
    assert client.post("/staff/sign-out", data={"csrf_token": token}).status_code == 302
    sign_in(client, staff, step_offset=1)  # the next step's code: the last one is spent
    before = account(staff_app, staff.id).session_token
    timeout = staff_app.extensions["testimony"].config.staff_idle_timeout_s
    with client.session_transaction() as session:
        session["seen"] = time.time() - timeout - 1
    assert "expired=1" in client.get("/staff/").location
    # The expiry ended the session on the server too, as a sign-out does.
    assert account(staff_app, staff.id).session_token != before

    with staff_app.extensions["testimony"].db.session() as s:
        events = _sign_in_events(s, staff.id)
        assert [(e.action, (e.detail or {}).get("step")) for e in events] == [
            (Action.sign_in_failed, "password"),
            (Action.sign_in_failed, "code"),
            (Action.signed_in, None),
            (Action.signed_out, None),
            (Action.signed_in, None),
            (Action.session_expired, None),
        ]
        assert all(e.action.group is Group.accounts for e in events)
        assert all(e.actor == "staff" and e.account_id == staff.id for e in events)
        assert events[0].detail == {
            "account": staff.id,
            "step": "password",
            "outcome": "wrong",
            "failures": 1,
            "device": False,
        }
        # The count runs across both steps until a full sign-in clears it.
        assert events[1].detail == {
            "account": staff.id,
            "step": "code",
            "outcome": "wrong",
            "failures": 2,
            "device": False,
        }
        # The unknown email wrote nothing at all.
        every = s.scalars(select(Event).order_by(Event.seq)).all()
        assert [e for e in every if e.account_id is None and e.action in SIGN_INS] == []
        for event in every:
            written = repr(
                (event.actor, event.account_id, event.action, event.detail, event.testimony_id)
            )
            assert MARKED_ADDRESS not in written and "MarkedBrowser" not in written
            assert "logged@example.org" not in written
        assert audit.verify(s).ok
    # Nor anywhere else the app writes: the database file and the instance folder.
    instance = staff_app.extensions["testimony"].config.instance_path
    for path in instance.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert MARKED_ADDRESS.encode() not in data and b"MarkedBrowser" not in data, path


def test_right_password_of_a_disabled_account_is_a_logged_failure(staff_app: Flask) -> None:
    staff = ready_account(staff_app, "gone@example.org", [Role.reviewer])
    with staff_app.extensions["testimony"].db.session() as s:
        row = s.get(StaffAccount, staff.id)
        assert row is not None
        accounts.set_disabled(s, row, True, staff_ref(staff.id))
    client = staff_client(staff_app)
    token = csrf_token(client, "/staff/sign-in")
    r = client.post(
        "/staff/sign-in",
        data={"csrf_token": token, "email": staff.email, "password": staff.password},
    )
    assert r.status_code == 403
    with staff_app.extensions["testimony"].db.session() as s:
        (event,) = _sign_in_events(s, staff.id)
        assert event.action is Action.sign_in_failed
        assert event.detail == {
            "account": staff.id,
            "step": "password",
            "outcome": "disabled",
            "failures": 0,
            "device": False,
        }


def test_a_session_signed_with_the_public_apps_key_opens_no_staff_page(
    app: Flask, staff_app: Flask
) -> None:
    # A seized public host holds the public app's session key and (with the database) could
    # read a staff member's session token: the staff app must not accept what it signs.
    staff = ready_account(staff_app, "forged@example.org", [Role.reviewer])
    client = staff_client(staff_app)
    sign_in(client, staff)
    assert client.get("/staff/").status_code == 200
    cookie = client.get_cookie(staff_app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    staff_signer = staff_app.session_interface.get_signing_serializer(staff_app)  # type: ignore[attr-defined]
    public_signer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    content = staff_signer.loads(cookie.value)
    forged = public_signer.dumps(content)
    intruder = staff_client(staff_app)
    intruder.set_cookie(cookie.key, forged, domain=cookie.domain, path=cookie.path)
    response = intruder.get("/staff/")
    assert response.status_code == 302 and "/staff/sign-in" in response.headers["Location"]
