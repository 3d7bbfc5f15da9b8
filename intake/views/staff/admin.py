"""Account administration: create accounts, set roles, confirm another admin's role grants,
disable, reset. Admins only.

The one-time password of a new or reset account is shown once, on the response page, never
stored in clear, and expires after a day. An admin never gives itself a role, and where there
is another admin, every role given waits for that admin's confirmation (`intake.records.accounts`).
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from intake import access
from intake.config import Config
from intake.models import Role, StaffAccount
from intake.records import accounts, retention
from intake.services import request_session, services
from intake.views.staff.auth import account_message


def make_blueprint(config: Config, current_roles: access.RoleLookup) -> Blueprint:
    """The admin blueprint."""
    bp = access.guard(Blueprint("staff_admin", __name__), access.roles(Role.admin), current_roles)

    def _list(
        error: str | None = None, status: int = 200, notice: str | None = None
    ) -> tuple[str, int]:
        db = request_session()
        rows = db.scalars(select(StaffAccount).order_by(StaffAccount.email)).all()
        grants = accounts.pending_grants(db)
        page = render_template(
            "staff/admin/accounts.html",
            accounts=rows,
            error=error,
            notice=notice,
            grants=grants,
            waiting={(g.account_id, g.role) for g in grants},
            emails={a.id: a.email for a in rows},
            me=current_user.account.id,
        )
        return page, status

    def _account(account_id: int) -> StaffAccount:
        account = request_session().get(StaffAccount, account_id)
        if account is None:
            abort(404)
        return account

    @bp.get("/admin/accounts")
    def accounts_page() -> tuple[str, int]:
        notice = (
            _("Saved. The roles given wait for another administrator's confirmation.")
            if request.args.get("waiting")
            else None
        )
        return _list(notice=notice)

    @bp.post("/admin/accounts")
    def create() -> tuple[str, int]:
        db = request_session()
        by = accounts.actor(current_user.account)
        try:
            account, password = accounts.create(
                db, request.form.get("email", ""), request.form.getlist("roles"), by=by
            )
        except accounts.AccountError as exc:
            db.rollback()
            return _list(account_message(exc.reason), 400)
        waiting = accounts.pending_roles(db, account.id)
        db.commit()
        page = render_template(
            "staff/admin/password.html",
            account=account,
            password=password,
            waiting=waiting,
            valid_hours=int(accounts.ONE_TIME_VALID.total_seconds() // 3600),
        )
        return page, 201

    @bp.post("/admin/accounts/<int:account_id>/roles")
    def roles(account_id: int) -> WerkzeugResponse | tuple[str, int]:
        db = request_session()
        account = _account(account_id)
        try:
            waiting = accounts.set_roles(
                db, account, request.form.getlist("roles"), accounts.actor(current_user.account)
            )
        except accounts.AccountError as exc:
            db.rollback()
            status = 403 if exc.reason == "own_roles" else 400
            return _list(account_message(exc.reason), status)
        db.commit()
        if waiting:
            return redirect(url_for("staff_admin.accounts_page", waiting=1), 303)
        return redirect(url_for("staff_admin.accounts_page"), 303)

    @bp.post("/admin/grants/<int:grant_id>/confirm")
    def confirm_grant(grant_id: int) -> WerkzeugResponse | tuple[str, int]:
        """Another admin's confirmation of a waiting role grant (never the asker's own)."""
        db = request_session()
        try:
            accounts.confirm_grant(db, grant_id, accounts.actor(current_user.account))
        except accounts.AccountError as exc:
            db.rollback()
            status = 403 if exc.reason == "own_grant" else 404
            return _list(account_message(exc.reason), status)
        db.commit()
        return redirect(url_for("staff_admin.accounts_page"), 303)

    @bp.post("/admin/grants/<int:grant_id>/cancel")
    def cancel_grant(grant_id: int) -> WerkzeugResponse | tuple[str, int]:
        """Withdraw a waiting role grant."""
        db = request_session()
        try:
            accounts.cancel_grant(db, grant_id, accounts.actor(current_user.account))
        except accounts.AccountError as exc:
            db.rollback()
            return _list(account_message(exc.reason), 404)
        db.commit()
        return redirect(url_for("staff_admin.accounts_page"), 303)

    @bp.post("/admin/accounts/<int:account_id>/disabled")
    def disabled(account_id: int) -> WerkzeugResponse:
        db = request_session()
        account = _account(account_id)
        accounts.set_disabled(
            db, account, request.form.get("disabled") == "1", accounts.actor(current_user.account)
        )
        db.commit()
        return redirect(url_for("staff_admin.accounts_page"), 303)

    @bp.post("/admin/accounts/<int:account_id>/reset")
    def reset(account_id: int) -> str:
        db = request_session()
        account = _account(account_id)
        password = accounts.reset(db, account, accounts.actor(current_user.account))
        db.commit()
        return render_template(
            "staff/admin/password.html",
            account=account,
            password=password,
            waiting=[],
            valid_hours=int(accounts.ONE_TIME_VALID.total_seconds() // 3600),
        )

    def _retention(error: str | None = None, status: int = 200) -> tuple[str, int]:
        rules = retention.current(request_session(), services().config)
        page = render_template(
            "staff/admin/retention.html", rules=rules, error=error, max_days=retention.MAX_DAYS
        )
        return page, status

    @bp.get("/admin/retention")
    def retention_page() -> tuple[str, int]:
        return _retention()

    @bp.post("/admin/retention")
    def retention_save() -> WerkzeugResponse | tuple[str, int]:
        db = request_session()
        try:
            retention.save(
                db,
                services().config,
                request.form.get("original_days"),
                request.form.get("drop_drafts") == "1",
                request.form.get("tombstone_days"),
                accounts.actor(current_user.account),
            )
        except retention.RetentionError:
            db.rollback()
            return _retention(
                _("Enter whole days, from 0 to %(most)d.", most=retention.MAX_DAYS), 400
            )
        db.commit()
        return redirect(url_for("staff_admin.retention_page", saved=1), 303)

    return bp
