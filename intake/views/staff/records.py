"""The record page: one record's history, files and copies, and a preview of what will leave.

HTTP only: `intake.review.record_overview` gathers what is shown, and the preview comes from the
export's own gathering, so what is played and read here is what the access bag would carry.
Open to the roles that work on a record's content (reviewers, translators, archivists); the
page names the record by its pseudonym and never shows the submitter's identity.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import (
    Blueprint,
    Response,
    abort,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response as WerkzeugResponse

from intake import access, i18n
from intake.config import Config
from intake.models import Role, Testimony
from intake.records import messages, record_access
from intake.review import questions, record_overview
from intake.services import request_session, services

AUDIO_BLOCK = 256 * 1024
#: The roles that may open a record's page: those whose work is the record's content.
RECORD_ROLES = (Role.reviewer, Role.translator, Role.archivist)


def question_message(reason: str) -> str:
    """The staff-facing sentence for a question that was not written."""
    texts = {
        "empty": _("Please write the question."),
        "too_long": _(
            "The question is longer than %(count)s characters.",
            count=i18n.digits(messages.MAX_CHARS),
        ),
        "withdrawn": _("This testimony was withdrawn: no question can reach its submitter."),
    }
    return texts.get(reason, _("The question could not be written."))


def make_blueprint(config: Config, current_roles: access.RoleLookup) -> Blueprint:
    """The record page's blueprint."""
    bp = access.guard(
        Blueprint("staff_records", __name__), access.roles(*RECORD_ROLES), current_roles
    )

    def _testimony(pseudonym: str) -> Testimony:
        # Open only where one of the account's roles works on the record now, by that role's
        # queue rule (state and consent, `intake.records.record_access`), as every content route;
        # 404
        # otherwise. The first open is an event, committed before anything is served.
        db = request_session()
        held = current_roles() or frozenset()
        for role in RECORD_ROLES:
            if role in held:
                found = record_access.open_for(db, current_user.account.id, role, pseudonym)
                if found is not None:
                    db.commit()
                    return found
        abort(404)

    def _page(
        testimony: Testimony, *, error: str | None = None, draft: str = "", status: int = 200
    ) -> Response:
        db = request_session()
        svc = services()
        # A question held for a record older than questions is sealed to its submitter as
        # soon as their status visit has stored a key (only this side can open the copy).
        questions.deliver_held(db, svc.keyring, testimony)
        shown = record_overview.overview(db, testimony)
        preview = (
            record_overview.preview(db, svc.keyring, svc.store, testimony)
            if testimony.wrapped_key is not None
            else None
        )
        page = render_template(
            "staff/records/record.html",
            o=shown,
            preview=preview,
            exchanges=questions.exchanges(db, svc.keyring, testimony),
            can_ask=messages.may_exchange(testimony),
            question_error=error,
            question_draft=draft,
            question_limit=messages.MAX_CHARS,
            sent=request.args.get("asked") == "1",
        )
        return make_response(page, status)

    @bp.get("/records/<pseudonym>")
    def record(pseudonym: str) -> Response:
        return _page(_testimony(pseudonym))

    @bp.post("/records/<pseudonym>/questions")
    def ask(pseudonym: str) -> Response | WerkzeugResponse:
        """Write a question to the record's submitter: it waits on their status page."""
        testimony = _testimony(pseudonym)
        text = request.form.get("question", "")
        try:
            questions.ask(
                request_session(), services().keyring, current_user.account.id, testimony, text
            )
        except messages.MessageRefused as exc:
            return _page(testimony, error=question_message(exc.reason), draft=text, status=400)
        return redirect(
            url_for("staff_records.record", pseudonym=pseudonym, asked="1", _anchor="questions"),
            code=303,
        )

    @bp.get("/records/<pseudonym>/preview-audio")
    def preview_audio(pseudonym: str) -> Response:
        """The access audio an export would carry, streamed (decrypted as it is read)."""
        testimony = _testimony(pseudonym)
        if testimony.wrapped_key is None:
            abort(404)
        svc = services()
        shown = record_overview.preview(request_session(), svc.keyring, svc.store, testimony)
        if shown.audio is None:
            abort(404)
        opener = shown.audio

        def chunks() -> Iterator[bytes]:
            with opener() as stream:
                while block := stream.read(AUDIO_BLOCK):
                    yield block

        return Response(chunks(), mimetype="audio/flac", direct_passthrough=True)

    return bp
