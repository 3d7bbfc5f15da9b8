"""Word times that belong to the approved text: the reviewed words aligned to the audio.

Whisper's word timestamps describe the words Whisper heard. Once a reviewer corrects a segment
("Evan" becomes "Evin", two words become one), those times describe another text: a mark made on
the corrected words would silence where the machine's words were, and the export's word lists
would hold words nobody approved. So every saved segment is aligned again: a worker job
(`JobKind.align`, `workers.alignment`) runs the workers' Whisper model in forced-alignment mode
(cross-attention and dynamic time warping, what faster-whisper uses for its own word timestamps)
over the segment's stretch of audio with the corrected text's tokens, and stores one timed word
per word of the text (`approved_words`).

An alignment is sealed with the testimony's key together with the text it was made from
(`sealing.seal_alignment`): it is current only while that text is still the segment's text, so
an edit, a split or a merge makes it stale without anyone having to remember to drop it.

What follows from an alignment, in the transaction that stores it: each redaction mark of the
segment takes its time from the aligned words it covers (`mark_times`), and when a mark moved,
the access copy is made again (`access_copies.request_access_copy`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from intake import sealing
from intake.crypto import Keyring
from intake.events import Action, Actor
from intake.models import (
    AudioFile,
    Job,
    JobKind,
    RedactionMark,
    Segment,
    SegmentAlignment,
    Testimony,
    TestimonyState,
    Transcript,
)
from intake.records import audit, jobs
from intake.review import access_copies, redaction_marks, transcripts

# Where marks can still change (as `intake.review.review.OPEN_STATES`).
_REVIEW_STATES = frozenset({TestimonyState.transcribed, TestimonyState.in_review})
# A word of the approved text: a run of characters between white space.
_WORD = re.compile(r"\S+")
# Audio taken on each side of a segment's own times when it is aligned: the machine's segment
# bounds can clip a corrected word's first or last sound.
WINDOW_PAD_S = 0.4
# The states after which the marks are final and an access copy exists or is coming.
_COPY_STATES = frozenset(
    {
        TestimonyState.transcript_approved,
        TestimonyState.in_translation,
        TestimonyState.translation_review,
        TestimonyState.approved,
        TestimonyState.archived,
    }
)


@dataclass(frozen=True)
class TextWord:
    """A word of a segment's text with its character offsets (end exclusive)."""

    text: str
    char_start: int
    char_end: int


@dataclass(frozen=True)
class AlignedWord:
    """A word of the approved text with the time it is spoken (seconds into its recording)
    and the model's probability for its tokens."""

    text: str
    char_start: int
    char_end: int
    start: float
    end: float
    probability: float

    def as_list(self) -> list[object]:
        """The stored form: [start, end, word, probability, char_start, char_end]."""
        return [
            round(self.start, 3),
            round(self.end, 3),
            self.text,
            round(self.probability, 4),
            self.char_start,
            self.char_end,
        ]


def approved_words(text: str) -> list[TextWord]:
    """The words of a segment's text as the export counts them: runs between white space."""
    return [TextWord(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]


@dataclass(frozen=True)
class Pending:
    """A segment whose text has no current alignment: what the worker needs to align it."""

    segment_id: int
    audio_file_id: int
    language: str
    window_start: float
    window_end: float
    text: str
    words: list[TextWord]


def _open(key: bytes, row: SegmentAlignment) -> tuple[str, list[AlignedWord]]:
    data = sealing.open_alignment(key, row.testimony_id, row.segment_id, row.sealed)
    words = [
        AlignedWord(str(w[2]), int(w[4]), int(w[5]), float(w[0]), float(w[1]), float(w[3]))
        for w in data["words"]
    ]
    return str(data["text"]), words


def current_words(
    key: bytes, segment: Segment, text: str, row: SegmentAlignment | None
) -> list[AlignedWord] | None:
    """The segment's aligned words if they were aligned from `text` (its current text), else
    None: a corrected segment waits for its new alignment."""
    if row is None:
        return None
    aligned_text, words = _open(key, row)
    return words if aligned_text == text else None


def alignments_of(session: Session, segment_ids: Iterable[int]) -> dict[int, SegmentAlignment]:
    """The stored alignment rows of these segments, by segment id."""
    ids = list(segment_ids)
    if not ids:
        return {}
    rows = session.scalars(select(SegmentAlignment).where(SegmentAlignment.segment_id.in_(ids)))
    return {row.segment_id: row for row in rows}


def pending(session: Session, keyring: Keyring, testimony_id: int) -> list[Pending]:
    """Every segment of the testimony whose current text has no current alignment, in file
    and time order."""
    testimony = session.get(Testimony, testimony_id)
    if testimony is None or testimony.wrapped_key is None:
        return []
    key = transcripts.testimony_key(keyring, testimony)
    rows = session.execute(
        select(Segment, Transcript, AudioFile)
        .join(Transcript, Transcript.id == Segment.transcript_id)
        .join(AudioFile, AudioFile.id == Transcript.audio_file_id)
        .where(Transcript.testimony_id == testimony_id)
        .order_by(AudioFile.position, Segment.position)
    ).all()
    stored = alignments_of(session, (seg.id for seg, _, _ in rows))
    found = []
    for seg, transcript, audio in rows:
        text = transcripts.unseal_segment(key, seg).text
        if current_words(key, seg, text, stored.get(seg.id)) is not None:
            continue
        found.append(
            Pending(
                segment_id=seg.id,
                audio_file_id=audio.id,
                language=transcript.language,
                window_start=max(0.0, seg.start_s - WINDOW_PAD_S),
                window_end=min(
                    audio.duration_s or seg.end_s + WINDOW_PAD_S, seg.end_s + WINDOW_PAD_S
                ),
                text=text,
                words=approved_words(text),
            )
        )
    return found


def from_machine_words(text: str, machine: Sequence[Sequence[object]]) -> list[AlignedWord] | None:
    """The machine's own word times, when the text is still exactly the machine's words (a
    segment approved unchanged): Whisper timed those words by the same alignment, so no model
    run is needed. None as soon as one word differs, or the words are split otherwise."""
    words = approved_words(text)
    heard = [str(w[2]).strip() for w in machine]
    if [w.text for w in words] != heard:
        return None
    return [
        AlignedWord(
            w.text,
            w.char_start,
            w.char_end,
            float(m[0]),  # type: ignore[arg-type]
            max(float(m[1]), float(m[0])),  # type: ignore[arg-type]
            float(m[3]),  # type: ignore[arg-type]
        )
        for w, m in zip(words, machine, strict=True)
    ]


def align_unchanged(session: Session, keyring: Keyring, testimony_id: int, model_name: str) -> int:
    """Store, without the model, the alignment of every waiting segment whose text is still
    the machine's words (`from_machine_words`); returns how many. The rest need the model."""
    testimony = session.get(Testimony, testimony_id)
    if testimony is None or testimony.wrapped_key is None:
        return 0
    key = transcripts.testimony_key(keyring, testimony)
    stored = 0
    for item in pending(session, keyring, testimony_id):
        seg = session.get(Segment, item.segment_id)
        assert seg is not None
        words = from_machine_words(item.text, transcripts.unseal_segment(key, seg).words)
        if words is not None and store(session, keyring, seg.id, item.text, words, model_name):
            stored += 1
    return stored


def request_alignment(session: Session, testimony_id: int, actor: Actor | str) -> Job | None:
    """Queue the alignment of the testimony's saved segments, in the caller's transaction; call
    it after any change of a segment's text. None when a queued job will already read the
    change, or the testimony is withdrawn. Aligning twice is harmless: a current alignment is
    kept."""
    testimony = session.get(Testimony, testimony_id)
    if testimony is None or testimony.wrapped_key is None:
        return None
    requested = Action.alignment_requested
    return jobs.enqueue_once(session, testimony_id, JobKind.align, actor, requested)


def mark_times(
    words: Sequence[AlignedWord], char_start: int, char_end: int
) -> tuple[float, float] | None:
    """The time a marked span of the text is spoken: from the first to the last aligned word
    it touches; None when it touches none."""
    covered = [w for w in words if w.char_start < char_end and w.char_end > char_start]
    if not covered:
        return None
    return min(w.start for w in covered), max(w.end for w in covered)


def store(
    session: Session,
    keyring: Keyring,
    segment_id: int,
    text: str,
    words: Sequence[AlignedWord],
    model_name: str,
    actor: Actor | str = Actor.worker,
) -> bool:
    """Store the alignment of `segment_id` made from `text`, if that is still its text, and
    move its marks onto the aligned times; queue a new access copy when a mark moved. Returns
    False (storing nothing) when the segment is gone or its text changed meanwhile."""
    seg = session.get(Segment, segment_id)
    transcript = session.get(Transcript, seg.transcript_id) if seg else None
    testimony = session.get(Testimony, transcript.testimony_id) if transcript else None
    if seg is None or testimony is None or testimony.wrapped_key is None:
        return False
    key = transcripts.testimony_key(keyring, testimony)
    if transcripts.unseal_segment(key, seg).text != text:
        return False
    expected = approved_words(text)
    if [(w.text, w.char_start, w.char_end) for w in words] != [
        (w.text, w.char_start, w.char_end) for w in expected
    ]:
        raise ValueError(f"segment {segment_id}: the aligned words are not the text's words")
    payload = {"text": text, "words": [w.as_list() for w in words]}
    sealed = sealing.seal_alignment(key, testimony.id, seg.id, payload)
    row = session.scalar(select(SegmentAlignment).where(SegmentAlignment.segment_id == seg.id))
    if row is None:
        row = SegmentAlignment(testimony_id=testimony.id, segment_id=seg.id)
        session.add(row)
    row.sealed, row.model_name = sealed, model_name
    moved = 0
    for mark in redaction_marks.of_segments(session, [seg.id]).get(seg.id, []):
        times = mark_times(words, mark.char_start, mark.char_end)
        if times is not None and (mark.start_s, mark.end_s) != times:
            mark.start_s, mark.end_s = times
            moved += 1
    session.flush()
    audit.record_event(
        session,
        testimony.id,
        actor,
        Action.words_aligned,
        detail={"segment": seg.id, "words": len(words), "marks_moved": moved},
    )
    if moved and testimony.state in _COPY_STATES:
        access_copies.request_access_copy(session, testimony.id, actor)
    return True


def forget(session: Session, segment_ids: Iterable[int]) -> None:
    """Delete the alignments of segments about to be deleted (a merge removes one)."""
    ids = list(segment_ids)
    if ids:
        session.execute(delete(SegmentAlignment).where(SegmentAlignment.segment_id.in_(ids)))


def mark_span_times(
    session: Session, key: bytes, segment: Segment, text: str, char_start: int, char_end: int
) -> tuple[float, float] | None:
    """The aligned time of a span of the segment's current text, when its alignment is
    current (for a mark made after the alignment)."""
    row = session.scalar(select(SegmentAlignment).where(SegmentAlignment.segment_id == segment.id))
    words = current_words(key, segment, text, row)
    return mark_times(words, char_start, char_end) if words else None


def unaligned(session: Session, keyring: Keyring, testimony: Testimony) -> int:
    """How many of the testimony's segments wait for an alignment of their current text."""
    return len(pending(session, keyring, testimony.id))


def set_padding(
    session: Session,
    testimony: Testimony,
    mark_id: int,
    before_s: float,
    after_s: float,
    actor: str,
    limit_s: float,
) -> RedactionMark:
    """A reviewer widens a mark's audio span by ear: `before_s` and `after_s` seconds more on
    each side (0 to `limit_s`), while the review is open, as marks are made. ValueError
    "pad_range" for a value outside that range, "closed" after the review; LookupError for a
    mark of another record."""
    mark = session.get(RedactionMark, mark_id)
    if mark is None or mark.testimony_id != testimony.id:
        raise LookupError(f"no mark {mark_id} on {testimony.pseudonym}")
    if testimony.state not in _REVIEW_STATES:
        raise ValueError("closed")
    for value in (before_s, after_s):
        if not (0.0 <= value <= limit_s):  # also refuses NaN
            raise ValueError("pad_range")
    if (mark.pad_before_s, mark.pad_after_s) == (before_s, after_s):
        return mark
    mark.pad_before_s, mark.pad_after_s = before_s, after_s
    audit.record_event(
        session,
        testimony.id,
        actor,
        Action.redaction_mark_widened,
        detail={"mark": mark.id, "before_s": before_s, "after_s": after_s},
    )
    return mark


@dataclass(frozen=True)
class EditorWord:
    """An aligned word as the review editor shows it: whether a mark's silence covers it."""

    text: str
    start: float
    end: float
    silenced: bool


@dataclass(frozen=True)
class MarkSpan:
    """Where a mark's silence will fall: its aligned span, and what the reviewer added."""

    start: float
    end: float
    pad_before_s: float
    pad_after_s: float


@dataclass(frozen=True)
class EditorAlignment:
    """The aligned words of the segments on an editor page (None: waiting for alignment),
    and each mark's span by mark id."""

    words: dict[int, list[EditorWord] | None]
    marks: dict[int, MarkSpan]


def for_editor(
    session: Session, keyring: Keyring, testimony: Testimony, segment_ids: Sequence[int]
) -> EditorAlignment:
    """What the review editor shows of the alignment of these segments, so a reviewer sees
    where each mark's silence will fall (the configured margin not included)."""
    key = transcripts.testimony_key(keyring, testimony)
    rows = alignments_of(session, segment_ids)
    marks = redaction_marks.of_segments(session, segment_ids)
    words: dict[int, list[EditorWord] | None] = {}
    for seg_id in segment_ids:
        seg = session.get(Segment, seg_id)
        if seg is None:
            continue
        text = transcripts.unseal_segment(key, seg).text
        aligned = current_words(key, seg, text, rows.get(seg_id))
        own = marks.get(seg_id, [])
        words[seg_id] = (
            None
            if aligned is None
            else [
                EditorWord(
                    w.text,
                    w.start,
                    w.end,
                    any(
                        m.start_s - m.pad_before_s < w.end and m.end_s + m.pad_after_s > w.start
                        for m in own
                    ),
                )
                for w in aligned
            ]
        )
    spans = {
        m.id: MarkSpan(m.start_s, m.end_s, m.pad_before_s or 0.0, m.pad_after_s or 0.0)
        for own in marks.values()
        for m in own
    }
    return EditorAlignment(words, spans)
