"""Review pages: the queues, the segment editor, the audio it plays, saving and approving.

HTTP only: each view reads a form and calls `intake.review.review`. Every action is a plain form;
static/review.js only makes the same requests without a reload. Records are named by their
pseudonym; no name, contact or file name of the submitter is shown.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from intake import access
from intake.config import Config
from intake.models import RedactionCategory, ReviewState, Role, Testimony, TestimonyState
from intake.records import messages, record_access
from intake.review import alignment, review, segmentation, timeline
from intake.services import request_session, services
from intake.views.staff import segment_pages


def review_message(reason: str) -> str:
    """The reviewer's sentence for a refused action."""
    return {
        "empty": _("A segment cannot be empty. Nothing was saved."),
        "too_long": _("This text is too long for one segment. Nothing was saved."),
        "closed": _("This transcript is no longer open for review."),
        "not_found": _("This segment does not exist."),
        "stale": _("The segment changed since you opened it. Please read it again first."),
        "own_edit": _("You edited this segment last: another reviewer must approve it."),
        "no_span": _("Choose the words to mark first. Nothing was marked."),
        "not_in_text": _("Those words are not in the segment's saved text. Nothing was marked."),
        "overlap": _("Those words are marked already."),
        "split_where": _("Those words are not in the segment. Nothing was split."),
        "split_edge": _("A split needs words on both sides. Nothing was split."),
        "no_next": _("There is no next segment in this recording to merge with."),
        "pad_range": _(
            "A mark can be widened by 0 up to the seconds shown, on each side. Nothing was changed."
        ),
    }.get(reason, _("This could not be done."))


def state_name(state: ReviewState) -> str:
    """A segment state's label, for the script that updates the page after a save."""
    return {
        ReviewState.machine: _("machine"),
        ReviewState.edited: _("edited"),
        ReviewState.approved: _("approved"),
    }[state]


# Redaction categories' labels, in the page's language.
category_labels = segment_pages.category_labels


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def _version(name: str = "version") -> int:
    return segment_pages.form_number(name)


_offset = segment_pages.form_offset


def make_blueprint(config: Config, current_roles: access.RoleLookup) -> Blueprint:
    """The review blueprint, for reviewers."""
    bp = access.guard(
        Blueprint("staff_review", __name__), access.roles(Role.reviewer), current_roles
    )
    threshold = config.review_low_confidence

    # The review queue's own rule (state and consent) decides, and the first open is an event.
    _testimony, _me = segment_pages.opened(Role.reviewer), segment_pages.me

    @bp.get("/review/")
    def queue() -> str:
        db = request_session()
        state_arg = request.args.get("state", "")
        state = TestimonyState(state_arg) if state_arg in review.QUEUE_STATES else None
        language = (
            request.args.get("language")
            if request.args.get("language")
            in (
                "fa",
                "en",
                "unknown",
            )
            else None
        )
        order = request.args.get("order", "oldest")
        rows = review.queue(db, threshold, state=state, language=language, order=order)
        finished = (
            _("Transcript approved: the record has left the review queue.")
            if request.args.get("done") == "finished"
            else None
        )
        return render_template(
            "staff/review/queue.html",
            message=finished,
            rows=rows,
            counts=review.counts_by_state(db),
            asked=messages.summaries_by_pseudonym(db, [r.pseudonym for r in rows]),
            states=review.QUEUE_STATES,
            chosen={"state": state_arg, "language": language or "", "order": order},
        )

    def _editor(
        testimony: Testimony,
        message: str | None = None,
        error: str | None = None,
        status: int = 200,
        segment_id: int | None = None,
    ) -> tuple[str, int]:
        number = (
            segment_pages.page_number()
            if segment_id is None
            else review.page_of(request_session(), segment_id)
        )
        view = review.editor(request_session(), services().keyring, testimony, threshold, number)
        bars = timeline.timelines(request_session(), testimony, threshold, review.PAGE_SEGMENTS)
        page = render_template(
            "staff/review/editor.html",
            testimony=testimony,
            transcripts=view.transcripts,
            page=view.page,
            pages=view.pages,
            me=_me(),
            open=testimony.state in review.OPEN_STATES,
            message=message,
            error=error,
            max_chars=config.review_max_segment_chars,
            timelines=bars,
            timeline_labels={
                "timeline": _("Timeline of the recording"),
                "low": _("Words the machine was unsure of, at"),
                "redact": _("Marked for redaction, at"),
            },
            categories=category_labels(),
            aligned=alignment.for_editor(
                request_session(),
                services().keyring,
                testimony,
                [seg.id for t in view.transcripts for seg in t.segments],
            ),
            margin_s=config.redaction_margin_s,
            pad_limit_s=config.redaction_pad_limit_s,
        )
        return page, status

    @bp.get("/review/<pseudonym>")
    def editor(pseudonym: str) -> tuple[str, int]:
        done = {
            "saved": _("Segment saved."),
            "approved": _("Segment approved."),
            "marked": _("Marked for redaction."),
            "unmarked": _("Redaction mark removed."),
            "split": _("Segment split in two."),
            "merged": _("Segments merged."),
            "widened": _("The mark's silence was widened."),
        }
        return _editor(_testimony(pseudonym), message=done.get(request.args.get("done", "")))

    @bp.post("/review/<pseudonym>/segments/<int:segment_id>")
    def save(pseudonym: str, segment_id: int) -> ResponseReturnValue:
        testimony = _testimony(pseudonym)
        db = request_session()
        try:
            seg = review.save(
                db,
                services().keyring,
                testimony,
                segment_id,
                request.form.get("text", ""),
                _version(),
                _me(),
                config.review_max_segment_chars,
            )
        except review.Conflict as conflict:
            db.rollback()
            if _wants_json():
                return jsonify(conflict=True), 409  # the script then posts the form itself
            page = render_template(
                "staff/review/conflict.html", testimony=testimony, conflict=conflict
            )
            return page, 409
        except review.ReviewError as exc:
            db.rollback()
            if _wants_json():
                return jsonify(error=review_message(exc.reason)), 400
            return _editor(
                testimony, error=review_message(exc.reason), status=400, segment_id=segment_id
            )
        db.commit()
        if _wants_json():
            return jsonify(
                version=seg.version,
                state=seg.review_state.value,
                label=state_name(seg.review_state),
                message=_("Segment saved."),
            )
        return redirect(
            url_for(
                "staff_review.editor",
                pseudonym=pseudonym,
                done="saved",
                page=review.page_of(db, seg.id),
                _anchor=f"seg-{seg.id}",
            ),
            303,
        )

    @bp.post("/review/<pseudonym>/segments/<int:segment_id>/approve")
    def approve(pseudonym: str, segment_id: int) -> ResponseReturnValue:
        testimony = _testimony(pseudonym)
        db = request_session()
        try:
            seg = review.approve(db, testimony, segment_id, _version(), _me(), services().keyring)
        except review.ReviewError as exc:
            db.rollback()
            status = 403 if exc.reason == "own_edit" else 409 if exc.reason == "stale" else 400
            if _wants_json():
                return jsonify(error=review_message(exc.reason)), status
            return _editor(
                testimony, error=review_message(exc.reason), status=status, segment_id=segment_id
            )
        db.commit()
        if _wants_json():
            return jsonify(
                version=seg.version,
                state=seg.review_state.value,
                label=state_name(seg.review_state),
                testimony_state=testimony.state.value,
                message=_("Segment approved."),
            )
        if not record_access.may_open(Role.reviewer, testimony):
            # The last approval moved the record out of the reviewers' work.
            return redirect(url_for("staff_review.queue", done="finished"), 303)
        return redirect(
            url_for(
                "staff_review.editor",
                pseudonym=pseudonym,
                done="approved",
                page=review.page_of(db, seg.id),
                _anchor=f"seg-{seg.id}",
            ),
            303,
        )

    def _change(
        pseudonym: str, segment_id: int, done: str, act: Callable[[Testimony], int]
    ) -> ResponseReturnValue:
        """Run one structural change (marks, split, merge) as a plain form: commit and go
        back to the segment, or show the editor with the reason and nothing written."""
        testimony = _testimony(pseudonym)
        db = request_session()
        try:
            landing = act(testimony)
        except review.ReviewError as exc:
            db.rollback()
            status = 409 if exc.reason == "stale" else 400
            return _editor(
                testimony, error=review_message(exc.reason), status=status, segment_id=segment_id
            )
        db.commit()
        return redirect(
            url_for(
                "staff_review.editor",
                pseudonym=pseudonym,
                done=done,
                page=review.page_of(db, landing),
                _anchor=f"seg-{landing}",
            ),
            303,
        )

    @bp.post("/review/<pseudonym>/segments/<int:segment_id>/marks")
    def mark(pseudonym: str, segment_id: int) -> ResponseReturnValue:
        category_arg = request.form.get("category", "")

        def act(testimony: Testimony) -> int:
            # Checked once the record is open: a record outside the reviewer's work is a 404
            # whatever the form holds.
            if category_arg not in RedactionCategory.__members__:
                abort(400)
            review.mark_span(
                request_session(),
                services().keyring,
                testimony,
                segment_id,
                _version(),
                RedactionCategory(category_arg),
                _me(),
                wanted=request.form.get("words", "")[: config.review_max_segment_chars],
                start=_offset("start"),
                end=_offset("end"),
            )
            return segment_id

        return _change(pseudonym, segment_id, "marked", act)

    @bp.post("/review/<pseudonym>/segments/<int:segment_id>/marks/<int:mark_id>/remove")
    def unmark(pseudonym: str, segment_id: int, mark_id: int) -> ResponseReturnValue:
        def act(testimony: Testimony) -> int:
            review.unmark(request_session(), testimony, segment_id, mark_id, _version(), _me())
            return segment_id

        return _change(pseudonym, segment_id, "unmarked", act)

    @bp.post("/review/<pseudonym>/segments/<int:segment_id>/marks/<int:mark_id>/widen")
    def widen(pseudonym: str, segment_id: int, mark_id: int) -> ResponseReturnValue:
        def seconds(name: str) -> float:
            try:
                return float(request.form.get(name, "0") or 0)
            except ValueError:
                raise review.ReviewError("pad_range") from None

        def act(testimony: Testimony) -> int:
            try:
                alignment.set_padding(
                    request_session(),
                    testimony,
                    mark_id,
                    seconds("before"),
                    seconds("after"),
                    _me(),
                    config.redaction_pad_limit_s,
                )
            except LookupError:
                raise review.ReviewError("not_found") from None
            except ValueError as exc:
                raise review.ReviewError(str(exc)) from None
            return segment_id

        return _change(pseudonym, segment_id, "widened", act)

    @bp.post("/review/<pseudonym>/segments/<int:segment_id>/split")
    def split(pseudonym: str, segment_id: int) -> ResponseReturnValue:
        def act(testimony: Testimony) -> int:
            segmentation.split(
                request_session(),
                services().keyring,
                testimony,
                segment_id,
                _version(),
                _me(),
                at=_offset("at"),
                before=request.form.get("before", "")[: config.review_max_segment_chars],
            )
            return segment_id

        return _change(pseudonym, segment_id, "split", act)

    @bp.post("/review/<pseudonym>/segments/<int:segment_id>/merge")
    def merge(pseudonym: str, segment_id: int) -> ResponseReturnValue:
        def act(testimony: Testimony) -> int:
            segmentation.merge(
                request_session(),
                services().keyring,
                testimony,
                segment_id,
                _version(),
                _version("next_version"),
                _me(),
            )
            return segment_id

        return _change(pseudonym, segment_id, "merged", act)

    @bp.get("/review/<pseudonym>/audio/<int:position>")
    def audio(pseudonym: str, position: int) -> Response:
        """The recording's access copy, with byte ranges (`segment_pages.stream_audio`)."""
        return segment_pages.stream_audio(_testimony(pseudonym), position)

    return bp
