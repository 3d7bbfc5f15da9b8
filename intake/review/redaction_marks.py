"""Redaction marks: spans of a segment's text to hide, with the recording times they cover.

A mark stores character offsets into the segment's current text and the start and end of
the timed words it covers, never the words: the text stays sealed in the segment. Whoever
builds a redacted copy (text with the span replaced, audio with the span silenced) reads the
marks through `marks_for`, which needs no key. When a reviewer corrects the text, `reanchor`
moves each mark onto the same words in the new text, or drops it when those words are gone.

Suggestions come from the submitter's "names and details to remove", matched in the text
with `intake.review.normalise`, so a name typed with Arabic letters, a ZWNJ or other digits is
found.

The review actions that create and remove marks (version check, events) are in
`intake.review.review` (`mark_span`, `unmark`); this module holds what they and the export share.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake import sealing
from intake.models import (
    AudioFile,
    RedactionCategory,
    RedactionMark,
    Segment,
    Testimony,
    Transcript,
    TranslationMark,
    TranslationSegment,
)
from intake.review import normalise
from intake.review.transcripts import word_spans


class MarkError(Exception):
    """A mark that cannot be made or removed; `reason` is a stable code for the message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Span:
    """A span of a text as a page shows it: a redaction mark (with its id and category) or a
    suggestion (without an id; with the category its source suggests, if any)."""

    start: int
    end: int
    text: str
    category: RedactionCategory | None = None
    id: int | None = None


def highlighted(text: str, marks: Iterable[Span]) -> Markup:
    """`text` with its marked spans in <mark class="redact">, each piece escaped."""
    out, at = [], 0
    for span in marks:
        out.append(escape(text[at : span.start]))
        out.append(
            Markup('<mark class="redact cat-%s">%s</mark>')
            % (span.category or "other", text[span.start : span.end])
        )
        at = span.end
    out.append(escape(text[at:]))
    return Markup("").join(out)


@dataclass(frozen=True)
class Mark:
    """One redaction mark as the redacted copies need it: times within its recording, the
    category, and the span of the segment's text (offsets into the unsealed text)."""

    start_s: float
    end_s: float
    category: RedactionCategory
    segment_id: int
    char_start: int
    char_end: int
    audio_file_id: int
    id: int
    # Seconds a reviewer added by ear on each side of the aligned span.
    pad_before_s: float = 0.0
    pad_after_s: float = 0.0


def marks_for(session: Session, testimony_id: int) -> list[Mark]:
    """Every redaction mark of a testimony, in recording and time order.

    For the redacted access copies: `start_s`/`end_s` are seconds into the recording
    `audio_file_id` (silence them in the audio); `char_start`/`char_end` index the text of
    segment `segment_id` as `transcripts.unseal_segment` returns it (replace them in the
    text). Reading marks opens nothing.
    """
    rows = session.execute(
        select(RedactionMark, Transcript.audio_file_id)
        .join(Segment, Segment.id == RedactionMark.segment_id)
        .join(Transcript, Transcript.id == Segment.transcript_id)
        .join(AudioFile, AudioFile.id == Transcript.audio_file_id)
        .where(RedactionMark.testimony_id == testimony_id)
        .order_by(AudioFile.position, RedactionMark.start_s, RedactionMark.char_start)
    ).all()
    return [
        Mark(
            m.start_s,
            m.end_s,
            m.category,
            m.segment_id,
            m.char_start,
            m.char_end,
            audio,
            m.id,
            m.pad_before_s or 0.0,
            m.pad_after_s or 0.0,
        )
        for m, audio in rows
    ]


def of_segments(session: Session, segment_ids: Iterable[int]) -> dict[int, list[RedactionMark]]:
    """The marks of each of these segments, in text order."""
    return grouped(session, RedactionMark, "segment_id", segment_ids)


def grouped(session: Session, model: type[Any], parent: str, ids: Iterable[int]) -> dict[int, Any]:
    """The rows of a mark table (`RedactionMark`, `TranslationMark`) for each of these ids of
    the `parent` column (the text they mark), in text order."""
    found: dict[int, list[Any]] = {}
    wanted = list(ids)
    if not wanted:
        return found
    column = getattr(model, parent)
    for mark in session.scalars(
        select(model).where(column.in_(wanted)).order_by(column, model.char_start)
    ):
        found.setdefault(getattr(mark, parent), []).append(mark)
    return found


def of_translations(session: Session, testimony_id: int) -> dict[int, list[TranslationMark]]:
    """Every mark of the testimony's translations, by translation id, in text order. Reading
    marks opens nothing."""
    ids = session.scalars(
        select(TranslationSegment.id).where(TranslationSegment.testimony_id == testimony_id)
    )
    return grouped(session, TranslationMark, "translation_id", ids)


def unmatched(source: Iterable[Any], translated: Iterable[Any]) -> tuple[RedactionCategory, ...]:
    """The categories the source segment's marks hide and its translation's marks do not: a
    name hidden in the transcript must not be published by its translation."""
    have = {m.category for m in translated}
    return tuple(dict.fromkeys(m.category for m in source if m.category not in have))


def span_times(
    text: str,
    words: Sequence[Sequence[Any]],
    seg_start: float,
    seg_end: float,
    start: int,
    end: int,
) -> tuple[float, float]:
    """The recording times a span of `text` covers: from the first to the last timed word it
    touches; where no timed word is left (the reviewer rewrote them) the segment's time is
    shared out by characters, so the span still maps to about the right stretch of audio."""
    spans = word_spans(text, words)
    covered = [
        w for w, sp in zip(words, spans, strict=True) if sp and sp[0] < end and sp[1] > start
    ]
    if covered:
        return float(covered[0][0]), float(covered[-1][1])
    length = max(len(text), 1)
    duration = seg_end - seg_start
    return seg_start + duration * start / length, seg_start + duration * end / length


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _overlaps(start: int, end: int, marks: Iterable[Any]) -> bool:
    return any(m.char_start < end and m.char_end > start for m in marks)


def locate(
    text: str,
    wanted: str,
    existing: Sequence[Any],
    start: int | None = None,
    end: int | None = None,
) -> tuple[int, int]:
    """The span to mark: the offsets a browser selection gave when they still hold `wanted`,
    else the first unmarked occurrence of `wanted` (compared normalised). MarkError else."""
    if start is not None and end is not None and 0 <= start < end <= len(text):
        start, end = _trim(text, start, end)
        same = normalise.normalise(text[start:end]) == normalise.normalise(wanted)
        if start < end and (not wanted or same):
            return start, end
    if not wanted.strip():
        raise MarkError("no_span")
    occurrences = normalise.find(text, wanted)
    for found in occurrences:
        if not _overlaps(*found, existing):
            return found
    raise MarkError("overlap" if occurrences else "not_in_text")


def checked_span(text: str, start: int, end: int, existing: Iterable[Any]) -> tuple[int, int]:
    """`text[start:end]` without its outer spaces, if it is a span of the text that no mark in
    `existing` touches; MarkError ("no_span", "overlap") else."""
    if not 0 <= start < end <= len(text):
        raise MarkError("no_span")
    start, end = _trim(text, start, end)
    if start >= end:
        raise MarkError("no_span")
    if _overlaps(start, end, existing):
        raise MarkError("overlap")
    return start, end


def new_mark(
    testimony: Testimony,
    segment: Segment,
    text: str,
    words: Sequence[Sequence[Any]],
    start: int,
    end: int,
    category: RedactionCategory,
    existing: Sequence[RedactionMark],
    actor: str,
) -> RedactionMark:
    """A mark on `text[start:end]` of `segment` (not yet added to the session)."""
    start, end = checked_span(text, start, end, existing)
    start_s, end_s = span_times(text, words, segment.start_s, segment.end_s, start, end)
    return RedactionMark(
        testimony_id=testimony.id,
        segment_id=segment.id,
        char_start=start,
        char_end=end,
        start_s=start_s,
        end_s=end_s,
        category=category,
        created_by=actor,
    )


def reanchor(
    session: Session,
    segment: Segment,
    old_text: str,
    new_text: str,
    words: Sequence[Sequence[Any]],
) -> int:
    """Move the segment's marks onto the same words in its corrected text (the occurrence
    nearest the old place); delete those whose words are gone. Returns how many went."""
    dropped = 0
    for mark in of_segments(session, [segment.id]).get(segment.id, []):
        moved = relocate(old_text, new_text, mark.char_start, mark.char_end)
        if moved is None:
            session.delete(mark)
            dropped += 1
            continue
        start, end = moved
        mark.char_start, mark.char_end = start, end
        mark.start_s, mark.end_s = span_times(
            new_text, words, segment.start_s, segment.end_s, start, end
        )
    return dropped


def relocate(old_text: str, new_text: str, start: int, end: int) -> tuple[int, int] | None:
    """Where the words at `old_text[start:end]` stand in `new_text` (the occurrence nearest
    the old place, compared as written, else normalised); None when they are gone."""
    piece = old_text[start:end]
    found = [(i, i + len(piece)) for i in _all(new_text, piece)] or normalise.find(new_text, piece)
    if not found:
        return None
    return min(found, key=lambda span: abs(span[0] - start))


def _all(text: str, piece: str) -> list[int]:
    found: list[int] = []
    at = text.find(piece) if piece else -1
    while at >= 0:
        found.append(at)
        at = text.find(piece, at + 1)
    return found


def removal_terms(key: bytes, testimony: Testimony) -> list[str]:
    """The separate names and details the submitter asked to remove (opened with the key)."""
    if not testimony.removal_notes:
        return []
    notes = sealing.open_removal_notes(key, testimony.id, testimony.removal_notes)
    return normalise.terms(notes)


def suggest(text: str, terms: Sequence[str], existing: Sequence[Any]) -> list[tuple[int, int]]:
    """Spans of `text` that match a removal term and are not marked yet, in text order."""
    spans = {
        span
        for term in terms
        for span in normalise.find(text, term)
        if not _overlaps(*span, existing)
    }
    return sorted(spans)
