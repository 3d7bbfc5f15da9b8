"""Indexing pages: the indexer's queue, one recording with its approved transcript and its index
points, the audio, and the forms that add, change, approve and delete points.

HTTP only: each view reads a form and calls `intake.review.index_points`. Every action is a
plain form that works without JavaScript (a time is typed as 1:23 or 83); static/index.js only
seeks the player and copies its current time into the form. Records are opened through
`record_access.open_for` with `Role.indexer`: anything else is 404.
"""

from __future__ import annotations

import math

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from intake import access
from intake.config import Config
from intake.models import Role, Testimony
from intake.review import index_points
from intake.services import request_session, services
from intake.views.staff import segment_pages

PERSIAN_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٫", "0123456789.")


def index_message(reason: str) -> str:
    """The indexer's sentence for a refused action."""
    return {
        "no_title": _("An index point needs a title. Nothing was saved."),
        "too_long": _("A field is too long for an index point. Nothing was saved."),
        "bad_time": _("That time is not within the recording. Nothing was saved."),
        "language": _("Choose Persian or English for the other language."),
        "stale": _("The index point changed since you opened it. Please read it again first."),
        "own_edit": _("You changed this index point last: another indexer must approve it."),
        "approved": _(
            "An approved index point cannot be deleted. Change it first (its approval is "
            "withdrawn), then delete it."
        ),
        "cited": _(
            "Entities are cited at this index point. Remove their citations first, then delete it."
        ),
        "not_found": _("This index point does not exist."),
    }.get(reason, _("This could not be done."))


def parse_time(typed: str) -> float | None:
    """Seconds from a typed time: `83`, `1:23`, `1:02:03` (Persian digits too); None when it
    is not one."""
    parts = typed.strip().translate(PERSIAN_DIGITS).split(":")
    if not 1 <= len(parts) <= 3:
        return None
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        return None
    # float() reads "inf" and "nan" too: not a time (and "inf" would break the page's clock).
    if not all(math.isfinite(n) for n in numbers):
        return None
    if any(n < 0 for n in numbers) or any(n >= 60 for n in numbers[1:]):
        return None
    seconds = 0.0
    for n in numbers:
        seconds = seconds * 60 + n
    return seconds


def _words(prefix: str) -> index_points.Words:
    form = request.form
    return index_points.Words(
        title=form.get(f"{prefix}title", "").strip(),
        synopsis=form.get(f"{prefix}synopsis", "").strip(),
        partial_transcript=form.get(f"{prefix}partial_transcript", "").strip(),
        keywords=index_points.split_terms(form.get(f"{prefix}keywords", "")),
        subjects=index_points.split_terms(form.get(f"{prefix}subjects", "")),
    )


def form_text(language: str) -> index_points.PointText:
    """The point's words as the form carries them: the record's language, and the other's."""
    alt = _words("alt_")
    if alt.empty:
        return index_points.PointText(_words(""))
    return index_points.PointText(_words(""), alt, index_points.other_language(language))


def form_time() -> float:
    """The typed start time; an IndexPointError ("bad_time") when it is not a time."""
    seconds = parse_time(request.form.get("start", ""))
    if seconds is None:
        raise index_points.IndexPointError("bad_time")
    return seconds


def make_blueprint(config: Config, current_roles: access.RoleLookup) -> Blueprint:
    """The indexing blueprint, for indexers."""
    bp = access.guard(Blueprint("staff_index", __name__), access.roles(Role.indexer), current_roles)
    _testimony, _me = segment_pages.opened(Role.indexer), segment_pages.me

    def _position() -> int:
        try:
            return max(1, int(request.values.get("recording", "1")))
        except ValueError:
            return 1

    def _page(
        testimony: Testimony,
        message: str | None = None,
        error: str | None = None,
        status: int = 200,
        typed: bool = False,
        typed_point: int | None = None,
    ) -> tuple[str, int]:
        db, keyring = request_session(), services().keyring
        try:
            shown = index_points.recording_text(db, keyring, testimony, _position())
        except index_points.IndexPointError:
            abort(404)
        seek = parse_time(request.args.get("t", "")) or 0.0
        at = parse_time(request.args.get("at", ""))
        page = render_template(
            "staff/index/record.html",
            testimony=testimony,
            recording=shown,
            recordings=sorted(f.position for f in testimony.audio_files),
            points=index_points.points_of(db, keyring, testimony, shown.audio.id),
            suggestions=index_points.suggested_starts([s for s, _ in shown.segments]),
            other=index_points.other_language(shown.language),
            me=_me(),
            seek=seek,
            prefill=at,
            message=message,
            error=error,
            typed=form_text(shown.language) if typed or typed_point else None,
            typed_start=request.form.get("start", "")[:20] if typed or typed_point else None,
            typed_point=typed_point,
        )
        return page, status

    def _back(testimony: Testimony, done: str, point_id: int | None = None) -> ResponseReturnValue:
        return redirect(
            url_for(
                "staff_index.record",
                pseudonym=testimony.pseudonym,
                recording=_position(),
                done=done,
                _anchor=f"point-{point_id}" if point_id else "points",
            ),
            303,
        )

    def _refused(testimony: Testimony, exc: index_points.IndexPointError) -> tuple[str, int]:
        request_session().rollback()
        status = {"own_edit": 403, "stale": 409, "not_found": 404}.get(exc.reason, 400)
        # A refused new point, or a refused change of a point, comes back in its form as typed:
        # nothing the indexer wrote is lost (the point's stored words stay shown above it).
        typed = request.endpoint == "staff_index.add"
        changed = request.view_args or {}
        typed_point = changed.get("point_id") if request.endpoint == "staff_index.edit" else None
        return _page(
            testimony,
            error=index_message(exc.reason),
            status=status,
            typed=typed,
            typed_point=typed_point,
        )

    @bp.get("/index/")
    def queue() -> str:
        return render_template("staff/index/queue.html", rows=index_points.queue(request_session()))

    @bp.get("/index/<pseudonym>")
    def record(pseudonym: str) -> tuple[str, int]:
        done = {
            "added": _("Index point added. Another indexer approves it."),
            "saved": _("Index point saved. Another indexer approves it."),
            "approved": _("Index point approved."),
            "deleted": _("Index point deleted."),
        }
        return _page(_testimony(pseudonym), message=done.get(request.args.get("done", "")))

    @bp.get("/index/<pseudonym>/audio/<int:position>")
    def audio(pseudonym: str, position: int) -> Response:
        """The recording's access copy, with byte ranges (`segment_pages.stream_audio`)."""
        return segment_pages.stream_audio(_testimony(pseudonym), position)

    @bp.post("/index/<pseudonym>/points")
    def add(pseudonym: str) -> ResponseReturnValue:
        testimony = _testimony(pseudonym)
        db, keyring = request_session(), services().keyring
        try:
            shown = index_points.recording_text(db, keyring, testimony, _position())
            point = index_points.add(
                db,
                keyring,
                testimony,
                shown.audio.id,
                form_time(),
                form_text(shown.language),
                _me(),
            )
        except index_points.IndexPointError as exc:
            return _refused(testimony, exc)
        db.commit()
        return _back(testimony, "added", point.id)

    @bp.post("/index/<pseudonym>/points/<int:point_id>")
    def edit(pseudonym: str, point_id: int) -> ResponseReturnValue:
        testimony = _testimony(pseudonym)
        db, keyring = request_session(), services().keyring
        try:
            shown = index_points.recording_text(db, keyring, testimony, _position())
            index_points.edit(
                db,
                keyring,
                testimony,
                point_id,
                segment_pages.form_number("version"),
                form_time(),
                form_text(shown.language),
                _me(),
            )
        except index_points.IndexPointError as exc:
            return _refused(testimony, exc)
        db.commit()
        return _back(testimony, "saved", point_id)

    @bp.post("/index/<pseudonym>/points/<int:point_id>/approve")
    def approve(pseudonym: str, point_id: int) -> ResponseReturnValue:
        testimony = _testimony(pseudonym)
        db = request_session()
        try:
            index_points.approve(
                db, testimony, point_id, segment_pages.form_number("version"), _me()
            )
        except index_points.IndexPointError as exc:
            return _refused(testimony, exc)
        db.commit()
        return _back(testimony, "approved", point_id)

    @bp.post("/index/<pseudonym>/points/<int:point_id>/delete")
    def delete(pseudonym: str, point_id: int) -> ResponseReturnValue:
        testimony = _testimony(pseudonym)
        db = request_session()
        try:
            index_points.delete(
                db, testimony, point_id, segment_pages.form_number("version"), _me()
            )
        except index_points.IndexPointError as exc:
            return _refused(testimony, exc)
        db.commit()
        return _back(testimony, "deleted")

    return bp
