"""Review of machine transcripts: queues, the editor's data, saving and approving segments.

A segment moves machine < edited < approved. Saving carries the version the editor started
from, so a concurrent edit is never overwritten silently; nobody approves a segment they last
edited (four eyes). When every segment of every file is approved the testimony moves from
`in_review` to `transcript_approved`. Every change writes an event with ids and states only,
never text; edited text is sealed with the testimony's key like the machine text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from markupsafe import Markup, escape
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from intake import (
    access_copies,
    audit,
    lifecycle,
    record_access,
    redaction_marks,
    transcripts,
    translation,
)
from intake.crypto import Keyring
from intake.events import Action
from intake.models import (
    AudioFile,
    RedactionCategory,
    RedactionMark,
    ReviewState,
    Role,
    Segment,
    Testimony,
    TestimonyState,
    Transcript,
    utcnow,
)

# The states in which a testimony appears in the review queues (with transcription consent).
QUEUE_STATES = record_access.WORK[Role.reviewer].states
# Segments drawn on one editor page (about 8 minutes of speech).
PAGE_SEGMENTS = 100
# The states in which its segments can still change.
OPEN_STATES = frozenset(QUEUE_STATES)


class ReviewError(Exception):
    """A review action that cannot be done; `reason` is a stable code for the message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(eq=False)
class Conflict(Exception):
    """Someone saved the segment since this editor loaded it: both texts, for the choice."""

    segment_id: int
    yours: str
    theirs: str
    current_version: int


@dataclass(frozen=True)
class QueueRow:
    """One testimony in a queue: pseudonym, state, language, age and review figures."""

    pseudonym: str
    state: TestimonyState
    language: str
    created_at: datetime
    segments: int
    approved: int
    low_confidence: int
    words: int = 0
    low_words: int = 0

    @property
    def low_share(self) -> float:
        """Share of words under the confidence threshold: where a reviewer must listen."""
        return self.low_words / self.words if self.words else 0.0

    @property
    def age_days(self) -> int:
        """Whole days since the testimony arrived."""
        return (utcnow() - self.created_at).days


@dataclass(frozen=True)
class Word:
    """A word of a segment, with whether the reviewer should listen to it."""

    text: str
    start: float
    end: float
    low: bool


@dataclass(frozen=True)
class Span:
    """A span of a segment's text: a redaction mark (with its id and category) or a
    suggestion from the removal notes (without)."""

    start: int
    end: int
    text: str
    category: RedactionCategory | None = None
    id: int | None = None


@dataclass(frozen=True)
class SegmentView:
    """What the editor shows of one segment."""

    id: int
    position: int
    start_s: float
    end_s: float
    text: str
    words: list[Word]
    state: ReviewState
    version: int
    edited_by: str | None
    approved_by: str | None
    marks: tuple[Span, ...] = ()
    suggestions: tuple[Span, ...] = ()

    @property
    def redacted(self) -> Markup:
        """The text with its marked spans in <mark class="redact">, each piece escaped."""
        out, at = [], 0
        for span in self.marks:
            out.append(escape(self.text[at : span.start]))
            out.append(
                Markup('<mark class="redact cat-%s">%s</mark>')
                % (span.category or "other", self.text[span.start : span.end])
            )
            at = span.end
        out.append(escape(self.text[at:]))
        return Markup("").join(out)

    @property
    def has_low(self) -> bool:
        """Whether any word is under the threshold."""
        return any(w.low for w in self.words)

    @property
    def marked(self) -> Markup:
        """The machine words as HTML, each escaped, the uncertain ones in <mark>. Made here
        rather than in a template loop: 1,500 segments of 15 words are 22,500 words."""
        return Markup("").join(
            Markup('<mark class="low">%s</mark>') % w.text if w.low else escape(w.text)
            for w in self.words
        )

    @property
    def clock(self) -> str:
        """The start time as h:mm:ss."""
        whole = int(self.start_s)
        return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


@dataclass
class TranscriptView:
    """One file's transcript in the editor."""

    id: int
    audio_position: int
    duration_s: float
    language: str
    segments: list[SegmentView] = field(default_factory=list)


def counts_by_state(session: Session) -> dict[TestimonyState, int]:
    """How many testimonies wait in each review state."""
    rows = session.execute(
        select(Testimony.state, func.count())
        .where(Testimony.state.in_([*QUEUE_STATES, TestimonyState.transcript_approved]))
        .group_by(Testimony.state)
    ).all()
    return {state: count for state, count in rows}


def queue(
    session: Session,
    threshold: float,
    state: TestimonyState | None = None,
    language: str | None = None,
    order: str = "oldest",
) -> list[QueueRow]:
    """Testimonies to review, with segment counts and the low-confidence share.

    `order` is "oldest" (default), "newest" or "worst" (highest low-confidence share first).
    The figures come from the clear confidence columns: no text is opened to make a queue.
    """
    low = func.sum(case((Segment.min_word_probability < threshold, 1), else_=0))
    approved = func.sum(case((Segment.review_state == ReviewState.approved, 1), else_=0))
    query = (
        select(
            Testimony.pseudonym,
            Testimony.state,
            Testimony.language,
            Testimony.created_at,
            func.count(Segment.id),
            approved,
            low,
        )
        .join(Transcript, Transcript.testimony_id == Testimony.id)
        .join(Segment, Segment.transcript_id == Transcript.id)
        .group_by(Testimony.id)
    )
    # The same rule the editor and its audio open records by (`intake.record_access`).
    query = query.where(record_access.where(Role.reviewer))
    if state is not None:
        query = query.where(Testimony.state == state)
    if language:
        query = query.where(Testimony.language == language)
    rows = [
        QueueRow(p, s, lang.value, created, n or 0, a or 0, lo or 0)
        for p, s, lang, created, n, a, lo in session.execute(query).all()
    ]
    rows = _with_word_counts(session, rows, threshold)
    if order == "worst":
        rows.sort(key=lambda r: (-r.low_share, r.created_at))
    else:
        rows.sort(key=lambda r: r.created_at, reverse=order == "newest")
    return rows


def _with_word_counts(session: Session, rows: list[QueueRow], threshold: float) -> list[QueueRow]:
    """Add each row's words and words under `threshold`, from the clear probabilities (a
    threshold set in the configuration can change, so the count is made at reading time)."""
    if not rows:
        return rows
    words: dict[str, list[int]] = {r.pseudonym: [0, 0] for r in rows}
    probabilities = session.execute(
        select(Testimony.pseudonym, Segment.word_probabilities)
        .join(Transcript, Transcript.testimony_id == Testimony.id)
        .join(Segment, Segment.transcript_id == Transcript.id)
        .where(Testimony.pseudonym.in_(list(words)))
    )
    for pseudonym, values in probabilities:
        if values:
            counts = words[pseudonym]
            counts[0] += len(values)
            counts[1] += sum(1 for p in values if p < threshold)
    return [
        QueueRow(
            r.pseudonym,
            r.state,
            r.language,
            r.created_at,
            r.segments,
            r.approved,
            r.low_confidence,
            *words[r.pseudonym],
        )
        for r in rows
    ]


def find(session: Session, pseudonym: str) -> Testimony:
    """The testimony under review with this pseudonym; ReviewError when there is none."""
    testimony = session.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).first()
    if testimony is None or testimony.wrapped_key is None:
        raise ReviewError("not_found")
    return testimony


@dataclass(frozen=True)
class EditorPage:
    """One page of the editor: the transcripts it touches, and where it sits among pages."""

    transcripts: list[TranscriptView]
    page: int
    pages: int
    segments: int


def editor(
    session: Session,
    keyring: Keyring,
    testimony: Testimony,
    threshold: float,
    page: int = 1,
    per_page: int = PAGE_SEGMENTS,
) -> EditorPage:
    """One page of the testimony's segments, in file and time order, unsealed.

    Pages keep the editor's cost flat in the length of the recording: a 2-hour transcript has
    about 1,500 segments, and only the page shown is opened and drawn.
    """
    key = transcripts.testimony_key(keyring, testimony)
    order = (AudioFile.position, Segment.position)
    base = (
        select(Segment, Transcript, AudioFile.position)
        .join(Transcript, Transcript.id == Segment.transcript_id)
        .join(AudioFile, AudioFile.id == Transcript.audio_file_id)
        .where(Transcript.testimony_id == testimony.id)
    )
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = session.execute(
        base.order_by(*order).limit(per_page).offset((page - 1) * per_page)
    ).all()
    views: dict[int, TranscriptView] = {}
    marks = redaction_marks.of_segments(session, (row[0].id for row in rows))
    terms = redaction_marks.removal_terms(key, testimony)
    for seg, transcript, position in rows:
        view = views.get(transcript.id)
        if view is None:
            view = TranscriptView(
                transcript.id, position, transcript.duration_s, transcript.language
            )
            views[transcript.id] = view
        content = transcripts.unseal_segment(key, seg)
        machine = seg.review_state == ReviewState.machine
        words = (
            [
                Word(str(w[2]), float(w[0]), float(w[1]), float(w[3]) < threshold)
                for w in content.words
            ]
            if machine
            else []
        )
        view.segments.append(
            SegmentView(
                seg.id,
                seg.position,
                seg.start_s,
                seg.end_s,
                content.text,
                words,
                seg.review_state,
                seg.version,
                seg.edited_by,
                seg.approved_by,
                *_spans(content.text, marks.get(seg.id, []), terms),
            )
        )
    return EditorPage(list(views.values()), page, pages, total)


def _spans(
    text: str, marks: list[RedactionMark], terms: list[str]
) -> tuple[tuple[Span, ...], tuple[Span, ...]]:
    marked = tuple(
        Span(m.char_start, m.char_end, text[m.char_start : m.char_end], m.category, m.id)
        for m in marks
    )
    suggested = tuple(Span(a, b, text[a:b]) for a, b in redaction_marks.suggest(text, terms, marks))
    return marked, suggested


def page_of(session: Session, segment_id: int, per_page: int = PAGE_SEGMENTS) -> int:
    """The editor page that shows `segment_id` (for the redirect after saving it)."""
    return transcripts.page_of_segment(session, segment_id, per_page)


def segment_for_change(session: Session, testimony: Testimony, segment_id: int) -> Segment:
    """The segment to change, locked, if it is the testimony's and its review is open."""
    seg = session.get(Segment, segment_id, with_for_update=True)
    transcript = session.get(Transcript, seg.transcript_id) if seg else None
    if seg is None or transcript is None or transcript.testimony_id != testimony.id:
        raise ReviewError("not_found")
    if testimony.state not in OPEN_STATES:
        raise ReviewError("closed")
    return seg


def start_review(session: Session, testimony: Testimony, actor: str) -> None:
    """Move a testimony from `transcribed` to `in_review` at its first change."""
    if testimony.state == TestimonyState.transcribed:
        lifecycle.transition(
            session, testimony, TestimonyState.in_review, actor, Action.review_started
        )


def save(
    session: Session,
    keyring: Keyring,
    testimony: Testimony,
    segment_id: int,
    text: str,
    version: int,
    actor: str,
    max_chars: int,
) -> Segment:
    """Save a corrected text for one segment, if nobody saved it since `version`.

    Raises Conflict (with both texts) on a stale version, ReviewError on empty or oversized
    text; nothing is written in either case.
    """
    cleaned = text.replace("\r\n", "\n").strip()
    if not cleaned:
        raise ReviewError("empty")
    if len(cleaned) > max_chars:
        raise ReviewError("too_long")
    seg = segment_for_change(session, testimony, segment_id)
    key = transcripts.testimony_key(keyring, testimony)
    current = transcripts.unseal_segment(key, seg)
    if seg.version != version:
        raise Conflict(seg.id, cleaned, current.text, seg.version)
    if cleaned == current.text and seg.review_state != ReviewState.machine:
        return seg  # nothing changed: no new version, no event
    start_review(session, testimony, actor)
    before = seg.review_state
    seg.sealed = transcripts.seal_segment(
        key, seg.transcript_id, seg.position, transcripts.SegmentText(cleaned, current.words)
    )
    seg.review_state = ReviewState.edited
    seg.edited_by = actor
    seg.approved_by = None
    seg.version += 1
    dropped = redaction_marks.reanchor(session, seg, current.text, cleaned, current.words)
    audit.record_event(
        session,
        testimony.id,
        actor,
        Action.segment_edited,
        detail={
            "segment": seg.id,
            "transcript": seg.transcript_id,
            "version": seg.version,
            "from": before.value,
            "to": seg.review_state.value,
            "marks_dropped": dropped,
        },
    )
    return seg


def mark_span(
    session: Session,
    keyring: Keyring,
    testimony: Testimony,
    segment_id: int,
    version: int,
    category: RedactionCategory,
    actor: str,
    wanted: str = "",
    start: int | None = None,
    end: int | None = None,
) -> RedactionMark:
    """Mark a span of one segment for redaction, if its text is still at `version`.

    The span is the browser's selection (`start`, `end`) when it still holds `wanted`, else
    the first unmarked occurrence of `wanted`. The offsets refer to the text the reviewer saw,
    so a stale version is refused ("stale") rather than marking other words.
    """
    seg = segment_for_change(session, testimony, segment_id)
    if seg.version != version:
        raise ReviewError("stale")
    content = transcripts.unseal_segment(transcripts.testimony_key(keyring, testimony), seg)
    existing = redaction_marks.of_segments(session, [seg.id]).get(seg.id, [])
    try:
        start, end = redaction_marks.locate(content.text, wanted, existing, start, end)
        mark = redaction_marks.new_mark(
            testimony, seg, content.text, content.words, start, end, category, existing, actor
        )
    except redaction_marks.MarkError as exc:
        raise ReviewError(exc.reason) from exc
    session.add(mark)
    session.flush()
    audit.record_event(
        session,
        testimony.id,
        actor,
        Action.redaction_marked,
        detail={"segment": seg.id, "mark": mark.id, "category": category.value},
    )
    return mark


def unmark(
    session: Session, testimony: Testimony, segment_id: int, mark_id: int, version: int, actor: str
) -> None:
    """Remove one redaction mark of a segment whose text is still at `version`."""
    seg = segment_for_change(session, testimony, segment_id)
    if seg.version != version:
        raise ReviewError("stale")
    mark = session.get(RedactionMark, mark_id)
    if mark is None or mark.segment_id != seg.id:
        raise ReviewError("not_found")
    audit.record_event(
        session,
        testimony.id,
        actor,
        Action.redaction_removed,
        detail={"segment": seg.id, "mark": mark.id, "category": mark.category.value},
    )
    session.delete(mark)


def approve(
    session: Session, testimony: Testimony, segment_id: int, version: int, actor: str
) -> Segment:
    """Approve one segment as it stands at `version`; never by the one who last edited it.

    When it was the last segment not yet approved, the transcript is approved with it.
    """
    seg = segment_for_change(session, testimony, segment_id)
    if seg.version != version:
        raise ReviewError("stale")
    if seg.review_state == ReviewState.approved:
        return seg
    if seg.edited_by == actor:
        raise ReviewError("own_edit")
    start_review(session, testimony, actor)
    before = seg.review_state
    seg.review_state = ReviewState.approved
    seg.approved_by = actor
    seg.version += 1
    audit.record_event(
        session,
        testimony.id,
        actor,
        Action.segment_approved,
        detail={
            "segment": seg.id,
            "transcript": seg.transcript_id,
            "version": seg.version,
            "from": before.value,
            "to": seg.review_state.value,
        },
    )
    session.flush()
    _finish_if_approved(session, testimony, actor)
    return seg


def _finish_if_approved(session: Session, testimony: Testimony, actor: str) -> None:
    files = session.scalar(
        select(func.count()).select_from(AudioFile).where(AudioFile.testimony_id == testimony.id)
    )
    done = session.scalar(
        select(func.count()).select_from(Transcript).where(Transcript.testimony_id == testimony.id)
    )
    waiting = session.scalar(
        select(func.count())
        .select_from(Segment)
        .join(Transcript, Transcript.id == Segment.transcript_id)
        .where(
            Transcript.testimony_id == testimony.id,
            Segment.review_state != ReviewState.approved,
        )
    )
    if files == done and waiting == 0 and testimony.state == TestimonyState.in_review:
        lifecycle.transition(
            session,
            testimony,
            TestimonyState.transcript_approved,
            actor,
            Action.transcript_approved,
        )
        translation.queue_drafts(session, testimony)
        # The marks are final now: make the redacted public access copy from them.
        access_copies.request_access_copy(session, testimony.id, actor)
