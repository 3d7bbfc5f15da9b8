"""Public pages: the intake form, the receipt, the receipt page, the language switch.

HTTP only: each view reads a form, calls a function of `intake.public.submissions`, and renders.
Nothing here logs, stores or echoes anything about the visitor's connection.
"""

from __future__ import annotations

import contextlib
import logging

from flask import (
    Blueprint,
    Response,
    abort,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import force_locale
from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage
from werkzeug.http import http_date
from werkzeug.wrappers import Response as WerkzeugResponse

from intake import access, i18n, security
from intake.config import Config
from intake.models import Language, Testimony, TestimonyState
from intake.public import (
    consent,
    form_tokens,
    proof_of_work,
    questions,
    receipts,
    resumable,
    submissions,
    uploads,
)
from intake.public.forms import (
    AddAudioForm,
    AnswerAudioForm,
    AnswerForm,
    NarrowConsentForm,
    ReceiptForm,
    SubmissionForm,
    WithdrawForm,
)
from intake.public.gate import Gate
from intake.public.spool import Spool
from intake.records import messages, stages
from intake.services import request_session, services

# The session's hold on a receipt code not yet confirmed (see intake.public.form_tokens).
RECEIPT_KEY = "receipt"

log = logging.getLogger(__name__)


def rejection_message(reason: str, index: int | None = None) -> str:
    """The visitor-facing sentence for a refusal, in the visitor's language."""
    messages = {
        "empty": _("The file is empty."),
        "not_audio": _("This file is not a recording we can read. Please send an audio file."),
        "too_long": _("The recording is longer than this archive accepts."),
        "damaged": _("The file seems damaged or incomplete. Please send it again."),
        "bad_sample_rate": _("The file's audio format is not supported."),
        "no_channels": _("The file contains no audio channels."),
        "store_full": _(
            "The archive cannot take new recordings at the moment, and nothing was saved. "
            "Please keep your recording and try again later."
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
        "unfinished_upload": _(
            "A file did not finish uploading and was not kept. Please choose it and send it again."
        ),
    }
    text = messages.get(reason, _("The submission could not be accepted."))
    if index is not None:
        return _("File %(number)s: %(message)s", number=i18n.digits(index), message=text)
    return text


def _uploads(files: list[FileStorage]) -> list[submissions.Upload]:
    # A file input left empty still sends a part with no name and no bytes: that is "no file".
    # A part with a name but no bytes is an empty file, which is refused as such.
    return [
        submissions.Upload(
            f.stream,  # type: ignore[arg-type]
            f.filename or "",
            sha256=uploads.sent_sha256(f.stream),
        )
        for f in files
        if f.filename
    ]


def form_page(
    form: SubmissionForm, token: str, errors: list[str], kept: int, status: int = 200
) -> Response:
    """The intake form with its one-time token, every error of this round, how many files
    the form already keeps (so the visitor knows not to send them again), and, when the proof
    of work is on, a fresh challenge for this form that the page's script solves."""
    svc = services()
    bits = svc.config.proof_of_work_bits
    challenge = None
    if bits > 0:
        challenge = proof_of_work.issue(
            proof_of_work.key_for(svc.keyring.session_key),
            form_tokens.digest(token),
            bits,
            svc.config.proof_of_work_ttl_s,
        )
    page = render_template(
        "public/submit.html",
        form=form,
        form_token=token,
        proof_challenge=challenge,
        proof_bits=bits,
        errors=errors,
        kept=kept,
        # The language switch of this page posts the form itself, so that what was typed
        # and the files it keeps come along (base.html).
        language_form="submission",
    )
    return make_response(page, status)


def _keep_upload(
    spool: Spool, upload: submissions.Upload, index: int, config: Config
) -> str | None:
    """Check one file and keep it for the form; the visitor's message if it is refused.

    A file already kept (the page was reloaded, or the file chosen again) is not kept twice.
    """
    fingerprint = spool.fingerprint(upload)
    if spool.holds(fingerprint):
        return None
    if spool.count() >= config.max_files_per_submission:
        return rejection_message("too_many_files", index)
    try:
        item = submissions.check_file(
            upload, index, config, services().store, spool.total_duration_s()
        )
    except submissions.SubmissionRejected as exc:
        return rejection_message(exc.reason, exc.index)
    try:
        if spool.total_duration_s() + item.info.duration_s > config.max_duration_s:
            return rejection_message("too_long", index)
        spool.keep(item, fingerprint)
    finally:
        item.access.close()
    return None


def _to_receipt(claim: form_tokens.Claim) -> WerkzeugResponse:
    """Send the browser to the receipt page (303: reloading it never sends the form again)."""
    session[RECEIPT_KEY] = form_tokens.session_value(claim)
    return redirect(url_for("public.sent"), code=303)


def _receipt_page(code: str, error: str | None = None, status: int = 200) -> Response:
    page = render_template(
        "public/submitted.html",
        code=receipts.grouped(code),
        code_fa=i18n.digits(receipts.grouped(code), "fa"),
        error=error,
    )
    return make_response(page, status)


def narrowing_message(reason: str) -> str:
    """The visitor-facing sentence for a change of consent that was not made."""
    messages = {
        "nothing": _("Nothing was changed: tick a use to withdraw, or give a later date."),
        "embargo_earlier": _(
            "The embargo can only be moved later from this page, never earlier or removed."
        ),
        "not_narrowable": _("This use can only be stopped by withdrawing the whole testimony."),
        "withdrawn": _("This testimony was withdrawn."),
    }
    return messages.get(reason, _("Your consent could not be changed."))


def _status_page(
    testimony: Testimony,
    code: str,
    *,
    message: str | None = None,
    error: str | None = None,
    status: int = 200,
    consent_form: NarrowConsentForm | None = None,
    answer_form: AnswerForm | None = None,
) -> Response:
    # The testimony may have changed in this request (audio added, consent narrowed): read it
    # again, so that the page never shows counts from before.
    request_session().expire(testimony)
    if testimony.state == TestimonyState.withdrawn:
        return make_response(render_template("public/withdrawn.html", testimony=testimony), status)
    add_form = AddAudioForm(formdata=None, code=code)
    withdraw_form = WithdrawForm(formdata=None, code=code)
    given = testimony.consent
    # The archive's questions, opened with the key the typed code derives (and its public
    # half stored on a record older than questions); the key lives for this request only.
    db_session = request_session()
    private = questions.ensure_key(db_session, testimony, code, services().keyring.receipt_pepper)
    asked = questions.for_submitter(db_session, testimony, private)
    del private
    return make_response(
        render_template(
            "public/status.html",
            testimony=testimony,
            add_form=add_form,
            withdraw_form=withdraw_form,
            consent_form=consent_form or NarrowConsentForm(formdata=None, code=code),
            consent=given,
            uses=consent.USES,
            narrowable=consent.NARROWABLE,
            stages=stages.path(testimony.state, bool(given and given.translate)),
            can_add=testimony.state in submissions.ADD_AUDIO_STATES,
            total_duration=sum(f.duration_s for f in testimony.audio_files),
            message=message,
            error=error,
            States=TestimonyState,
            questions=asked,
            # A refused answer comes back as typed, beside its question: nothing is lost.
            answer_form=answer_form,
            answer_audio_form=AnswerAudioForm(formdata=None, code=code),
            answer_limit=messages.MAX_CHARS,
        ),
        status,
    )


def answer_message(reason: str) -> str:
    """The visitor-facing sentence for an answer that was not kept."""
    texts = {
        "empty": _("Please write your answer, or add a recording."),
        "too_long": _(
            "Your answer is longer than %(count)s characters. Please shorten it, or add a "
            "recording.",
            count=i18n.digits(messages.MAX_CHARS),
        ),
        "answered": _("This question was already answered. Thank you."),
        "no_question": _("This question cannot be answered here."),
        "withdrawn": _("This testimony was withdrawn."),
    }
    return texts.get(reason, _("Your answer could not be kept."))


def _question_id(text: str | None) -> int | None:
    """The question a form answers, or None (a form without one, or not a number)."""
    return int(text) if text and text.isascii() and text.isdigit() else None


def _too_many() -> Response:
    return make_response(render_template("public/too_many.html"), 429)


def _find(
    form: ReceiptForm, misses: receipts.RecentMisses
) -> tuple[Testimony | None, str, Response | None]:
    """Look up a testimony by the form's code; wrong codes are counted and limited server-side
    (`receipts.lookup`), and a correct code is never refused."""
    svc = services()
    cfg = svc.config
    gate = Gate(cfg.lock_path, "receipt", cfg.receipt_lookups_at_once, cfg.receipt_lookup_wait_s)
    found = receipts.lookup(
        request_session(),
        form.code.data or "",
        svc.keyring.receipt_pepper,
        gate=gate,
        misses=misses,
        failures_per_hour=cfg.receipt_failures_global_per_hour,
    )
    if found.outcome is receipts.Outcome.found:
        return found.testimony, found.code, None
    if found.outcome is receipts.Outcome.limited:
        return None, "", _too_many()
    messages = {
        receipts.Outcome.wrong_length: _(
            "A receipt code has 16 digits. Please check that none is missing or extra."
        ),
        receipts.Outcome.mistyped: _(
            "This is not a valid receipt code: a digit is probably mistyped. "
            "Please compare it digit by digit with the code you wrote down."
        ),
        receipts.Outcome.unknown: _(
            "No testimony matches this code. Please check it and try again."
        ),
        receipts.Outcome.order: _(
            "Please type the four groups of your code from left to right, as they are "
            "printed on the receipt card."
        ),
    }
    form.code.errors = [messages[found.outcome]]
    page = render_template("public/receipt_form.html", form=form)
    return None, "", make_response(page, 400)


def _submit_form(
    form: SubmissionForm,
    token: str,
    claim: form_tokens.Claim,
    spool: Spool,
    switching_language: bool = False,
) -> WerkzeugResponse:
    """The intake form's POST, under the form's lock. When the visitor only switched the
    page's language, the files are kept and the form comes back as typed, unjudged."""
    svc = services()
    cfg = svc.config
    db_session = request_session()
    if form_tokens.was_sent(db_session, token):
        return _to_receipt(claim)
    errors: list[str] = []
    if spool.expired():
        spool.discard()
        errors.append(
            _(
                "The files you sent earlier with this form were removed after %(hours)s hours. "
                "Please add them again.",
                hours=i18n.digits(round(cfg.form_keep_s / 3600, 1)),
            )
        )
    uploads = _uploads(request.files.getlist(form.audio.name))
    for index, upload in enumerate(uploads, start=1):
        refused = _keep_upload(spool, upload, index, cfg)
        if refused:
            errors.append(refused)
    # Files sent ahead by resumable upload are kept already; the form names them.
    named = resumable.read_names(request.form.get("uploads"))
    if resumable.unfinished(cfg, token, named):
        errors.append(rejection_message("unfinished_upload"))
    if switching_language:
        return form_page(form, token, errors, spool.count())
    form.validate()
    errors += [e for field_errors in form.errors.values() for e in field_errors]
    kept = spool.count()
    for reason in submissions.problems(form.choices(), kept, cfg):
        if reason != "no_audio" or not uploads:
            errors.append(rejection_message(reason))
    if errors:
        return form_page(form, token, errors, kept, 400)
    sub = submissions.Submission(
        language=Language(form.language.data),
        choices=form.choices(),
        locale=i18n.current(),
        name=(form.name.data or "").strip(),
        contact=(form.contact.data or "").strip(),
        removal_notes=(form.removal_notes.data or "").strip(),
        uploads=[],
        form=claim,
        proof=proof_of_work.Answer(
            request.form.get("proof_challenge", ""), request.form.get("proof_nonce", "")
        ),
    )
    try:
        with spool.opened() as kept_files:
            sub.kept = kept_files
            submissions.accept(db_session, svc.store, svc.keyring, cfg, sub)
    except form_tokens.AlreadySent:
        return _to_receipt(claim)
    except submissions.SubmissionRejected as exc:
        return form_page(form, token, [rejection_message(exc.reason, exc.index)], kept, 400)
    # Committed: from here on the visitor gets the receipt whatever fails. Kept files left
    # behind go with the sweep; the jobs were published after the commit, or go out with the
    # next sweep (`intake.records.queues.publish_after_commit`).
    with contextlib.suppress(OSError):
        spool.discard()
    return _to_receipt(claim)


# The header that carries the form's one-time token with every resumable upload request: it
# names the form's spool and derives its key, so an upload's address alone opens nothing.
FORM_TOKEN_HEADER = "Form-Token"  # noqa: S105 - a header name


def _tus_response(status: int, headers: dict[str, str], text: str = "") -> Response:
    response = make_response(text, status)
    response.headers["Tus-Resumable"] = resumable.VERSION
    response.headers.update(headers)
    if text:
        response.mimetype = "text/plain"
    return response


def _tus_error(
    exc: resumable.UploadError, status: int | None = None, headers: dict[str, str] | None = None
) -> Response:
    """A refused tus request: its status, and the visitor's message as plain text."""
    return _tus_response(status or exc.status, headers or {}, rejection_message(exc.reason))


def _tus_token() -> tuple[str, Response | None]:
    """The form token of a tus request, or the response refusing it (400 without a token,
    412 for another protocol version)."""
    token = form_tokens.read(request.headers.get(FORM_TOKEN_HEADER))
    if token is None:
        return "", _tus_error(resumable.UploadError("form token"))
    if request.headers.get("Tus-Resumable") != resumable.VERSION:
        return "", _tus_error(
            resumable.UploadError("version"), 412, {"Tus-Version": resumable.VERSION}
        )
    if form_tokens.was_sent(request_session(), token):
        # The form already created its testimony: nothing more goes into it.
        return "", _tus_error(resumable.UploadError("cannot_add"), 403)
    return token, None


def _tus_status(found: resumable.Status) -> dict[str, str]:
    return {
        "Upload-Offset": str(found.offset),
        "Upload-Length": str(found.length),
        "Upload-Expires": http_date(found.expires_at),
        "Cache-Control": "no-store",
    }


def make_blueprint(config: Config) -> Blueprint:
    """The public blueprint."""
    bp = access.guard(Blueprint("public", __name__), access.ANYONE)
    # Per process: codes with valid check digits that matched nothing a moment ago.
    misses = receipts.RecentMisses()

    @bp.get("/")
    def index() -> Response:
        return form_page(SubmissionForm(), form_tokens.new_token(), [], 0)

    @bp.post("/submit")
    def submit() -> WerkzeugResponse:
        """Keep every file that arrives, report every error at once, and create the
        testimony once per form token, whatever is sent again."""
        # A form without a token (an old page) gets one now: its files are kept all the same.
        token = form_tokens.read(request.form.get("form_token")) or form_tokens.new_token()
        claim = form_tokens.Claim.for_token(token)
        db_session = request_session()
        if form_tokens.was_sent(db_session, token):
            return _to_receipt(claim)
        db_session.rollback()  # end this read, so the check under the lock sees fresh rows
        spool = Spool(services().config, token)
        switch = request.form.get("switch_language")
        if switch not in i18n.LOCALES:
            with spool.locked():
                return _submit_form(SubmissionForm(), token, claim, spool)
        with spool.locked(), force_locale(switch):
            response = _submit_form(SubmissionForm(), token, claim, spool, True)
        i18n.remember(response, switch, config.secure_cookies)
        return response

    @bp.route("/uploads", methods=["OPTIONS"])
    def tus_options() -> Response:
        """What the resumable upload endpoint supports (tus 1.0)."""
        return _tus_response(
            204,
            {
                "Tus-Version": resumable.VERSION,
                "Tus-Extension": resumable.EXTENSIONS,
                "Tus-Max-Size": str(config.max_upload_bytes),
                "Tus-Checksum-Algorithm": resumable.CHECKSUM_ALGORITHMS,
            },
        )

    @bp.post("/uploads")
    def tus_create() -> Response:
        """Start a resumable upload for the form whose token the request carries."""
        token, refused = _tus_token()
        if refused is not None:
            return refused
        length = request.headers.get("Upload-Length", "")
        if not length.isdigit():
            return _tus_error(resumable.UploadError("Upload-Length"))
        try:
            resumable.parse_metadata(request.headers.get("Upload-Metadata"))
            upload_id = resumable.create(config, token, int(length))
        except resumable.UploadError as exc:
            return _tus_error(exc)
        where = url_for("public.tus_upload", upload_id=upload_id)
        return _tus_response(201, {"Location": where})

    @bp.route("/uploads/<upload_id>", methods=["HEAD"])
    def tus_upload(upload_id: str) -> Response:
        """Where an upload stands: the client resumes from Upload-Offset."""
        token, refused = _tus_token()
        if refused is not None:
            return refused
        try:
            found = resumable.status(config, token, upload_id)
        except resumable.UploadError as exc:
            return _tus_error(exc)
        return _tus_response(200, _tus_status(found))

    @bp.route("/uploads/<upload_id>", methods=["PATCH"])
    def tus_append(upload_id: str) -> Response:
        """Append the body at Upload-Offset; the last byte finishes (checks, keeps) the file."""
        token, refused = _tus_token()
        if refused is not None:
            return refused
        if request.mimetype != "application/offset+octet-stream":
            return _tus_error(resumable.UploadError("content type"), 415)
        offset = request.headers.get("Upload-Offset", "")
        if not offset.isdigit():
            return _tus_error(resumable.UploadError("Upload-Offset"))
        try:
            checksum = resumable.parse_checksum(request.headers.get("Upload-Checksum"))
            found = resumable.append(
                config,
                token,
                upload_id,
                int(offset),
                request.stream,
                checksum,
            )
        except resumable.OffsetMismatch as exc:
            return _tus_error(exc, headers={"Upload-Offset": str(exc.offset)})
        except resumable.UploadError as exc:
            return _tus_error(exc)
        return _tus_response(204, _tus_status(found))

    @bp.route("/uploads/<upload_id>", methods=["DELETE"])
    def tus_terminate(upload_id: str) -> Response:
        """Remove an upload under way and its bytes (tus termination)."""
        token, refused = _tus_token()
        if refused is not None:
            return refused
        try:
            resumable.terminate(config, token, upload_id)
        except resumable.UploadError as exc:
            return _tus_error(exc)
        return _tus_response(204, {})

    @bp.get("/sent")
    def sent() -> Response:
        """The receipt code, until the submitter confirms writing it down; then never again."""
        code = form_tokens.shown_code(request_session(), session.get(RECEIPT_KEY))
        if code is None:
            session.pop(RECEIPT_KEY, None)
            return make_response(render_template("public/sent.html"))
        return _receipt_page(code)

    @bp.post("/sent")
    def confirm_sent() -> WerkzeugResponse:
        value = session.get(RECEIPT_KEY)
        if not request.form.get("written"):
            code = form_tokens.shown_code(request_session(), value)
            if code is not None:
                return _receipt_page(code, _("Please tick the box to confirm."), 400)
        else:
            form_tokens.forget_code(request_session(), value)
            session.pop(RECEIPT_KEY, None)
        return redirect(url_for("public.sent"), code=303)

    @bp.get("/receipt")
    def receipt_form() -> str:
        return render_template("public/receipt_form.html", form=ReceiptForm())

    @bp.post("/receipt")
    def receipt() -> Response:
        form = ReceiptForm()
        if not form.validate():
            return make_response(render_template("public/receipt_form.html", form=form), 400)
        testimony, code, failed = _find(form, misses)
        if failed is not None:
            return failed
        assert testimony is not None
        return _status_page(testimony, code)

    @bp.post("/receipt/add")
    def add_audio() -> Response:
        """Add recordings; with a question id, they are that question's answer (the same
        path: the sandbox, the consent check, transcription only where consent allows)."""
        form = AnswerAudioForm()
        uploads = _uploads(request.files.getlist(form.audio.name))
        if not form.validate():
            return make_response(render_template("public/receipt_form.html", form=form), 400)
        testimony, code, failed = _find(form, misses)
        if failed is not None:
            return failed
        assert testimony is not None
        svc = services()
        db_session = request_session()
        answering = _question_id(form.question.data)
        if form.question.data and answering is None:
            return _status_page(testimony, code, error=answer_message("no_question"), status=400)
        if answering is not None:
            try:
                questions.answerable(db_session, testimony, answering)
            except messages.MessageRefused as exc:
                return _status_page(testimony, code, error=answer_message(exc.reason), status=400)
        try:
            added = submissions.add_audio(
                db_session, svc.store, svc.keyring, svc.config, testimony, uploads
            )
        except submissions.SubmissionRejected as exc:
            return _status_page(
                testimony, code, error=rejection_message(exc.reason, exc.index), status=400
            )
        if answering is not None:
            try:
                questions.answer_with_audio(db_session, testimony, answering, [f.id for f in added])
            except messages.MessageRefused as exc:
                return _status_page(testimony, code, error=answer_message(exc.reason), status=400)
            return _status_page(
                testimony, code, message=_("Your recorded answer was added. Thank you.")
            )
        return _status_page(testimony, code, message=_("Your audio was added. Thank you."))

    @bp.post("/receipt/answer")
    def answer() -> Response:
        """A written answer to one question, sealed to the archive."""
        form = AnswerForm()
        if not form.code.data:
            return make_response(render_template("public/receipt_form.html", form=form), 400)
        testimony, code, failed = _find(form, misses)
        if failed is not None:
            return failed
        assert testimony is not None
        answering = _question_id(form.question.data)
        if not form.validate() or answering is None:
            return _status_page(testimony, code, error=answer_message("no_question"), status=400)
        svc = services()
        try:
            questions.answer_with_text(
                request_session(), svc.keyring, testimony, answering, form.answer.data or ""
            )
        except messages.MessageRefused as exc:
            return _status_page(
                testimony, code, error=answer_message(exc.reason), status=400, answer_form=form
            )
        return _status_page(testimony, code, message=_("Your answer was sent. Thank you."))

    @bp.post("/receipt/withdraw")
    def withdraw() -> Response:
        form = WithdrawForm()
        if not form.code.data:
            return make_response(render_template("public/receipt_form.html", form=form), 400)
        testimony, code, failed = _find(form, misses)
        if failed is not None:
            return failed
        assert testimony is not None
        if not form.validate():
            return _status_page(
                testimony, code, error=_("Please tick the box to confirm."), status=400
            )
        svc = services()
        submissions.withdraw(request_session(), svc.store, testimony, svc.config.export_path)
        return make_response(render_template("public/withdrawn.html", testimony=testimony))

    @bp.post("/receipt/consent")
    def narrow_consent() -> Response:
        form = NarrowConsentForm()
        if not form.code.data:
            return make_response(render_template("public/receipt_form.html", form=form), 400)
        testimony, code, failed = _find(form, misses)
        if failed is not None:
            return failed
        assert testimony is not None
        if not form.validate():
            errors = form.embargo_until.errors or [_("Your consent could not be changed.")]
            return _status_page(
                testimony, code, error=str(errors[0]), status=400, consent_form=form
            )
        try:
            consent.narrow(request_session(), testimony, form.withdrawn(), form.embargo_until.data)
        except consent.NarrowingRefused as exc:
            request_session().rollback()
            return _status_page(
                testimony, code, error=narrowing_message(exc.reason), status=400, consent_form=form
            )
        return _status_page(
            testimony, code, message=_("Your consent was narrowed. The earlier version is kept.")
        )

    @bp.get("/language/<code>")
    def language(code: str) -> WerkzeugResponse:
        if code not in i18n.LOCALES:
            abort(404)
        # Only paths of this site: never an open redirect (one judge for both apps).
        response = redirect(security.local_path(request.args.get("next")) or "/")
        i18n.remember(response, code, config.secure_cookies)
        return response

    return bp
