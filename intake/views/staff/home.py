"""The staff start page: what the signed-in member's roles let them do, and who was given
which role in the last 30 days (seen by every staff member, not only the admins)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from intake import access
from intake.config import Config
from intake.records import accounts
from intake.services import request_session


def make_blueprint(config: Config, current_roles: access.RoleLookup) -> Blueprint:
    """The start page, open to any signed-in staff member."""
    bp = access.guard(Blueprint("staff_home", __name__), access.SIGNED_IN, current_roles)

    @bp.get("/")
    def index() -> str:
        return render_template(
            "staff/home.html",
            roles=current_roles() or frozenset(),
            changes=accounts.role_changes(request_session()),
            me=current_user.account.id,
        )

    return bp
