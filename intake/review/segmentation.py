"""Splitting a segment in two and merging two neighbours, keeping the word timings.

A sealed segment is bound to its transcript and position (see `intake.sealing`), so when a
split or a merge moves the segments after it, each moved segment is opened at its old place
and sealed again at its new one, in the same transaction: a crash leaves the old order whole.
The transcript row is locked first, so two splits of one transcript never number the same
place twice. Both versions are checked, the segments touched become `edited` by the actor
(four eyes: someone else approves them), redaction marks follow their words, and an event
with ids only is written.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.crypto import Keyring
from intake.events import Action
from intake.models import RedactionMark, ReviewState, Segment, Testimony, Transcript
from intake.records import audit
from intake.review import alignment, normalise, redaction_marks, transcripts
from intake.review.review import ReviewError, segment_for_change, start_review
from intake.review.transcripts import SegmentText, word_spans


def snap(text: str, at: int) -> int:
    """The word boundary nearest to character `at`: a cursor inside a word moves to the
    word's start or end, whichever is closer."""
    at = min(max(at, 0), len(text))
    if at in (0, len(text)) or text[at - 1].isspace() or text[at].isspace():
        return at
    left = at
    while left > 0 and not text[left - 1].isspace():
        left -= 1
    right = at
    while right < len(text) and not text[right].isspace():
        right += 1
    return left if at - left <= right - at else right


def _probabilities(words: list[list[Any]]) -> list[float]:
    return [round(float(w[3]), 4) for w in words]


def _shift(session: Session, key: bytes, transcript_id: int, after: int, step: int) -> None:
    """Move every segment after position `after` by `step`, re-sealing each at its new place.
    Moved in the order that never puts two segments on one position at a time."""
    moving = session.scalars(
        select(Segment)
        .where(Segment.transcript_id == transcript_id, Segment.position > after)
        .order_by(Segment.position.desc() if step > 0 else Segment.position)
        .with_for_update()
    ).all()
    for seg in moving:
        content = transcripts.unseal_segment(key, seg)
        seg.position += step
        seg.sealed = transcripts.seal_segment(key, transcript_id, seg.position, content)
        session.flush()


def _set_content(key: bytes, seg: Segment, content: SegmentText, actor: str) -> None:
    seg.sealed = transcripts.seal_segment(key, seg.transcript_id, seg.position, content)
    probabilities = _probabilities(content.words)
    seg.word_probabilities = probabilities
    seg.min_word_probability = min(probabilities, default=None)
    seg.review_state = ReviewState.edited
    seg.edited_by = actor
    seg.approved_by = None


def split(
    session: Session,
    keyring: Keyring,
    testimony: Testimony,
    segment_id: int,
    version: int,
    actor: str,
    at: int | None = None,
    before: str = "",
) -> tuple[Segment, Segment]:
    """Split a segment at character `at` (snapped to a word boundary), or before the first
    occurrence of the words `before` when no offset is given. Words before the point stay,
    the rest go to a new segment placed right after; the cut time is the first moved word's
    start. ReviewError: "stale", "split_where" (no point found), "split_edge" (nothing on
    one side). The first half ends with its last word, the second starts with its first."""
    seg = segment_for_change(session, testimony, segment_id)
    if seg.version != version:
        raise ReviewError("stale")
    session.get(Transcript, seg.transcript_id, with_for_update=True)
    key = transcripts.testimony_key(keyring, testimony)
    content = transcripts.unseal_segment(key, seg)
    text = content.text
    if at is None:
        found = normalise.find(text, before) if before.strip() else []
        if not found:
            raise ReviewError("split_where")
        at = found[0][0]
    at = snap(text, at)
    left_text, right_raw = text[:at].rstrip(), text[at:]
    right_text = right_raw.lstrip()
    if not left_text or not right_text:
        raise ReviewError("split_edge")
    right_from = at + len(right_raw) - len(right_text)
    spans = word_spans(text, content.words)
    cut_index = next(
        (i for i, sp in enumerate(spans) if sp is not None and sp[0] >= right_from),
        len(content.words),
    )
    left_words, right_words = content.words[:cut_index], content.words[cut_index:]
    if right_words:
        cut = float(right_words[0][0])
    else:
        cut = seg.start_s + (seg.end_s - seg.start_s) * at / max(len(text), 1)
    cut = min(max(cut, seg.start_s), seg.end_s)
    # The pause between the halves belongs to neither: the first half ends where its last
    # word ends, so replaying it does not run on into silence (or the next words' breath).
    left_end = cut
    if left_words and right_words:
        last_end = float(left_words[-1][1])
        if seg.start_s < last_end < cut:
            left_end = last_end

    start_review(session, testimony, actor)
    _shift(session, key, seg.transcript_id, seg.position, 1)
    before_state = seg.review_state
    new = Segment(
        transcript_id=seg.transcript_id,
        position=seg.position + 1,
        start_s=cut,
        end_s=seg.end_s,
        sealed=b"",
        avg_logprob=seg.avg_logprob,
        no_speech_prob=seg.no_speech_prob,
        review_state=ReviewState.edited,
        version=1,
    )
    _set_content(key, new, SegmentText(right_text, right_words), actor)
    session.add(new)
    seg.end_s = left_end
    _set_content(key, seg, SegmentText(left_text, left_words), actor)
    seg.version += 1
    session.flush()
    _split_marks(session, testimony, (seg, new), text, (left_words, right_words), at, right_from)
    audit.record_event(
        session,
        testimony.id,
        actor,
        Action.segment_split,
        detail={
            "segment": seg.id,
            "new_segment": new.id,
            "transcript": seg.transcript_id,
            "version": seg.version,
            "from": before_state.value,
            "to": seg.review_state.value,
        },
    )
    alignment.request_alignment(session, testimony.id, actor)
    return seg, new


def _split_marks(
    session: Session,
    testimony: Testimony,
    pair: tuple[Segment, Segment],
    text: str,
    words: tuple[list[list[Any]], list[list[Any]]],
    at: int,
    right_from: int,
) -> None:
    """Marks after the point move to the new segment; one across it is cut in two."""
    left, right = pair
    left_words, right_words = words
    left_text, right_text = text[:at].rstrip(), text[right_from:]
    for mark in redaction_marks.of_segments(session, [left.id]).get(left.id, []):
        start, end = mark.char_start, mark.char_end
        if start < at and end > right_from:
            session.add(
                RedactionMark(
                    testimony_id=testimony.id,
                    segment_id=right.id,
                    char_start=0,
                    char_end=end - right_from,
                    start_s=right.start_s,
                    end_s=mark.end_s,
                    category=mark.category,
                    created_by=mark.created_by,
                )
            )
            mark.char_end = len(left_text)
            mark.end_s = min(mark.end_s, left.end_s)
        elif start >= right_from:
            mark.segment_id = right.id
            mark.char_start, mark.char_end = start - right_from, end - right_from
            mark.start_s, mark.end_s = redaction_marks.span_times(
                right_text, right_words, right.start_s, right.end_s, *_pair(mark)
            )
        else:
            mark.char_end = min(end, len(left_text))
            mark.start_s, mark.end_s = redaction_marks.span_times(
                left_text, left_words, left.start_s, left.end_s, *_pair(mark)
            )


def _pair(mark: RedactionMark) -> tuple[int, int]:
    return mark.char_start, mark.char_end


def merge(
    session: Session,
    keyring: Keyring,
    testimony: Testimony,
    segment_id: int,
    version: int,
    next_version: int,
    actor: str,
) -> Segment:
    """Merge a segment with the one right after it in the same recording: texts joined by a
    space, words and marks kept, the later segment removed and those after it moved up.
    ReviewError: "stale" when either changed since the editor read them, "no_next"."""
    seg = segment_for_change(session, testimony, segment_id)
    session.get(Transcript, seg.transcript_id, with_for_update=True)
    following = session.scalars(
        select(Segment)
        .where(Segment.transcript_id == seg.transcript_id, Segment.position == seg.position + 1)
        .with_for_update()
    ).first()
    if following is None:
        raise ReviewError("no_next")
    if seg.version != version or following.version != next_version:
        raise ReviewError("stale")
    key = transcripts.testimony_key(keyring, testimony)
    first, second = transcripts.unseal_segment(key, seg), transcripts.unseal_segment(key, following)
    offset = len(first.text) + 1
    start_review(session, testimony, actor)
    before_state = seg.review_state
    for mark in redaction_marks.of_segments(session, [following.id]).get(following.id, []):
        mark.segment_id = seg.id
        mark.char_start += offset
        mark.char_end += offset
    seg.end_s = following.end_s
    seg.avg_logprob = (seg.avg_logprob + following.avg_logprob) / 2
    seg.no_speech_prob = min(seg.no_speech_prob, following.no_speech_prob)
    _set_content(
        key, seg, SegmentText(f"{first.text} {second.text}", first.words + second.words), actor
    )
    seg.version += 1
    removed_id, removed_position = following.id, following.position
    session.flush()
    alignment.forget(session, [following.id])
    session.delete(following)
    session.flush()
    _shift(session, key, seg.transcript_id, removed_position, -1)
    audit.record_event(
        session,
        testimony.id,
        actor,
        Action.segments_merged,
        detail={
            "segment": seg.id,
            "removed": removed_id,
            "transcript": seg.transcript_id,
            "version": seg.version,
            "from": before_state.value,
            "to": seg.review_state.value,
        },
    )
    alignment.request_alignment(session, testimony.id, actor)
    return seg
