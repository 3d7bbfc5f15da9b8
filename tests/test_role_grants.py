"""Separation of duties: an admin never reaches testimony content on its own.

An admin cannot give itself a role; where another admin exists, a role given waits for that
admin's confirmation (not the asker's, not the receiver's); every staff member sees the role
changes of the last 30 days on the start page; the one-time password of a new account is shown
once, kept only as a hash, and opens the first sign-in for 24 hours only.
"""

from __future__ import annotations

import re
from datetime import timedelta

from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from intake.cli import main
from intake.config import Config
from intake.events import Action
from intake.models import Event, GrantState, Role, RoleGrant, StaffAccount, utcnow
from intake.records import accounts
from tests.staff_support import (
    Staff,
    account,
    ready_account,
    sign_in,
    staff_client,
)
from tests.support import csrf_token

_ONCE = re.compile(r'id="one-time-password" dir="ltr">([^<]+)<')


def _admin(app: Flask, email: str) -> tuple[Staff, FlaskClient]:
    staff = ready_account(app, email, [Role.admin])
    client = staff_client(app)
    sign_in(client, staff)
    return staff, client


def _post(client: FlaskClient, url: str, **form: object) -> tuple[int, str]:
    token = csrf_token(client, "/staff/admin/accounts")
    response = client.post(url, data={"csrf_token": token, **form})
    return response.status_code, response.get_data(as_text=True)


def _roles(app: Flask, account_id: int) -> set[Role]:
    with app.extensions["testimony"].db.session() as s:
        found = s.get(StaffAccount, account_id)
        assert found is not None
        return {r.role for r in found.roles}


def _grants(app: Flask) -> list[tuple[int, Role, GrantState]]:
    with app.extensions["testimony"].db.session() as s:
        rows = s.scalars(select(RoleGrant).order_by(RoleGrant.id)).all()
        return [(g.account_id, g.role, g.state) for g in rows]


def test_an_admin_cannot_give_itself_a_role(staff_app: Flask) -> None:
    me, client = _admin(staff_app, "solo@example.org")
    assert client.get("/staff/review/").status_code == 403
    status, html = _post(
        client, f"/staff/admin/accounts/{me.id}/roles", roles=["admin", "reviewer"]
    )
    assert status == 403
    assert "cannot give roles to their own account" in html
    assert _roles(staff_app, me.id) == {Role.admin}
    assert client.get("/staff/review/").status_code == 403
    assert _grants(staff_app) == []


def test_a_single_admin_gives_roles_directly(staff_app: Flask) -> None:
    _, client = _admin(staff_app, "solo@example.org")
    other = ready_account(staff_app, "other@example.org", [])
    status, _ = _post(client, f"/staff/admin/accounts/{other.id}/roles", roles=["reviewer"])
    assert status == 303
    assert _roles(staff_app, other.id) == {Role.reviewer}
    assert _grants(staff_app) == []


def test_with_two_admins_a_grant_waits_for_the_other(staff_app: Flask) -> None:
    first, a = _admin(staff_app, "first@example.org")
    second, b = _admin(staff_app, "second@example.org")
    member = ready_account(staff_app, "member@example.org", [])
    status, _ = _post(a, f"/staff/admin/accounts/{member.id}/roles", roles=["reviewer"])
    assert status == 303
    assert _roles(staff_app, member.id) == set()
    assert _grants(staff_app) == [(member.id, Role.reviewer, GrantState.pending)]
    (grant_id,) = [g.id for g in _pending(staff_app)]
    # Neither the asker nor the receiver confirms.
    status, html = _post(a, f"/staff/admin/grants/{grant_id}/confirm")
    assert status == 403 and "Another administrator must confirm" in html
    assert _roles(staff_app, member.id) == set()
    assert f'id="confirm-grant-{grant_id}"' not in a.get("/staff/admin/accounts").get_data(
        as_text=True
    )
    assert f'id="confirm-grant-{grant_id}"' in b.get("/staff/admin/accounts").get_data(
        as_text=True
    )
    # Saving the member's roles again from the form (the waiting role is shown checked)
    # neither confirms nor drops the grant.
    form = b.get("/staff/admin/accounts").get_data(as_text=True)
    assert re.search(r'value="reviewer" checked> reviewer \(waiting\)', form)
    assert _post(b, f"/staff/admin/accounts/{member.id}/roles", roles=["reviewer"])[0] == 303
    assert _grants(staff_app) == [(member.id, Role.reviewer, GrantState.pending)]
    assert _roles(staff_app, member.id) == set()
    status, _ = _post(b, f"/staff/admin/grants/{grant_id}/confirm")
    assert status == 303
    assert _roles(staff_app, member.id) == {Role.reviewer}
    assert _grants(staff_app) == [(member.id, Role.reviewer, GrantState.confirmed)]
    with staff_app.extensions["testimony"].db.session() as s:
        kinds = [
            (e.action, e.account_id)
            for e in s.scalars(
                select(Event).where(
                    Event.action.in_([Action.role_grant_requested, Action.role_grant_confirmed])
                )
            )
        ]
    assert kinds == [
        (Action.role_grant_requested, first.id),
        (Action.role_grant_confirmed, second.id),
    ]
    # A confirmed grant cannot be confirmed again.
    assert _post(b, f"/staff/admin/grants/{grant_id}/confirm")[0] == 404


def test_an_admin_cannot_confirm_a_grant_made_to_itself(staff_app: Flask) -> None:
    _, a = _admin(staff_app, "first@example.org")
    second, b = _admin(staff_app, "second@example.org")
    _admin(staff_app, "third@example.org")
    status, _ = _post(a, f"/staff/admin/accounts/{second.id}/roles", roles=["admin", "reviewer"])
    assert status == 303
    (grant,) = _pending(staff_app)
    assert grant.account_id == second.id
    status, _ = _post(b, f"/staff/admin/grants/{grant.id}/confirm")
    assert status == 403
    assert _roles(staff_app, second.id) == {Role.admin}


def test_a_new_account_s_roles_wait_and_its_password_is_shown_once(staff_app: Flask) -> None:
    _, a = _admin(staff_app, "first@example.org")
    _, b = _admin(staff_app, "second@example.org")
    status, html = _post(
        a, "/staff/admin/accounts", email="new@example.org", roles=["reviewer", "translator"]
    )
    assert status == 201
    match = _ONCE.search(html)
    assert match
    once = match.group(1)
    assert 'id="roles-waiting"' in html and "24 hours" in html
    with staff_app.extensions["testimony"].db.session() as s:
        new = s.scalars(select(StaffAccount).where(StaffAccount.email == "new@example.org")).one()
        # Only a hash is kept, and it expires in a day.
        assert once not in new.password_hash
        assert new.one_time_expires_at is not None
        left = accounts.audit.as_utc(new.one_time_expires_at) - utcnow()
        assert timedelta(hours=23, minutes=59) < left <= timedelta(hours=24)
        assert not new.roles
        new_id = new.id
    assert once not in a.get("/staff/admin/accounts").get_data(as_text=True)
    assert [(g.role, g.state) for g in _pending(staff_app)] == [
        (Role.reviewer, GrantState.pending),
        (Role.translator, GrantState.pending),
    ]
    for grant in _pending(staff_app):
        assert _post(b, f"/staff/admin/grants/{grant.id}/confirm")[0] == 303
    assert _roles(staff_app, new_id) == {Role.reviewer, Role.translator}


def test_a_waiting_grant_can_be_withdrawn(staff_app: Flask) -> None:
    _, a = _admin(staff_app, "first@example.org")
    _admin(staff_app, "second@example.org")
    member = ready_account(staff_app, "member@example.org", [])
    _post(a, f"/staff/admin/accounts/{member.id}/roles", roles=["custodian"])
    (grant,) = _pending(staff_app)
    assert _post(a, f"/staff/admin/grants/{grant.id}/cancel")[0] == 303
    assert _grants(staff_app) == [(member.id, Role.custodian, GrantState.cancelled)]
    assert _roles(staff_app, member.id) == set()


def test_every_staff_member_sees_the_role_changes_of_30_days(staff_app: Flask) -> None:
    _, a = _admin(staff_app, "first@example.org")
    _, b = _admin(staff_app, "second@example.org")
    member = ready_account(staff_app, "member@example.org", [Role.translator])
    _post(a, f"/staff/admin/accounts/{member.id}/roles", roles=["translator", "reviewer"])
    (grant,) = _pending(staff_app)
    _post(b, f"/staff/admin/grants/{grant.id}/confirm")
    client = staff_client(staff_app)
    sign_in(client, member)
    html = client.get("/staff/").get_data(as_text=True)
    assert 'id="role-changes"' in html
    assert "role asked for, waiting for a second administrator" in html
    assert "role confirmed by a second administrator" in html
    assert html.count('class="role-change mine"') >= 3  # created, asked for, confirmed
    with staff_app.extensions["testimony"].db.session() as s:
        now = accounts.role_changes(s)
        later = accounts.role_changes(s, now=utcnow() + timedelta(days=31))
    assert {c.action for c in now} >= {Action.role_grant_requested, Action.role_grant_confirmed}
    assert later == []


def test_an_expired_one_time_password_opens_nothing(staff_app: Flask) -> None:
    svc = staff_app.extensions["testimony"]
    with svc.db.session() as s:
        new, once = accounts.create(s, "late@example.org", [Role.reviewer])
        new.one_time_expires_at = utcnow() - timedelta(minutes=1)
    client = staff_client(staff_app)
    token = csrf_token(client, "/staff/sign-in")
    r = client.post(
        "/staff/sign-in", data={"csrf_token": token, "email": "late@example.org", "password": once}
    )
    assert r.status_code == 302 and r.location.endswith("/staff/sign-in/password")
    token = csrf_token(client, "/staff/sign-in/password")
    r = client.post(
        "/staff/sign-in/password",
        data={
            "csrf_token": token,
            "current": once,
            "new_password": "a long enough sentence to remember",
            "repeat": "a long enough sentence to remember",
        },
    )
    assert r.status_code == 400
    assert "This one-time password has expired" in r.get_data(as_text=True)
    assert client.get("/staff/sign-in/setup").location.endswith("/staff/sign-in/password")
    row = account(staff_app, new.id)
    assert row.must_change_password and row.totp_sealed is None


def test_the_command_line_shows_the_password_once_with_its_expiry(config: Config) -> None:
    env = {
        "TESTIMONY_INSTANCE_PATH": str(config.instance_path),
        "TESTIMONY_DATABASE_URL": config.database_url,
        "TESTIMONY_BROKER_URL": config.broker_url,
    }
    runner = CliRunner()
    assert runner.invoke(main, ["init"], env=env).exit_code == 0
    r = runner.invoke(main, ["user", "add", "cli@example.org", "--role", "reviewer"], env=env)
    assert r.exit_code == 0, r.output
    match = re.search(r"one-time password: (\S{20})", r.output)
    assert match and "24 hours" in r.output
    listed = runner.invoke(main, ["user", "list"], env=env)
    assert match.group(1) not in listed.output


def _pending(app: Flask) -> list[RoleGrant]:
    with app.extensions["testimony"].db.session() as s:
        return accounts.pending_grants(s)
