"""Review of machine transcripts: queues, the editor's data, saving and approving segments.

A segment moves machine < edited < approved. Saving carries the version the editor started
from, so a concurrent edit is never overwritten silently; nobody approves a segment they last
edited (four eyes). When every segment of every file is approved the testimony moves from
`in_review` to `transcript_approved`. Every change writes an event with ids and states only,
never text; edited text is sealed with the testimony's key like the machine text.

The state machine itself (versions, four eyes, a mark that reopens an approved segment, the
events) is `intake.review.segment_work`, shared with translation; this module says what a segment's
text is and when a transcript may change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup, escape
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

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
)
from intake.records import lifecycle, record_access
from intake.review import (
    access_copies,
    alignment,
    redaction_marks,
    search_index,
    segment_work,
    transcripts,
    translation,
)

# The states in which a testimony appears in the review queues (with transcription consent).
QUEUE_STATES = record_access.WORK[Role.reviewer].states
# Segments drawn on one editor page (about 8 minutes of speech).
PAGE_SEGMENTS = 100
# The states in which its segments can still change.
OPEN_STATES = frozenset(QUEUE_STATES)


class ReviewError(segment_work.WorkError):
    """A review action that cannot be done (a stable `reason` code names it)."""


def _ids(seg: Segment) -> dict[str, object]:
    return {"segment": seg.id, "transcript": seg.transcript_id}


# The transcript's side of the shared state machine; its conflict carries both texts.
KIND = segment_work.Kind("review_state", _ids, Action.segment_edited, Action.segment_approved,
                         Action.segment_reopened, ReviewError, TestimonyState.transcribed,
                         TestimonyState.in_review, Action.review_started)  # fmt: skip
Conflict = segment_work.Conflict


@dataclass(frozen=True)
class QueueRow(segment_work.Waiting):
    """One testimony in a review queue, with its review figures."""

    approved: int
    low_confidence: int
    words: int = 0
    low_words: int = 0

    @property
    def low_share(self) -> float:
        """Share of words under the confidence threshold: where a reviewer must listen."""
        return self.low_words / self.words if self.words else 0.0


@dataclass(frozen=True)
class Word:
    """A word of a segment, with whether the reviewer should listen to it."""

    text: str
    start: float
    end: float
    low: bool


# A span of a segment's text: a redaction mark, or a suggestion from the removal notes.
Span = redaction_marks.Span


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
        return redaction_marks.highlighted(self.text, self.marks)

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
    # The same rule the editor and its audio open records by (`intake.records.record_access`).
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
    segment_work.begin(session, KIND, testimony, actor)


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
    segment_work.check_text_version(seg.id, seg.version, version, cleaned, current.text)
    if cleaned == current.text and seg.review_state != ReviewState.machine:
        return seg  # nothing changed: no new version, no event
    seg.sealed = transcripts.seal_segment(
        key, seg.transcript_id, seg.position, transcripts.SegmentText(cleaned, current.words)
    )
    dropped = redaction_marks.reanchor(session, seg, current.text, cleaned, current.words)
    _change(session, testimony, seg, actor).edited(extra={"marks_dropped": dropped})
    # The corrected words need times of their own before marks and export can trust them.
    alignment.request_alignment(session, testimony.id, actor)
    return seg


def _change(
    session: Session, testimony: Testimony, seg: Segment, actor: str
) -> segment_work.Change:
    return segment_work.Change(session, KIND, testimony, seg, actor)


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
    key = transcripts.testimony_key(keyring, testimony)
    content = transcripts.unseal_segment(key, seg)
    existing = redaction_marks.of_segments(session, [seg.id]).get(seg.id, [])

    def make(start: int, end: int) -> RedactionMark:
        mark = redaction_marks.new_mark(
            testimony, seg, content.text, content.words, start, end, category, existing, actor
        )
        # The corrected words' own times where the segment is aligned (`intake.review.alignment`).
        aligned = alignment.mark_span_times(session, key, seg, content.text, start, end)
        if aligned is not None:
            mark.start_s, mark.end_s = aligned
        return mark

    chosen = segment_work.Selection(wanted, start, end)
    change = _change(session, testimony, seg, actor)
    mark = change.add_mark(version, content.text, existing, make, chosen)
    assert isinstance(mark, RedactionMark)
    return mark


def unmark(
    session: Session, testimony: Testimony, segment_id: int, mark_id: int, version: int, actor: str
) -> None:
    """Remove one redaction mark of a segment whose text is still at `version`; an approved
    segment goes back to `edited` (another reviewer approves it again)."""
    seg = segment_for_change(session, testimony, segment_id)
    mark = session.get(RedactionMark, mark_id)
    own = mark if mark is not None and mark.segment_id == seg.id else None
    _change(session, testimony, seg, actor).remove_mark(version, own)


def approve(
    session: Session,
    testimony: Testimony,
    segment_id: int,
    version: int,
    actor: str,
    keyring: Keyring | None = None,
) -> Segment:
    """Approve one segment as it stands at `version`; never by the one who last edited it.

    When it was the last segment not yet approved, the transcript is approved with it and,
    given the `keyring` (the staff app's), put in the search index; without one (the state
    machine's own tests) the index waits for `testimony search reindex`.
    """
    seg = segment_for_change(session, testimony, segment_id)
    change = _change(session, testimony, seg, actor)
    if change.approve(version):
        _finish_if_approved(session, testimony, actor, keyring)
    return seg


def _finish_if_approved(
    session: Session, testimony: Testimony, actor: str, keyring: Keyring | None
) -> None:
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
        # Segments approved unchanged are aligned too (from the machine's words, no model).
        alignment.request_alignment(session, testimony.id, actor)
        # The marks are final now: make the redacted public access copy from them.
        access_copies.request_access_copy(session, testimony.id, actor)
        if keyring is not None:
            search_index.index_testimony(session, keyring, testimony)
