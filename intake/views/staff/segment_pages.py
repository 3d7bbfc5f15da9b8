"""What the review editor and the translation workbench share as pages: the record named by its
pseudonym (404 when it may not be worked on), the staff member acting, and the numbers a form
or a link carries. HTTP only; the rules of segment work are in `intake.review.segment_work`."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from flask import Response, abort, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import Session

from intake.models import AudioFile, Role, Testimony
from intake.records import accounts, record_access
from intake.review import segment_work, transcripts
from intake.services import request_session, services
from intake.storage import Store

AUDIO_BLOCK = 256 * 1024
ACCESS_MIMETYPE = "audio/flac"


def testimony_or_404(find: Callable[[Session, str], Testimony], pseudonym: str) -> Testimony:
    """The record `find` gives for `pseudonym`; 404 where it refuses (unknown, closed to this
    work, no consent), so a page never says which of those it was."""
    try:
        return find(request_session(), pseudonym)
    except segment_work.WorkError:
        abort(404)


def finder(find: Callable[[Session, str], Testimony]) -> Callable[[str], Testimony]:
    """`testimony_or_404` bound to one `find`, as the pages call it: with a pseudonym only."""
    return lambda pseudonym: testimony_or_404(find, pseudonym)


def opened(role: Role) -> Callable[[str], Testimony]:
    """The record named by a pseudonym as `role` works on it: the role's queue rule (state and
    consent, `intake.records.record_access`) decides, 404 otherwise; the account's first open of the
    record's content is an event, committed before any content is served."""

    def find(pseudonym: str) -> Testimony:
        db = request_session()
        testimony = record_access.open_for(db, current_user.account.id, role, pseudonym)
        if testimony is None:
            abort(404)
        db.commit()
        return testimony

    return find


def me() -> str:
    """The acting staff member as events and segments name them (an account id)."""
    return accounts.actor(current_user.account)


def form_number(name: str) -> int:
    """A whole number the form must carry (a version); 400 when it is missing or not one."""
    try:
        return int(request.form.get(name, ""))
    except ValueError:
        abort(400)


def page_number() -> int:
    """The page asked for in the link; the first when it is not a number."""
    try:
        return int(request.args.get("page", "1"))
    except ValueError:
        return 1


def selection(max_chars: int) -> segment_work.Selection:
    """The words a mark form names: the typed or selected words and the selection's offsets."""
    return segment_work.Selection(
        request.form.get("words", "")[:max_chars], form_offset("start"), form_offset("end")
    )


def form_offset(name: str) -> int | None:
    """A character offset the form may carry (a browser selection); None when it does not."""
    value = request.form.get(name, "")
    return int(value) if value.isdigit() else None


def category_labels() -> dict[str, str]:
    """Redaction categories' labels, in the page's language."""
    return {
        "person": _("person"),
        "place": _("place"),
        "date": _("date"),
        "other": _("other"),
    }


def stream_audio(testimony: Testimony, position: int) -> Response:
    """Stream the decrypted access copy of the record's recording at `position` (404 when it
    has none), honouring one byte range: seeking in the player reads only the chunks it
    needs, whatever the recording's length. The caller has opened the record for its role."""
    row = next((f for f in testimony.audio_files if f.position == position), None)
    if row is None:
        abort(404)
    svc = services()
    key = transcripts.audio_key(svc.keyring, testimony, row)
    with svc.store.open(key, testimony.storage_id, row.access_name) as reader:
        size = reader.size
    start, stop, status = 0, size, 200
    wanted = request.range
    if wanted is not None:
        span = wanted.range_for_length(size) if wanted.units == "bytes" else None
        if span is None:
            response = Response(status=416)
            response.headers["Content-Range"] = f"bytes */{size}"
            return response
        start, stop, status = span[0], span[1], 206
    response = Response(
        _read(svc.store, key, testimony.storage_id, row, start, stop),
        status=status,
        mimetype=ACCESS_MIMETYPE,
        direct_passthrough=True,
    )
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Content-Length"] = str(stop - start)
    if status == 206:
        response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    return response


def _read(
    store: Store, key: bytes, storage_id: str, row: AudioFile, start: int, stop: int
) -> Iterator[bytes]:
    with store.open(key, storage_id, row.access_name) as reader:
        reader.seek(start)
        left = stop - start
        while left > 0:
            block = reader.read(min(AUDIO_BLOCK, left))
            if not block:
                break
            left -= len(block)
            yield block
