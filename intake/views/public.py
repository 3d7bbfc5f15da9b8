"""Public pages: the intake form, the receipt, the receipt page, the language switch.

HTTP only: each view reads a form, calls a function of `intake.submissions`, and renders.
Nothing here logs, stores or echoes anything about the visitor's connection.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    make_response,
    redirect,
    render_template,
    request,
    session,
)
from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response as WerkzeugResponse

from intake import access, i18n, jobs, receipts, submissions
from intake.config import Config
from intake.forms import AddAudioForm, ReceiptForm, SubmissionForm, WithdrawForm
from intake.models import Language, Testimony, TestimonyState
from intake.services import request_session, services

FAILURES_KEY = "receipt_failures"


def rejection_message(reason: str, index: int | None = None) -> str:
    """The visitor-facing sentence for a refusal, in the visitor's language."""
    messages = {
        "empty": _("The file is empty."),
        "not_audio": _("This file is not a recording we can read. Please send an audio file."),
        "too_long": _("The recording is longer than this archive accepts."),
        "damaged": _("The file seems damaged or incomplete. Please send it again."),
        "bad_sample_rate": _("The file's audio format is not supported."),
        "no_channels": _("The file contains no audio channels."),
        "bad_filename": _(
            "The file name contains characters that are not allowed. "
            "Please rename the file and try again."
        ),
        "no_consent": _("Please tick at least one use of your recording that you agree to."),
        "translate_needs_transcribe": _(
            "A translation needs a transcript: please also agree to transcription, "
            "or untick translation."
        ),
        "no_audio": _("Please choose at least one audio file, or record one."),
        "too_many_files": _("Too many files in one submission."),
        "cannot_add": _("Audio can no longer be added to this testimony."),
        "too_large": _("The upload is larger than this archive accepts."),
    }
    text = messages.get(reason, _("The submission could not be accepted."))
    if index is not None:
        return _("File %(number)s: %(message)s", number=i18n.digits(index), message=text)
    return text


def _uploads(files: list[FileStorage]) -> list[submissions.Upload]:
    # A file input left empty still sends a part with no name and no bytes: that is "no file".
    # A part with a name but no bytes is an empty file, which is refused as such.
    return [
        submissions.Upload(f.stream, f.filename or "")  # type: ignore[arg-type]
        for f in files
        if f.filename
    ]


def _status_page(
    testimony: Testimony,
    code: str,
    *,
    message: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    add_form = AddAudioForm(formdata=None, code=code)
    withdraw_form = WithdrawForm(formdata=None, code=code)
    return make_response(
        render_template(
            "public/status.html",
            testimony=testimony,
            add_form=add_form,
            withdraw_form=withdraw_form,
            can_add=testimony.state in submissions.ADD_AUDIO_STATES,
            total_duration=sum(f.duration_s for f in testimony.audio_files),
            message=message,
            error=error,
            States=TestimonyState,
        ),
        status,
    )


def _too_many() -> Response:
    return make_response(render_template("public/too_many.html"), 429)


def _find(form: ReceiptForm) -> tuple[Testimony | None, str, Response | None]:
    """Look up a testimony by the form's code, counting and limiting wrong codes."""
    svc = services()
    cfg = svc.config
    db_session = request_session()
    if session.get(FAILURES_KEY, 0) >= cfg.receipt_failures_per_session or (
        receipts.global_limit_reached(db_session, cfg.receipt_failures_global_per_hour)
    ):
        return None, "", _too_many()
    try:
        code = receipts.normalise(form.code.data or "")
        testimony = receipts.find(db_session, code, svc.keyring.receipt_pepper)
    except receipts.InvalidCode:
        code, testimony = "", None
    if testimony is None:
        receipts.record_failure(db_session)
        db_session.commit()
        session[FAILURES_KEY] = session.get(FAILURES_KEY, 0) + 1
        form.code.errors = [_("No testimony matches this code. Please check it and try again.")]
        page = render_template("public/receipt_form.html", form=form)
        return None, "", make_response(page, 400)
    return testimony, code, None


def make_blueprint(config: Config) -> Blueprint:
    """The public blueprint."""
    bp = access.guard(Blueprint("public", __name__), access.ANYONE)

    @bp.get("/")
    def index() -> str:
        return render_template("public/submit.html", form=SubmissionForm(), error=None)

    @bp.post("/submit")
    def submit() -> Response:
        form = SubmissionForm()
        uploads = _uploads(request.files.getlist(form.audio.name))
        if not form.validate():
            page = render_template("public/submit.html", form=form, error=None)
            return make_response(page, 400)
        svc = services()
        sub = submissions.Submission(
            language=Language(form.language.data),
            choices=form.choices(),
            locale=i18n.current(),
            name=(form.name.data or "").strip(),
            contact=(form.contact.data or "").strip(),
            removal_notes=(form.removal_notes.data or "").strip(),
            uploads=uploads,
        )
        try:
            receipt = submissions.accept(request_session(), svc.store, svc.keyring, svc.config, sub)
        except submissions.SubmissionRejected as exc:
            error = rejection_message(exc.reason, exc.index)
            page = render_template("public/submit.html", form=form, error=error)
            return make_response(page, 400)
        jobs.publish_pending(svc.db, svc.publish)
        return make_response(
            render_template(
                "public/submitted.html",
                code=receipts.grouped(receipt.code),
                pseudonym=receipt.pseudonym,
            )
        )

    @bp.get("/receipt")
    def receipt_form() -> str:
        return render_template("public/receipt_form.html", form=ReceiptForm())

    @bp.post("/receipt")
    def receipt() -> Response:
        form = ReceiptForm()
        if not form.validate():
            return make_response(render_template("public/receipt_form.html", form=form), 400)
        testimony, code, failed = _find(form)
        if failed is not None:
            return failed
        assert testimony is not None
        return _status_page(testimony, code)

    @bp.post("/receipt/add")
    def add_audio() -> Response:
        form = AddAudioForm()
        uploads = _uploads(request.files.getlist(form.audio.name))
        if not form.validate():
            return make_response(render_template("public/receipt_form.html", form=form), 400)
        testimony, code, failed = _find(form)
        if failed is not None:
            return failed
        assert testimony is not None
        svc = services()
        try:
            submissions.add_audio(
                request_session(), svc.store, svc.keyring, svc.config, testimony, uploads
            )
        except submissions.SubmissionRejected as exc:
            return _status_page(
                testimony, code, error=rejection_message(exc.reason, exc.index), status=400
            )
        jobs.publish_pending(svc.db, svc.publish)
        return _status_page(testimony, code, message=_("Your audio was added. Thank you."))

    @bp.post("/receipt/withdraw")
    def withdraw() -> Response:
        form = WithdrawForm()
        if not form.code.data:
            return make_response(render_template("public/receipt_form.html", form=form), 400)
        testimony, code, failed = _find(form)
        if failed is not None:
            return failed
        assert testimony is not None
        if not form.validate():
            return _status_page(
                testimony, code, error=_("Please tick the box to confirm."), status=400
            )
        svc = services()
        submissions.withdraw(request_session(), svc.store, testimony)
        return make_response(render_template("public/withdrawn.html", testimony=testimony))

    @bp.get("/language/<code>")
    def language(code: str) -> WerkzeugResponse:
        if code not in i18n.LOCALES:
            abort(404)
        target = request.args.get("next", "/")
        # Only paths of this site: never an open redirect.
        if not target.startswith("/") or target.startswith("//") or "\\" in target:
            target = "/"
        response = redirect(target)
        response.set_cookie(
            i18n.COOKIE,
            code,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="Lax",
            secure=config.secure_cookies,
        )
        return response

    return bp
