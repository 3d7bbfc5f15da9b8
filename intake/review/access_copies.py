"""Redacted public access copies: made from the reviewers' marks, stored encrypted, made again
when the marks change.

One copy per audio file of a testimony: the access audio with every marked span silenced (or
a tone) and, where an archivist chose it, the voice disguised (`intake.redaction`), stored in
the testimony's folder as `redacted-NN.flac` under the testimony's key; and the file's
transcript with every marked span replaced by its category, sealed in the `access_copy` row.
Each row names the SHA-256 of the access audio it was made from and of the copy itself, and a
digest of the marks it applied, and an event records the same, so the chain of custody runs
from the submitter's bytes to the published copy.

The copy is made by a worker job (`JobKind.redact`, `workers.redaction`); whatever changes the
marks, or the voice disguise, calls `request_access_copy` in its transaction. Withdrawal erases
the rows (their table is marked "rows") and the store files go with the testimony's folder.

The marks themselves are read in one place, `marks_for`; see there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake import sealing
from intake.audio import ACCESS_SAMPLE_RATE
from intake.config import Config
from intake.crypto import EncryptedTempFile, Keyring
from intake.events import Action, Actor
from intake.models import (
    AccessCopy,
    AudioFile,
    Job,
    JobKind,
    Segment,
    Testimony,
    TestimonyState,
    Transcript,
)
from intake.records import audit, jobs
from intake.redaction import (
    AudioSettings,
    Category,
    Mark,
    MarkError,
    audio_spans,
    redact_audio,
    redact_text,
)
from intake.review import redaction_marks, transcripts
from intake.storage import FileKind, Store, file_name


def marks_for(session: Session, testimony_id: int) -> list[Mark]:
    """Every redaction mark on the testimony's segments, as `Mark`s: the one place that reads
    the reviewers' marks (`intake.review.redaction_marks`, the review's own table). A mark's time is
    its aligned span (`intake.review.alignment`) widened by what the reviewer added by ear."""
    return [
        Mark(
            segment_id=m.segment_id,
            char_start=m.char_start,
            char_end=m.char_end,
            start_s=max(0.0, m.start_s - m.pad_before_s),
            end_s=m.end_s + m.pad_after_s,
            category=Category(m.category.value),
        )
        for m in redaction_marks.marks_for(session, testimony_id)
    ]


def settings_from(config: Config) -> AudioSettings:
    """The audio settings of a deployment."""
    return AudioSettings(
        margin_s=config.redaction_margin_s,
        tone_hz=config.redaction_tone_hz,
        disguise_semitones=config.disguise_semitones,
        disguise_formant_ratio=config.disguise_formant_ratio,
    )


def marks_digest(marks: Sequence[Mark]) -> str:
    """SHA-256 of the marks in a canonical order: equal for equal sets of marks."""
    rows = sorted(
        [m.segment_id, m.char_start, m.char_end, round(m.start_s, 3), round(m.end_s, 3), m.category]
        for m in marks
    )
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def request_access_copy(session: Session, testimony_id: int, actor: Actor | str) -> Job | None:
    """Queue the making of the testimony's access copy, in the caller's transaction; call it
    whenever the marks or the voice disguise change. Returns the job, or None when a queued job
    will already read the current marks, or the testimony is withdrawn.

    A job that is already running may have read the marks before this change, so a new one is
    queued behind it; making a copy twice is harmless (the second replaces the first).
    """
    testimony = session.get(Testimony, testimony_id)
    if testimony is None or testimony.wrapped_key is None:
        return None
    requested = Action.access_copy_requested
    return jobs.enqueue_once(session, testimony_id, JobKind.redact, actor, requested)


def set_voice_disguise(
    session: Session, testimony: Testimony, disguise: bool, actor: Actor | str
) -> bool:
    """An archivist's choice of voice disguise for the record's access audio; queues a new
    copy when it changed. Returns whether it changed."""
    if testimony.wrapped_key is None or testimony.state == TestimonyState.withdrawn:
        raise LookupError(f"{testimony.pseudonym} is withdrawn")
    if testimony.disguise_voice == disguise:
        return False
    testimony.disguise_voice = disguise
    audit.record_event(
        session, testimony.id, actor, Action.voice_disguise_set, detail={"disguise": disguise}
    )
    request_access_copy(session, testimony.id, actor)
    return True


def make_access_copies(
    session: Session,
    keyring: Keyring,
    store: Store,
    config: Config,
    testimony_id: int,
    actor: Actor | str,
    marks: Sequence[Mark] | None = None,
) -> list[AccessCopy]:
    """Make (again) the access copy of every audio file of the testimony from `marks` (by
    default the current marks, `marks_for`), in the caller's transaction; the files are in the
    store before this returns. Safe to run twice: each run replaces the copies.

    Raises MarkError for a mark on a segment of another testimony, or one that no longer fits
    its text: no copy is better than one that leaks.
    """
    testimony = session.get(Testimony, testimony_id)
    if testimony is None:
        raise LookupError(f"no testimony {testimony_id}")
    key = transcripts.testimony_key(keyring, testimony)
    if marks is None:
        marks = marks_for(session, testimony_id)
    rows = session.execute(
        select(Segment, Transcript)
        .join(Transcript, Transcript.id == Segment.transcript_id)
        .where(Transcript.testimony_id == testimony_id)
        .order_by(Transcript.audio_file_id, Segment.position)
    ).all()
    file_of = {segment.id: transcript.audio_file_id for segment, transcript in rows}
    for mark in marks:
        if mark.segment_id not in file_of:
            raise MarkError(f"mark on segment {mark.segment_id}, not of this testimony")
    settings = settings_from(config)
    made = []
    for audio in session.scalars(
        select(AudioFile).where(AudioFile.testimony_id == testimony_id).order_by(AudioFile.position)
    ):
        file_marks = [m for m in marks if file_of[m.segment_id] == audio.id]
        text = _redacted_text(key, rows, audio.id, file_marks)
        spans = audio_spans(file_marks, settings.margin_s, audio.duration_s)
        name = file_name(FileKind.redacted, audio.position)
        # The copy is made from, and encrypted under, its file's own key (older files use the
        # testimony's): whatever opens the access copy opens its redacted copy.
        file_key = transcripts.audio_key(keyring, testimony, audio)
        with (
            store.open(file_key, testimony.storage_id, audio.access_name) as source,
            EncryptedTempFile(config.temp_path) as scratch,
        ):
            result = redact_audio(
                source, scratch, spans, settings, disguise=testimony.disguise_voice
            )
            scratch.seek(0)
            store.write(file_key, testimony.storage_id, name, scratch)
        copy = session.scalar(select(AccessCopy).where(AccessCopy.audio_file_id == audio.id))
        if copy is None:
            copy = AccessCopy(testimony_id=testimony_id, audio_file_id=audio.id)
            session.add(copy)
        copy.audio_name = name
        copy.source_sha256 = result.source_sha256
        copy.copy_sha256 = result.copy_sha256
        copy.marks_sha256 = marks_digest(file_marks)
        copy.marks = len(file_marks)
        copy.removed_s = result.removed_samples / ACCESS_SAMPLE_RATE
        copy.disguised = testimony.disguise_voice
        copy.sealed_text = sealing.seal_access_text(key, testimony_id, audio.id, text)
        made.append(copy)
    session.flush()
    for copy in made:
        audit.record_event(
            session,
            testimony_id,
            actor,
            Action.access_copy_made,
            detail={
                "audio_file": copy.audio_file_id,
                "source_sha256": copy.source_sha256,
                "copy_sha256": copy.copy_sha256,
                "marks": copy.marks,
                "disguised": copy.disguised,
            },
        )
    return made


def _redacted_text(
    key: bytes, rows: Sequence[tuple[Segment, Transcript]], audio_file_id: int, marks: list[Mark]
) -> dict[str, object]:
    """The file's transcript with the marked spans replaced, segment by segment."""
    by_segment: dict[int, list[Mark]] = {}
    for mark in marks:
        by_segment.setdefault(mark.segment_id, []).append(mark)
    language = "en"
    segments = []
    for segment, transcript in rows:
        if transcript.audio_file_id != audio_file_id:
            continue
        language = transcript.language
        content = transcripts.unseal_segment(key, segment)
        segments.append(
            {
                "start": segment.start_s,
                "end": segment.end_s,
                "text": redact_text(content.text, by_segment.get(segment.id, []), language),
            }
        )
    return {"language": language, "segments": segments}


def open_text(keyring: Keyring, testimony: Testimony, copy: AccessCopy) -> dict[str, object]:
    """The redacted text of an access copy: {"language", "segments": [{start, end, text}]}."""
    key = transcripts.testimony_key(keyring, testimony)
    return sealing.open_access_text(key, testimony.id, copy.audio_file_id, copy.sealed_text)
