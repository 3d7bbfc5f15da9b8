"""Staff accounts: first sign-in (one-time password, TOTP set-up), limits on failures, sessions
that end on the server, the idle timeout, the admin page and the `testimony user` commands."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pyotp
from click.testing import CliRunner
from flask import Flask

from intake import accounts, sealing
from intake.cli import main
from intake.config import Config
from intake.models import Role, StaffAccount, utcnow
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
    for _ in range(accounts.FREE_FAILURES):
        assert client.post("/staff/sign-in", data=wrong).status_code == 401
    assert account(staff_app, staff.id).locked_until is None
    assert client.post("/staff/sign-in", data=wrong).status_code == 401
    right = {**wrong, "password": staff.password}
    r = client.post("/staff/sign-in", data=right)
    assert r.status_code == 429 and "wait" in r.get_data(as_text=True)
    # Each further failure doubles the wait.
    row = StaffAccount(failed_attempts=accounts.FREE_FAILURES)
    now = utcnow()
    waits = []
    for _ in range(4):
        accounts.fail(row, now)
        assert row.locked_until is not None
        waits.append((row.locked_until - now).total_seconds())
    assert waits == [2, 4, 8, 16]
    row.failed_attempts = 40
    accounts.fail(row, now)
    assert row.locked_until == now + timedelta(seconds=accounts.MAX_DELAY_S)


def test_a_code_is_accepted_once(staff_app: Flask) -> None:
    staff = ready_account(staff_app, "once@example.org", [Role.reviewer])
    key = staff_app.extensions["testimony"].keyring
    row = account(staff_app, staff.id)
    code = code_for(staff.secret)
    assert accounts.check_code(key, row, code)
    assert not accounts.check_code(key, row, code)


def test_sign_out_needs_a_post_with_csrf_and_ends_the_session_on_the_server(
    staff_app: Flask,
) -> None:
    staff = ready_account(staff_app, "out@example.org", [Role.reviewer])
    client = staff_client(staff_app)
    sign_in(client, staff)
    before = account(staff_app, staff.id).session_token
    assert client.post("/staff/sign-out").status_code == 400  # no CSRF token
    assert client.get("/staff/").status_code == 200
    cookie = client.get_cookie("session")
    assert cookie is not None
    token = csrf_token(client, "/staff/")
    assert client.post("/staff/sign-out", data={"csrf_token": token}).status_code == 302
    assert account(staff_app, staff.id).session_token != before
    # The old cookie, replayed, opens nothing: its token no longer names an account.
    replay = staff_client(staff_app)
    replay.set_cookie("session", cookie.value)
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
