"""The staff start page: what the signed-in member's roles let them do."""

from __future__ import annotations

from flask import Blueprint, render_template

from intake import access
from intake.config import Config


def make_blueprint(config: Config, current_roles: access.RoleLookup) -> Blueprint:
    """The start page, open to any signed-in staff member."""
    bp = access.guard(Blueprint("staff_home", __name__), access.SIGNED_IN, current_roles)

    @bp.get("/")
    def index() -> str:
        return render_template("staff/home.html", roles=current_roles() or frozenset())

    return bp
