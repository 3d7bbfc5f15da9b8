"""The custodian's page: open one record's identity, or release its name for export, after the
custodian's passphrase and a written reason. Custodians only.

The opened identity is rendered into this one response and nowhere else: it is not stored,
not logged, not put in the session, and the response is no-store. The reveal is committed
(with its event) before the page is rendered, so an identity is never shown unrecorded.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from intake import access, i18n
from intake.config import Config
from intake.models import Role
from intake.public import custodians, identity
from intake.services import request_session, services


def message(reason: str) -> str:
    """The custodian's sentence for a refused reveal or release."""
    return {
        "no_custodian_key": _(
            "Your account has no custodian key: it is made with `testimony custodian add`."
        ),
        "no_record": _("No record has this pseudonym."),
        "no_identity": _("The submitter of this record gave no name or contact."),
        "not_sealed_to_you": _(
            "This identity is not sealed to your key yet: ask the operator to run "
            "`testimony custodian reseal`."
        ),
        "wrong_passphrase": _("The passphrase is wrong."),
        "reason_short": _(
            "Write the reason in at least %(n)s characters.",
            n=i18n.digits(identity.MIN_REASON_CHARS),
        ),
        "reason_long": _("The reason is too long."),
        "no_consent": _(
            "The submitter did not consent to publication with their name: it cannot be released."
        ),
        "no_name": _("The submitter gave no name to release."),
    }.get(reason, _("This could not be done."))


def _wait_message(seconds: int) -> str:
    return _(
        "Too many wrong passphrases. Please wait %(seconds)s seconds and try again.",
        seconds=i18n.digits(seconds),
    )


def make_blueprint(config: Config, current_roles: access.RoleLookup) -> Blueprint:
    """The custodian blueprint."""
    bp = access.guard(
        Blueprint("staff_custodian", __name__), access.roles(Role.custodian), current_roles
    )

    def _form(error: str | None = None, status: int = 200, **shown: object) -> tuple[str, int]:
        page = render_template(
            "staff/custodian/index.html",
            error=error,
            pseudonym=request.form.get("pseudonym", ""),
            reason=request.form.get("reason", ""),
            **shown,
        )
        return page, status

    def _fields() -> tuple[str, str, str]:
        return (
            request.form.get("pseudonym", "").strip(),
            request.form.get("passphrase", ""),
            request.form.get("reason", ""),
        )

    @bp.get("/custodian/")
    def index() -> tuple[str, int]:
        return _form()

    def _refused(exc: identity.IdentityError) -> tuple[str, int]:
        db = request_session()
        db.rollback()
        if exc.reason == "wrong_passphrase":
            custodians.passphrase_failed(db, services().keyring, current_user.account.id)
            db.commit()
        return _form(message(exc.reason), 400)

    def _waiting() -> tuple[str, int] | None:
        wait = custodians.passphrase_wait_s(
            request_session(), services().keyring, current_user.account.id
        )
        return _form(_wait_message(wait), 429) if wait else None

    @bp.post("/custodian/reveal")
    def reveal() -> tuple[str, int]:
        db = request_session()
        pseudonym, passphrase, reason = _fields()
        waiting = _waiting()
        if waiting is not None:
            return waiting
        try:
            shown = identity.reveal(
                db, services().keyring, current_user.account.id, pseudonym, passphrase, reason
            )
        except identity.IdentityError as exc:
            return _refused(exc)
        custodians.passphrase_succeeded(db, services().keyring, current_user.account.id)
        db.commit()
        return render_template("staff/custodian/shown.html", shown=shown), 200

    @bp.post("/custodian/release")
    def release() -> tuple[str, int]:
        db = request_session()
        pseudonym, passphrase, reason = _fields()
        waiting = _waiting()
        if waiting is not None:
            return waiting
        try:
            identity.release_name(
                db, services().keyring, current_user.account.id, pseudonym, passphrase, reason
            )
        except identity.IdentityError as exc:
            return _refused(exc)
        custodians.passphrase_succeeded(db, services().keyring, current_user.account.id)
        db.commit()
        return _form(released=pseudonym)

    return bp
