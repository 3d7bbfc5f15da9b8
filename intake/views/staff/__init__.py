"""The staff app's blueprints and what they share: sign-in sessions, idle timeout, no caching.

Registered only by `create_app(config, audience="staff")`; the public app imports nothing
from here. Every URL lives under /staff/.
"""

from __future__ import annotations

import time

from flask import Flask, Response, redirect, request, session, url_for
from flask_login import LoginManager, current_user, logout_user
from werkzeug.wrappers import Response as WerkzeugResponse

from intake.config import Config
from intake.models import Role
from intake.records import accounts
from intake.services import request_session
from intake.views.staff.user import StaffUser

PREFIX = "/staff"
SEEN_KEY = "seen"


def current_roles() -> frozenset[Role] | None:
    """The signed-in account's roles, or None for an anonymous visitor."""
    if not current_user.is_authenticated:
        return None
    return accounts.role_set(current_user.account)


def _no_identifier() -> str:
    """What Flask-Login would store as the session's identifier: nothing of the visitor's."""
    return ""


def init_app(app: Flask, config: Config) -> None:
    """Sessions through Flask-Login, the idle timeout, and every staff blueprint."""
    manager = LoginManager(app)
    manager.login_view = "staff_auth.sign_in"
    # Flask-Login's session protection hashes the address and user agent into the session
    # (and `login_user` stores that hash in the cookie even with protection off): no address
    # or browser name is ever used here. Sessions are ended on the server by token instead.
    manager.session_protection = None
    manager._session_identifier_generator = _no_identifier

    @manager.user_loader
    def _load(token: str) -> StaffUser | None:
        account = accounts.by_token(request_session(), token)
        if account is None or account.disabled or not account.totp_confirmed:
            return None
        return StaffUser(account)

    @app.before_request
    def _idle_timeout() -> WerkzeugResponse | None:
        if request.endpoint == "static" or not current_user.is_authenticated:
            return None
        now = time.time()
        seen = session.get(SEEN_KEY)
        if seen is not None and now - float(seen) > config.staff_idle_timeout_s:
            accounts.expire(request_session(), current_user.account)
            request_session().commit()
            logout_user()
            session.clear()
            return redirect(url_for("staff_auth.sign_in", expired=1))
        session[SEEN_KEY] = now
        return None

    @app.after_request
    def _no_store(response: Response) -> Response:
        # Staff pages show testimony text: no browser or proxy may keep a copy.
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        return response

    from intake.views.staff import (
        access_copies,
        admin,
        auth,
        custodian,
        entities,
        export,
        glossary,
        home,
        index,
        records,
        review,
        search,
        translate,
    )

    for make in (
        auth.make_blueprint,
        home.make_blueprint,
        review.make_blueprint,
        admin.make_blueprint,
        translate.make_blueprint,
        glossary.make_blueprint,
        custodian.make_blueprint,
        access_copies.make_blueprint,
        export.make_blueprint,
        records.make_blueprint,
        index.make_blueprint,
        entities.make_blueprint,
        search.make_blueprint,
    ):
        app.register_blueprint(make(config, current_roles), url_prefix=PREFIX)
    app.jinja_env.globals.update(
        site_base="staff/base.html", site_home="staff_home.index", Role=Role
    )
