"""The transcript's domain: storing machine transcripts and reading and writing segment text.

Plain functions on a session and ids, so that the worker that stores a machine transcript and
the staff app that corrects it share one definition of how a segment is sealed. Segment text
and word timings are sealed with the testimony's key, bound to the segment's place; the
confidence figures stay in clear so queues can sort by them without opening content.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from intake import sealing
from intake.crypto import Keyring
from intake.events import Action, Actor
from intake.models import (
    AudioFile,
    Job,
    JobKind,
    ReviewState,
    Segment,
    Testimony,
    TestimonyState,
    Transcript,
)
from intake.records import audit, lifecycle


class WordLike(Protocol):
    """A recognised word with its timing and probability (the engine's Word)."""

    start: float
    end: float
    word: str
    probability: float


class SegmentLike(Protocol):
    """A recognised segment (the engine's Segment)."""

    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float

    @property
    def words(self) -> Sequence[WordLike]: ...


class ResultLike(Protocol):
    """What the engine returns for one file: language, duration and segments."""

    @property
    def language(self) -> str: ...

    @property
    def language_probability(self) -> float | None: ...

    @property
    def duration_s(self) -> float: ...

    @property
    def segments(self) -> Sequence[SegmentLike]: ...


@dataclass(frozen=True)
class SegmentText:
    """The unsealed content of one segment: its text and its words [start, end, word, p]."""

    text: str
    words: list[list[Any]]


def testimony_key(keyring: Keyring, testimony: Testimony) -> bytes:
    """The testimony's data key; a withdrawn testimony has none and raises LookupError."""
    if testimony.wrapped_key is None:
        raise LookupError(f"{testimony.pseudonym} has no key (withdrawn)")
    return sealing.testimony_key(keyring, testimony.wrapped_key)


def audio_key(keyring: Keyring, testimony: Testimony, audio_file: AudioFile) -> bytes:
    """The data key of one of the testimony's audio files (LookupError once withdrawn)."""
    if testimony.wrapped_key is None:
        raise LookupError(f"{testimony.pseudonym} has no key (withdrawn)")
    return sealing.audio_key(keyring, testimony.wrapped_key, audio_file.sealed_key)


def seal_segment(key: bytes, transcript_id: int, position: int, content: SegmentText) -> bytes:
    """Seal a segment's text and words for its place."""
    payload = {"text": content.text, "words": content.words}
    return sealing.seal_segment(key, transcript_id, position, payload)


def unseal_segment(key: bytes, segment: Segment) -> SegmentText:
    """Open a sealed segment with the testimony's key."""
    data = sealing.open_segment(key, segment.transcript_id, segment.position, segment.sealed)
    return SegmentText(text=data["text"], words=data.get("words", []))


def add_transcript(
    session: Session,
    keyring: Keyring,
    testimony: Testimony,
    audio_file_id: int,
    job_id: int | None,
    result: ResultLike,
    model_name: str,
    actor: Actor,
) -> Transcript | None:
    """Store the machine transcript of one file with its sealed segments.

    Returns None, leaving the session as it was, when the file has a transcript already (an
    earlier delivery of the same job finished first): one transcript per file.
    """
    key = testimony_key(keyring, testimony)
    transcript = Transcript(
        testimony_id=testimony.id,
        audio_file_id=audio_file_id,
        job_id=job_id,
        language=result.language,
        language_probability=result.language_probability,
        duration_s=result.duration_s,
        model_name=model_name,
    )
    try:
        with session.begin_nested():
            session.add(transcript)
            session.flush()
    except IntegrityError:
        return None
    for position, seg in enumerate(result.segments):
        content = SegmentText(
            text=seg.text, words=[[w.start, w.end, w.word, w.probability] for w in seg.words]
        )
        session.add(
            Segment(
                transcript_id=transcript.id,
                position=position,
                start_s=seg.start,
                end_s=seg.end,
                sealed=seal_segment(key, transcript.id, position, content),
                avg_logprob=seg.avg_logprob,
                no_speech_prob=seg.no_speech_prob,
                min_word_probability=min((w.probability for w in seg.words), default=None),
                word_probabilities=[round(float(w.probability), 4) for w in seg.words],
                review_state=ReviewState.machine,
            )
        )
    if testimony.detected_language is None:
        testimony.detected_language = result.language
    audit.record_event(
        session,
        testimony.id,
        actor,
        Action.transcript_stored,
        detail={"job": job_id, "audio_file": audio_file_id, "segments": len(result.segments)},
    )
    return transcript


def finish_if_complete(session: Session, testimony: Testimony, actor: Actor) -> None:
    """Move to `transcribed` when every file has a transcript. (Machine translation drafts
    wait for the approved transcript: `intake.review.translation.queue_drafts`.)"""
    files = session.scalar(
        select(func.count()).select_from(AudioFile).where(AudioFile.testimony_id == testimony.id)
    )
    done = session.scalar(
        select(func.count()).select_from(Transcript).where(Transcript.testimony_id == testimony.id)
    )
    if files != done or testimony.state != TestimonyState.transcribing:
        if testimony.state == TestimonyState.transcribing:
            testimony.progress = (done or 0) / max(files or 1, 1)
        return
    testimony.progress = 1.0
    lifecycle.transition(session, testimony, TestimonyState.transcribed, actor, Action.transcribed)


def note_progress(session: Session, job_id: int, fraction: float) -> None:
    """Note the testimony's progress while job `job_id` transcribes one of its files: whole
    files already transcribed plus `fraction` of this one (what the submitter's page shows)."""
    job = session.get(Job, job_id)
    if job is None or job.kind != JobKind.transcribe or job.testimony_id is None:
        return  # a machine draft or an export is not the transcription the submitter sees
    testimony = session.get(Testimony, job.testimony_id)
    if testimony is None:
        return
    files = session.scalar(
        select(func.count()).select_from(AudioFile).where(AudioFile.testimony_id == testimony.id)
    )
    done = session.scalar(
        select(func.count()).select_from(Transcript).where(Transcript.testimony_id == testimony.id)
    )
    total = max(files or 1, 1)
    testimony.progress = min(((done or 0) + min(fraction, 1.0)) / total, 1.0)


def word_spans(text: str, words: Sequence[Sequence[Any]]) -> list[tuple[int, int] | None]:
    """Where each timed word [start, end, word, p] sits in `text`, as character offsets.

    Words are looked for in order, each after the previous one, so a corrected text still
    finds the words it kept; a word the reviewer changed or removed gets None. This is what
    ties a span of text (a redaction mark, a split point) to the recording's timestamps.
    """
    spans: list[tuple[int, int] | None] = []
    cursor = 0
    for word in words:
        token = str(word[2]).strip()
        at = text.find(token, cursor) if token else -1
        if at < 0:
            spans.append(None)
            continue
        spans.append((at, at + len(token)))
        cursor = at + len(token)
    return spans


def page_of_segment(session: Session, segment_id: int, per_page: int) -> int:
    """Which page of `per_page` segments, counted over every file of the testimony in order,
    shows `segment_id` (the review editor and the translation workbench page alike)."""
    seg = session.get(Segment, segment_id)
    transcript = session.get(Transcript, seg.transcript_id) if seg else None
    if seg is None or transcript is None:
        return 1
    audio = session.get(AudioFile, transcript.audio_file_id)
    before = session.scalar(
        select(func.count())
        .select_from(Segment)
        .join(Transcript, Transcript.id == Segment.transcript_id)
        .join(AudioFile, AudioFile.id == Transcript.audio_file_id)
        .where(
            Transcript.testimony_id == transcript.testimony_id,
            (AudioFile.position < (audio.position if audio else 0))
            | ((AudioFile.id == transcript.audio_file_id) & (Segment.position < seg.position)),
        )
    )
    return (before or 0) // per_page + 1
