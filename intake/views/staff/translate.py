"""Translation pages: the queue, source and target side by side, saving, drafts, approving.

HTTP only: each view reads a form and calls `intake.review.translation`. Every action is a plain
form that works without JavaScript. Records are named by their pseudonym only.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from intake import access
from intake.config import Config
from intake.models import RedactionCategory, Role, Testimony
from intake.records import messages, record_access
from intake.review import translation
from intake.services import request_session, services
from intake.views.staff import segment_pages


def translation_message(reason: str) -> str:
    """The translator's sentence for a refused action."""
    return {
        "empty": _("A translation cannot be empty. Nothing was saved."),
        "too_long": _("This text is too long for one segment. Nothing was saved."),
        "closed": _("This translation is no longer open for changes."),
        "no_consent": _("The submitter has not consented to translation."),
        "source_changed": _(
            "The transcript segment changed since you opened it (corrected, split or merged). "
            "Nothing was saved: read the segment again and translate it as it is now."
        ),
        "no_draft": _("There is no machine draft for this segment."),
        "untranslated": _("This segment has no translation to approve yet."),
        "stale": _("The translation changed since you opened it. Please read it again first."),
        "own_edit": _("You translated this segment last: another translator must approve it."),
        "not_found": _("This segment does not exist."),
        "unmarked": _(
            "The transcript marks words in this segment that its translation does not mark. "
            "Mark them in the translation first. Nothing was approved."
        ),
        "no_span": _("Choose the words to mark first. Nothing was marked."),
        "not_in_text": _(
            "Those words are not in the translation's saved text. Nothing was marked."
        ),
        "overlap": _("Those words are marked already."),
    }.get(reason, _("This could not be done."))


_number = segment_pages.form_number


def make_blueprint(config: Config, current_roles: access.RoleLookup) -> Blueprint:
    """The translation blueprint, for translators."""
    bp = access.guard(
        Blueprint("staff_translate", __name__), access.roles(Role.translator), current_roles
    )
    max_chars = config.review_max_segment_chars

    # The translation queue's own rule (state and translation consent) decides, and the first
    # open is an event.
    _testimony, _me = segment_pages.opened(Role.translator), segment_pages.me

    def _page(
        testimony: Testimony,
        message: str | None = None,
        error: str | None = None,
        status: int = 200,
        segment_id: int | None = None,
    ) -> tuple[str, int]:
        if segment_id is None:
            number = segment_pages.page_number()
        else:
            number = translation.page_of(request_session(), segment_id)
        bench = translation.workbench(request_session(), services().keyring, testimony, number)
        page = render_template(
            "staff/translate/workbench.html",
            testimony=testimony,
            bench=bench,
            me=_me(),
            open=testimony.state in translation.OPEN_STATES,
            message=message,
            error=error,
            max_chars=max_chars,
            categories=segment_pages.category_labels(),
        )
        return page, status

    def _back(pseudonym: str, segment_id: int, done: str) -> ResponseReturnValue:
        return redirect(
            url_for(
                "staff_translate.workbench",
                pseudonym=pseudonym,
                done=done,
                page=translation.page_of(request_session(), segment_id),
                _anchor=f"seg-{segment_id}",
            ),
            303,
        )

    @bp.get("/translate/")
    def queue() -> str:
        finished = (
            _("Translation approved: the record has left the translation queue.")
            if request.args.get("done") == "finished"
            else None
        )
        db = request_session()
        rows = translation.queue(db)
        return render_template(
            "staff/translate/queue.html",
            rows=rows,
            message=finished,
            asked=messages.summaries_by_pseudonym(db, [r.pseudonym for r in rows]),
        )

    @bp.get("/translate/<pseudonym>")
    def workbench(pseudonym: str) -> tuple[str, int]:
        done = {
            "saved": _("Translation saved."),
            "accepted": _("Machine draft accepted: another translator must approve it."),
            "approved": _("Translation approved."),
            "marked": _("Marked for redaction."),
            "unmarked": _("Redaction mark removed."),
        }
        return _page(_testimony(pseudonym), message=done.get(request.args.get("done", "")))

    def _refused(
        testimony: Testimony, exc: translation.TranslationError, segment_id: int
    ) -> tuple[str, int]:
        request_session().rollback()
        status = {"own_edit": 403, "stale": 409, "source_changed": 409}.get(exc.reason, 400)
        return _page(
            testimony,
            error=translation_message(exc.reason),
            status=status,
            segment_id=segment_id if exc.reason != "source_changed" else None,
        )

    def _conflict(testimony: Testimony, conflict: translation.Conflict) -> tuple[str, int]:
        request_session().rollback()
        page = render_template(
            "staff/translate/conflict.html", testimony=testimony, conflict=conflict
        )
        return page, 409

    @bp.post("/translate/<pseudonym>/segments/<int:segment_id>")
    def save(pseudonym: str, segment_id: int) -> ResponseReturnValue:
        testimony = _testimony(pseudonym)
        db = request_session()
        try:
            translation.save(
                db,
                services().keyring,
                testimony,
                segment_id,
                request.form.get("text", ""),
                _number("source_version"),
                _number("version"),
                _me(),
                max_chars,
            )
        except translation.Conflict as conflict:
            return _conflict(testimony, conflict)
        except translation.TranslationError as exc:
            return _refused(testimony, exc, segment_id)
        db.commit()
        return _back(pseudonym, segment_id, "saved")

    @bp.post("/translate/<pseudonym>/segments/<int:segment_id>/draft")
    def accept_draft(pseudonym: str, segment_id: int) -> ResponseReturnValue:
        testimony = _testimony(pseudonym)
        db = request_session()
        try:
            translation.accept_draft(
                db,
                services().keyring,
                testimony,
                segment_id,
                _number("source_version"),
                _number("version"),
                _me(),
                max_chars,
            )
        except translation.Conflict as conflict:
            return _conflict(testimony, conflict)
        except translation.TranslationError as exc:
            return _refused(testimony, exc, segment_id)
        db.commit()
        return _back(pseudonym, segment_id, "accepted")

    @bp.post("/translate/<pseudonym>/segments/<int:segment_id>/approve")
    def approve(pseudonym: str, segment_id: int) -> ResponseReturnValue:
        testimony = _testimony(pseudonym)
        db = request_session()
        try:
            translation.approve(
                db, testimony, segment_id, _number("version"), _me(), services().keyring
            )
        except translation.TranslationError as exc:
            return _refused(testimony, exc, segment_id)
        db.commit()
        if not record_access.may_open(Role.translator, testimony):
            # The last approval moved the record out of the translators' work.
            return redirect(url_for("staff_translate.queue", done="finished"), 303)
        return _back(pseudonym, segment_id, "approved")

    def _marks(
        pseudonym: str, segment_id: int, done: str, act: Callable[[Testimony], None]
    ) -> ResponseReturnValue:
        """Add or remove a mark of the translation as a plain form: commit and go back to the
        segment, or show the workbench with the reason and nothing written."""
        testimony = _testimony(pseudonym)
        try:
            act(testimony)
        except translation.TranslationError as exc:
            return _refused(testimony, exc, segment_id)
        request_session().commit()
        return _back(pseudonym, segment_id, done)

    @bp.post("/translate/<pseudonym>/segments/<int:segment_id>/marks")
    def mark(pseudonym: str, segment_id: int) -> ResponseReturnValue:
        # The record first: 404 outside the translator's work, whatever the form carries.
        _testimony(pseudonym)
        category = request.form.get("category", "")
        if category not in RedactionCategory.__members__:
            abort(400)
        chosen = segment_pages.selection(max_chars)

        def act(testimony: Testimony) -> None:
            db, keyring = request_session(), services().keyring
            version, actor = _number("version"), _me()
            translation.mark_words(
                db,
                keyring,
                testimony,
                segment_id,
                version,
                chosen,
                RedactionCategory(category),
                actor,
            )

        return _marks(pseudonym, segment_id, "marked", act)

    @bp.post("/translate/<pseudonym>/segments/<int:segment_id>/marks/<int:mark_id>/remove")
    def unmark(pseudonym: str, segment_id: int, mark_id: int) -> ResponseReturnValue:
        def act(testimony: Testimony) -> None:
            db, keyring = request_session(), services().keyring
            version, actor = _number("version"), _me()
            translation.unmark(db, keyring, testimony, segment_id, mark_id, version, actor)

        return _marks(pseudonym, segment_id, "unmarked", act)

    return bp
