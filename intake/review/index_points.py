"""Index points: moments of a recording that an indexer titles and describes (OHMS's index).

An indexer (`Role.indexer`, whose work is every approved transcript the submitter let be
transcribed: `intake.records.record_access.WORK`) reads the approved transcript beside the audio
and adds points: a time in one recording, a title, a synopsis, keywords, subjects and a partial
transcript, in the record's language and optionally the other one (Persian and English). The
words are sealed under the testimony's key; the time and the states stay in clear.

A point has the four-eyes states of segment work (`intake.review.segment_work`): a new or
changed point is `edited`, a second indexer approves it, nobody approves a point they last
changed, and an action on a version other than the current one is refused ("stale"). Only
approved points are exported (the OHMS `<index>`).

Deleting: an `edited` point may be deleted by any indexer; an approved one may not (refused,
"approved"): it is part of what the next export will publish, so it is first changed (which
withdraws its approval, in the history) and only then deleted. Events carry ids, recording
and versions, never words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from intake import sealing
from intake.crypto import Keyring
from intake.events import Action
from intake.models import (
    AudioFile,
    EntityCitation,
    IndexPoint,
    ReviewState,
    Role,
    Segment,
    Testimony,
    TestimonyState,
    Transcript,
)
from intake.records import audit, record_access
from intake.review import segment_work, transcripts

TITLE_CHARS = 200
PARTIAL_CHARS = 1000
SYNOPSIS_CHARS = 4000
TERM_CHARS = 100
TERMS = 50
LANGUAGES = ("fa", "en")
# Suggested boundaries: about one every 2-3 minutes, at the longest pause in that stretch.
SUGGEST_MIN_S = 120.0
SUGGEST_MAX_S = 180.0


class IndexPointError(segment_work.WorkError):
    """An index point action refused; `reason` is its code for the indexer's message."""


KIND = segment_work.Kind(
    state_column="state",
    ids=lambda row: {"index_point": row.id, "audio_file": row.audio_file_id},
    edited=Action.index_point_edited,
    approved=Action.index_point_approved,
    # Points carry no redaction marks: nothing reopens them but an edit.
    reopened=Action.index_point_edited,
    error=IndexPointError,
    # Indexing moves no testimony state: it goes on beside translation and after approval.
    waiting=None,
    working=None,
    started=None,
)


@dataclass(frozen=True)
class Words:
    """What an indexer writes for a point in one language."""

    title: str = ""
    synopsis: str = ""
    partial_transcript: str = ""
    keywords: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether nothing at all is written."""
        return not (
            self.title or self.synopsis or self.partial_transcript or self.keywords or self.subjects
        )

    def as_json(self) -> dict[str, Any]:
        """The words as the sealed payload holds them."""
        return {
            "title": self.title,
            "synopsis": self.synopsis,
            "partial_transcript": self.partial_transcript,
            "keywords": list(self.keywords),
            "subjects": list(self.subjects),
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Words:
        """The words from a sealed payload."""
        return cls(
            str(value.get("title", "")),
            str(value.get("synopsis", "")),
            str(value.get("partial_transcript", "")),
            tuple(str(v) for v in value.get("keywords", [])),
            tuple(str(v) for v in value.get("subjects", [])),
        )


@dataclass(frozen=True)
class PointText:
    """A point's words in the record's language (`main`) and, optionally, the other (`alt`,
    in `alt_language`)."""

    main: Words
    alt: Words | None = None
    alt_language: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The sealed payload: the main words, and the other language's when written."""
        value = self.main.as_json()
        if self.alt is not None and not self.alt.empty:
            value["alt"] = {"language": self.alt_language, **self.alt.as_json()}
        return value

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> PointText:
        """The words from a sealed payload."""
        alt = value.get("alt")
        if not alt:
            return cls(Words.from_json(value))
        return cls(Words.from_json(value), Words.from_json(alt), alt.get("language"))


@dataclass(frozen=True)
class PointView:
    """One point as the indexer's page shows it (opened)."""

    id: int
    audio_file_id: int
    start_s: float
    text: PointText
    state: ReviewState
    version: int
    edited_by: str | None
    approved_by: str | None


@dataclass(frozen=True)
class QueueRow:
    """A record in the indexer's queue, with its points counted (no content opened)."""

    pseudonym: str
    state: TestimonyState
    language: str
    duration_s: float
    points: int
    approved: int


class Timed(Protocol):
    """A segment's times (`Segment` rows, or anything with the same two fields)."""

    start_s: Any
    end_s: Any


def other_language(language: str) -> str:
    """The other working language: English for Persian, Persian for anything else."""
    return "en" if language == "fa" else "fa"


def split_terms(typed: str) -> tuple[str, ...]:
    """Keywords or subjects as typed: one per line or separated by `;` (or Persian `؛`)."""
    parts = typed.replace("؛", ";").replace("\n", ";").split(";")
    return tuple(p.strip() for p in parts if p.strip())


def check_words(words: Words, *, needs_title: bool) -> None:
    """Refuse words that are missing or too long for an index point."""
    if needs_title and not words.title.strip():
        raise IndexPointError("no_title")
    too_long = (
        len(words.title) > TITLE_CHARS
        or len(words.synopsis) > SYNOPSIS_CHARS
        or len(words.partial_transcript) > PARTIAL_CHARS
        or len(words.keywords) > TERMS
        or len(words.subjects) > TERMS
        or any(len(t) > TERM_CHARS for t in (*words.keywords, *words.subjects))
    )
    if too_long:
        raise IndexPointError("too_long")


def _check_text(text: PointText) -> None:
    check_words(text.main, needs_title=True)
    if text.alt is not None:
        check_words(text.alt, needs_title=False)
        if text.alt_language not in LANGUAGES:
            raise IndexPointError("language")


def _recording(session: Session, testimony: Testimony, audio_file_id: int) -> AudioFile:
    audio = session.get(AudioFile, audio_file_id)
    if audio is None or audio.testimony_id != testimony.id:
        raise IndexPointError("not_found")
    return audio


def _check_time(audio: AudioFile, start_s: float) -> None:
    if not 0 <= start_s <= audio.duration_s:
        raise IndexPointError("bad_time")


def _point(session: Session, testimony: Testimony, point_id: int) -> IndexPoint:
    point = session.get(IndexPoint, point_id)
    if point is None or point.testimony_id != testimony.id:
        raise IndexPointError("not_found")
    return point


def _seal(keyring: Keyring, testimony: Testimony, audio_file_id: int, text: PointText) -> bytes:
    key = transcripts.testimony_key(keyring, testimony)
    return sealing.seal_index_point(key, testimony.id, audio_file_id, text.as_json())


def open_text(key: bytes, point: IndexPoint) -> PointText:
    """The point's words, opened with the testimony's key."""
    payload = sealing.open_index_point(key, point.testimony_id, point.audio_file_id, point.sealed)
    return PointText.from_json(payload)


def add(
    session: Session,
    keyring: Keyring,
    testimony: Testimony,
    audio_file_id: int,
    start_s: float,
    text: PointText,
    actor: str,
) -> IndexPoint:
    """Add a point to one recording of the record: `edited`, by `actor`, to be approved by
    another indexer."""
    audio = _recording(session, testimony, audio_file_id)
    _check_time(audio, start_s)
    _check_text(text)
    point = IndexPoint(
        testimony_id=testimony.id,
        audio_file_id=audio.id,
        start_s=start_s,
        sealed=_seal(keyring, testimony, audio.id, text),
        state=ReviewState.edited,
        version=0,
    )
    session.add(point)
    segment_work.Change(session, KIND, testimony, point, actor).edited(Action.index_point_added)
    return point


def edit(
    session: Session,
    keyring: Keyring,
    testimony: Testimony,
    point_id: int,
    version: int,
    start_s: float,
    text: PointText,
    actor: str,
) -> IndexPoint:
    """Change a point's time and words, if it is still at `version`: it becomes `edited` by
    `actor` (an approval given before is withdrawn: four eyes again)."""
    point = _point(session, testimony, point_id)
    segment_work.check_version(KIND, point, version)
    _check_time(_recording(session, testimony, point.audio_file_id), start_s)
    _check_text(text)
    point.start_s = start_s
    point.sealed = _seal(keyring, testimony, point.audio_file_id, text)
    segment_work.Change(session, KIND, testimony, point, actor).edited()
    return point


def approve(
    session: Session, testimony: Testimony, point_id: int, version: int, actor: str
) -> bool:
    """Approve a point at `version`, never by the one who changed it last ("own_edit");
    False when it was approved already."""
    point = _point(session, testimony, point_id)
    return segment_work.Change(session, KIND, testimony, point, actor).approve(version)


def delete(session: Session, testimony: Testimony, point_id: int, version: int, actor: str) -> None:
    """Delete a point not approved, at `version`; an approved point is refused ("approved"):
    change it first, so its approval is withdrawn in the history before it goes. A point that
    entities cite is refused too ("cited"): its citations are removed first."""
    point = _point(session, testimony, point_id)
    segment_work.check_version(KIND, point, version)
    if point.state == ReviewState.approved:
        raise IndexPointError("approved")
    if session.scalar(select(EntityCitation.id).where(EntityCitation.index_point_id == point.id)):
        raise IndexPointError("cited")  # the citations go first, each with its own event
    detail = {**KIND.ids(point), "version": point.version}
    audit.record_event(session, testimony.id, actor, Action.index_point_deleted, detail=detail)
    session.delete(point)
    session.flush()


def points_of(
    session: Session, keyring: Keyring, testimony: Testimony, audio_file_id: int | None = None
) -> list[PointView]:
    """The record's points (of one recording when `audio_file_id` is given), in recording and
    time order, opened."""
    query = (
        select(IndexPoint)
        .join(AudioFile, AudioFile.id == IndexPoint.audio_file_id)
        .where(IndexPoint.testimony_id == testimony.id)
        .order_by(AudioFile.position, IndexPoint.start_s, IndexPoint.id)
    )
    if audio_file_id is not None:
        query = query.where(IndexPoint.audio_file_id == audio_file_id)
    rows = list(session.scalars(query))
    if not rows:
        return []
    key = transcripts.testimony_key(keyring, testimony)
    return [
        PointView(
            p.id,
            p.audio_file_id,
            p.start_s,
            open_text(key, p),
            p.state,
            p.version,
            p.edited_by,
            p.approved_by,
        )
        for p in rows
    ]


def approved_by_recording(
    session: Session, keyring: Keyring, testimony: Testimony
) -> dict[int, list[PointView]]:
    """The approved points of each recording (by audio file id), in time order: what the
    export may publish."""
    found: dict[int, list[PointView]] = {}
    for view in points_of(session, keyring, testimony):
        if view.state == ReviewState.approved:
            found.setdefault(view.audio_file_id, []).append(view)
    return found


def queue(session: Session) -> list[QueueRow]:
    """The records an indexer works on (`record_access.where(Role.indexer)`), oldest first,
    with their duration and how many points they have and how many are approved."""
    duration = (
        select(AudioFile.testimony_id, func.sum(AudioFile.duration_s).label("seconds"))
        .group_by(AudioFile.testimony_id)
        .subquery()
    )
    counts = (
        select(
            IndexPoint.testimony_id,
            func.count(IndexPoint.id).label("points"),
            func.count(IndexPoint.approved_by).label("approved"),
        )
        .group_by(IndexPoint.testimony_id)
        .subquery()
    )
    rows = session.execute(
        select(Testimony, duration.c.seconds, counts.c.points, counts.c.approved)
        .outerjoin(duration, duration.c.testimony_id == Testimony.id)
        .outerjoin(counts, counts.c.testimony_id == Testimony.id)
        .where(record_access.where(Role.indexer))
        .order_by(Testimony.created_at, Testimony.id)
    ).all()
    return [
        QueueRow(t.pseudonym, t.state, t.language.value, float(s or 0), n or 0, ok or 0)
        for t, s, n, ok in rows
    ]


@dataclass
class RecordingText:
    """One recording of the record with its approved transcript segments, opened."""

    audio: AudioFile
    language: str
    segments: list[tuple[Segment, str]] = field(default_factory=list)


def recording_text(
    session: Session, keyring: Keyring, testimony: Testimony, position: int
) -> RecordingText:
    """The recording at `position` (from 1) and its transcript's segments with their text,
    in time order; IndexPointError ("not_found") when the record has no such recording."""
    audio = next((f for f in testimony.audio_files if f.position == position), None)
    if audio is None:
        raise IndexPointError("not_found")
    transcript = session.scalars(
        select(Transcript).where(Transcript.audio_file_id == audio.id)
    ).first()
    language = transcript.language if transcript is not None else testimony.language.value
    found = RecordingText(audio, language)
    if transcript is None:
        return found
    key = transcripts.testimony_key(keyring, testimony)
    rows = session.scalars(
        select(Segment).where(Segment.transcript_id == transcript.id).order_by(Segment.position)
    )
    found.segments = [(seg, transcripts.unseal_segment(key, seg).text) for seg in rows]
    return found


def suggested_starts(
    segments: Sequence[Timed],
    shortest_s: float = SUGGEST_MIN_S,
    longest_s: float = SUGGEST_MAX_S,
) -> list[float]:
    """Suggested point times: 0, then about one every 2-3 minutes, each at the segment start
    within `shortest_s`..`longest_s` after the previous suggestion that follows the longest
    pause (a change of subject is likeliest where the speaker stops; the earliest of equal
    pauses). Where no segment starts in that window (a long silence), the first after it."""
    pauses = _pauses(sorted(segments, key=lambda seg: float(seg.start_s)))
    starts = [0.0]
    for start, _ in pauses:
        last = starts[-1]
        if start < last + shortest_s:
            continue
        window = [(pause, -s) for s, pause in pauses if last + shortest_s <= s <= last + longest_s]
        starts.append(-max(window)[1] if window else start)
    return starts


def _pauses(ordered: Sequence[Timed]) -> list[tuple[float, float]]:
    """Each segment's start with the silence before it (from the previous segments' end)."""
    found = []
    previous_end = 0.0
    for seg in ordered:
        start = float(seg.start_s)
        found.append((start, max(0.0, start - previous_end)))
        previous_end = max(previous_end, float(seg.end_s))
    return found
