"""Sign-in (password, then a one-time code), first-time password change and TOTP set-up,
sign-out, and the language switch. Open to anyone: this is how one becomes signed in."""

from __future__ import annotations

import secrets
import time

from flask import (
    Blueprint,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response as WerkzeugResponse

from intake import access, i18n, security
from intake.config import Config
from intake.models import StaffAccount
from intake.records import accounts, throttle
from intake.services import request_session, services
from intake.views.staff.user import StaffUser

PENDING = "pending_account"
PENDING_AT = "pending_at"
NEXT = "next"
PENDING_BUCKET = "pending_bucket"
# OWASP's device cookie: earned by a full sign-in, bound to the account, it gives this browser
# its own throttle bucket for that account (`accounts.sign_in_bucket`).
DEVICE_COOKIE = "testimony_staff_device"
DEVICE_MAX_AGE_S = 365 * 24 * 3600
_DEVICE_SALT = "staff-device-cookie"
# Between the password and the code: long enough to open an authenticator app.
PENDING_S = 600

Page = str | tuple[str, int] | WerkzeugResponse


def account_message(reason: str) -> str:
    """The staff member's sentence for an account refusal."""
    return {
        "wrong_password": _("The current password is wrong."),
        "short_password": _(
            "The new password is too short: use at least %(n)s characters.",
            n=i18n.digits(accounts.MIN_PASSWORD_LENGTH),
        ),
        "long_password": _("The new password is too long."),
        "same_password": _("The new password must differ from the one-time password."),
        "bad_email": _("This is not an email address."),
        "exists": _("An account with this email exists already."),
        "bad_role": _("Unknown role."),
        "own_roles": _("An administrator cannot give roles to their own account."),
        "own_grant": _(
            "Another administrator must confirm this: not the one who asked, nor its receiver."
        ),
        "no_grant": _("This role grant is no longer waiting."),
        "expired": _(
            "This one-time password has expired. Ask an administrator for a new one."
        ),
    }.get(reason, _("This could not be done."))


def _safe_next(target: str | None) -> str:
    # Only our own staff pages: never an open redirect to another host (one judge, both apps).
    return security.local_path(target, "/staff/") or url_for("staff_home.index")


def _devices() -> URLSafeTimedSerializer:
    key = current_app.secret_key
    assert key is not None  # the staff app always has its session key
    return URLSafeTimedSerializer(key, salt=_DEVICE_SALT)


def device_cookie() -> tuple[int, str] | None:
    """The account id and nonce of this browser's device cookie, when it holds a valid one."""
    value = request.cookies.get(DEVICE_COOKIE)
    if not value:
        return None
    try:
        account_id, nonce = _devices().loads(value, max_age=DEVICE_MAX_AGE_S)
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(account_id, int) or not isinstance(nonce, str):
        return None
    return account_id, nonce


def _give_device_cookie(response: WerkzeugResponse, account: StaffAccount, secure: bool) -> None:
    held = device_cookie()
    nonce = held[1] if held is not None and held[0] == account.id else secrets.token_urlsafe(16)
    response.set_cookie(
        DEVICE_COOKIE,
        _devices().dumps([account.id, nonce]),
        max_age=DEVICE_MAX_AGE_S,
        path="/staff/",
        httponly=True,
        samesite="Strict",
        secure=secure,
    )


def _pending_bucket() -> bytes | None:
    value = session.get(PENDING_BUCKET)
    return bytes.fromhex(value) if isinstance(value, str) and value else None


def _pending() -> StaffAccount | None:
    account_id, at = session.get(PENDING), session.get(PENDING_AT)
    if account_id is None or at is None or time.time() - float(at) > PENDING_S:
        return None
    account = request_session().get(StaffAccount, int(account_id))
    if account is None or account.disabled:
        return None
    return account


def _next_step(account: StaffAccount) -> WerkzeugResponse:
    if account.must_change_password:
        return redirect(url_for("staff_auth.password"))
    if not account.totp_confirmed:
        return redirect(url_for("staff_auth.setup"))
    return redirect(url_for("staff_auth.code"))


def make_blueprint(config: Config, current_roles: access.RoleLookup) -> Blueprint:
    """The sign-in blueprint."""
    bp = access.guard(Blueprint("staff_auth", __name__), access.ANYONE)

    @bp.route("/sign-in", methods=["GET", "POST"])
    def sign_in() -> Page:
        if request.method == "GET":
            if current_user.is_authenticated:
                return redirect(url_for("staff_home.index"))
            target = request.args.get("next")
            session[NEXT] = _safe_next(target)
            notice = (
                _("You were signed out after a time without activity.")
                if request.args.get("expired")
                else None
            )
            return render_template("staff/auth/sign_in.html", error=None, notice=notice)
        db = request_session()
        attempt = accounts.check_password(
            db,
            accounts.throttle_secret(services().keyring),
            request.form.get("email", ""),
            request.form.get("password", ""),
            device=device_cookie(),
        )
        db.commit()
        if attempt.outcome is accounts.SignIn.wait:
            error = _(
                "Too many failed attempts. Please wait %(seconds)s seconds and try again.",
                seconds=i18n.digits(attempt.wait_s),
            )
            return render_template("staff/auth/sign_in.html", error=error, notice=None), 429
        if attempt.outcome is accounts.SignIn.disabled:
            error = _("This account is disabled. Ask an administrator.")
            return render_template("staff/auth/sign_in.html", error=error, notice=None), 403
        if attempt.account is None:
            error = _("The email or the password is wrong.")
            return render_template("staff/auth/sign_in.html", error=error, notice=None), 401
        target = session.get(NEXT)
        session.clear()  # nothing of the anonymous session carries over
        session[PENDING], session[PENDING_AT] = attempt.account.id, time.time()
        session[PENDING_BUCKET] = attempt.bucket.hex()
        session[NEXT] = target
        return _next_step(attempt.account)

    @bp.route("/sign-in/password", methods=["GET", "POST"])
    def password() -> Page:
        account = _pending()
        if account is None:
            return redirect(url_for("staff_auth.sign_in"))
        if not account.must_change_password:
            return _next_step(account)
        error = None
        if request.method == "POST":
            new = request.form.get("new_password", "")
            if new != request.form.get("repeat", ""):
                error = _("The two new passwords differ.")
            else:
                try:
                    accounts.change_password(account, request.form.get("current", ""), new)
                except accounts.AccountError as exc:
                    error = account_message(exc.reason)
                else:
                    request_session().commit()
                    return _next_step(account)
        page = render_template("staff/auth/password.html", error=error)
        return (page, 400) if error else page

    @bp.route("/sign-in/setup", methods=["GET", "POST"])
    def setup() -> Page:
        account = _pending()
        if account is None:
            return redirect(url_for("staff_auth.sign_in"))
        if account.must_change_password or account.totp_confirmed:
            return _next_step(account)
        db = request_session()
        secret = accounts.totp_secret(services().keyring, account)
        db.commit()
        error = None
        if request.method == "POST":
            if _check_code(account):
                return _signed_in(account)
            error = _("This code is not right. Check the clock of your device and try again.")
        page = render_template(
            "staff/auth/setup.html",
            secret=secret,
            qr=accounts.provisioning_qr(secret, account.email),
            error=error,
        )
        return (page, 400) if error else page

    @bp.route("/sign-in/code", methods=["GET", "POST"])
    def code() -> Page:
        account = _pending()
        if account is None:
            return redirect(url_for("staff_auth.sign_in"))
        if account.must_change_password or not account.totp_confirmed:
            return _next_step(account)
        error = None
        if request.method == "POST":
            bucket = _pending_bucket()
            if bucket is not None and throttle.wait_s(request_session(), bucket):
                error = _("Too many failed attempts. Please wait and try again.")
            elif _check_code(account):
                return _signed_in(account)
            else:
                error = _("This code is not right. Check the clock of your device and try again.")
        page = render_template("staff/auth/code.html", error=error)
        return (page, 400) if error else page

    def _check_code(account: StaffAccount) -> bool:
        ok = accounts.check_code(
            request_session(),
            services().keyring,
            account,
            request.form.get("code", ""),
            bucket=_pending_bucket(),
        )
        request_session().commit()
        return ok

    def _signed_in(account: StaffAccount) -> WerkzeugResponse:
        # A new session token: older sessions of this account end.
        accounts.succeed(request_session(), account, _pending_bucket())
        request_session().commit()
        target = _safe_next(session.get(NEXT))
        session.clear()
        login_user(StaffUser(account))
        session.pop("_id", None)  # Flask-Login's visitor hash: see views/staff/__init__.py
        session["seen"] = time.time()
        response = redirect(target)
        _give_device_cookie(response, account, config.secure_cookies)
        return response

    @bp.post("/sign-out")
    def sign_out() -> WerkzeugResponse:
        if current_user.is_authenticated:
            accounts.sign_out(request_session(), current_user.account)
            request_session().commit()
        logout_user()
        session.clear()
        return redirect(url_for("staff_auth.sign_in"))

    @bp.get("/language/<code>")
    def language(code: str) -> WerkzeugResponse:
        target = _safe_next(request.args.get("next"))
        response = make_response(redirect(target))
        if code in i18n.LOCALES:
            response.set_cookie(
                i18n.COOKIE,
                code,
                max_age=365 * 24 * 3600,
                httponly=True,
                samesite="Strict",
                secure=config.secure_cookies,
            )
        return response

    return bp
