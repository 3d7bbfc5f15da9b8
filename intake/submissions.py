"""Intake, added audio and withdrawal: the domain logic behind the public pages.

Plain functions over a session, the store and the keyring, so that views, the command line
and tests call the same code. The order of work makes a crash harmless:

1. every file is checked and re-encoded into encrypted temporary files (nothing in the store);
2. the files are written to the store under a fresh random folder;
3. the rows (testimony, consent, identity, audio, events, jobs) are committed in one
   transaction. If that fails the folder is removed; if the process dies between 2 and 3 the
   folder holds only ciphertext under a key that was never stored, and the upkeep sweep
   removes it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from intake import audio, consent, crypto, identity, jobs, lifecycle, pseudonyms, receipts
from intake.config import Config
from intake.models import (
    AudioFile,
    Consent,
    Identity,
    JobKind,
    Language,
    MachineDraft,
    Segment,
    Testimony,
    TestimonyState,
    Transcript,
    utcnow,
)
from intake.storage import Store

SUBMITTER = "submitter"
_MAX_NAME_BYTES = 255
# Path separators, NUL and every control or bidirectional-formatting character.
_BAD_NAME = re.compile(r"[/\\\x00-\x1f\x7f]")


class SubmissionRejected(Exception):
    """Bad input; `reason` names the message to show, `index` the file it is about (1-based)."""

    def __init__(self, reason: str, index: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.index = index


@dataclass
class Upload:
    """One file as received: its spooled (encrypted) bytes and the name the browser gave."""

    stream: BinaryIO
    filename: str


@dataclass
class Submission:
    """Everything the intake form collects."""

    language: Language
    choices: consent.ConsentChoices
    locale: str
    name: str
    contact: str
    removal_notes: str
    uploads: list[Upload]


@dataclass(frozen=True)
class Receipt:
    """What the submitter is shown once: the code, and the pseudonym for reference."""

    code: str
    pseudonym: str
    testimony_id: int


@dataclass
class _Prepared:
    access: crypto.EncryptedTempFile
    source: BinaryIO
    info: audio.AccessCopyInfo


def check_filename(filename: str) -> None:
    """Refuse names no honest browser sends; the name itself is never stored or used."""
    if len(filename.encode("utf-8", "surrogatepass")) > _MAX_NAME_BYTES:
        raise SubmissionRejected("bad_filename")
    if _BAD_NAME.search(filename) or ".." in Path(filename).parts:
        raise SubmissionRejected("bad_filename")
    if any(unicodedata.category(ch) in {"Cf", "Cc", "Cs"} and ch != "\u200c" for ch in filename):
        # Right-to-left overrides and other invisible formatting disguise a file's real kind
        # (the zero-width non-joiner is ordinary Persian spelling).
        raise SubmissionRejected("bad_filename")


def _prepare(uploads: list[Upload], config: Config) -> list[_Prepared]:
    """Check and re-encode every file; raise on the first bad one, having stored nothing."""
    prepared: list[_Prepared] = []
    try:
        for index, upload in enumerate(uploads, start=1):
            try:
                check_filename(upload.filename)
            except SubmissionRejected as exc:
                raise SubmissionRejected(exc.reason, index) from None
            access = crypto.EncryptedTempFile(config.temp_path)
            try:
                upload.stream.seek(0)
                info = audio.make_access_copy(
                    upload.stream, access, max_duration_s=config.max_duration_s
                )
            except BaseException as exc:
                access.close()
                if isinstance(exc, audio.AudioRejected):
                    raise SubmissionRejected(exc.reason, index) from None
                raise
            prepared.append(_Prepared(access, upload.stream, info))
        total = sum(p.info.duration_s for p in prepared)
        if total > config.max_duration_s:
            raise SubmissionRejected("too_long")
    except BaseException:
        for item in prepared:
            item.access.close()
        raise
    return prepared


def _store_files(
    session: Session,
    store: Store,
    key: bytes,
    testimony: Testimony,
    prepared: list[_Prepared],
    keep_original: bool,
    first_position: int,
    written: list[str],
) -> list[AudioFile]:
    """Write each file to the store, noting every name in `written` as soon as it exists so
    that the caller can remove them all if anything later fails."""
    rows = []
    for offset, item in enumerate(prepared):
        position = first_position + offset
        access_name = f"audio-{position:02d}{audio.ACCESS_SUFFIX}"
        item.access.seek(0)
        store.write(key, testimony.storage_id, access_name, item.access)
        written.append(access_name)
        original_name = None
        size = 0
        if keep_original:
            original_name = f"original-{position:02d}.bin"
            item.source.seek(0)
            size = store.write(key, testimony.storage_id, original_name, item.source)
            written.append(original_name)
        else:
            item.source.seek(0, 2)
            size = item.source.tell()
        row = AudioFile(
            testimony_id=testimony.id,
            position=position,
            access_name=access_name,
            original_name=original_name,
            duration_s=item.info.duration_s,
            source_format=item.info.source_format[:64],
            source_codec=item.info.source_codec[:64],
            sample_rate=item.info.sample_rate,
            channels=item.info.channels,
            size_bytes=size,
        )
        session.add(row)
        rows.append(row)
    return rows


def _queue_transcription(session: Session, testimony: Testimony, files: list[AudioFile]) -> None:
    """One transcription job per file; the testimony goes (back) to `queued` unless a worker
    is already on it, in which case the new jobs simply join the queue."""
    for row in files:
        jobs.enqueue(session, testimony.id, JobKind.transcribe, audio_file_id=row.id)
    if testimony.state in {
        TestimonyState.received,
        TestimonyState.transcribed,
        TestimonyState.needs_attention,
    }:
        lifecycle.transition(
            session,
            testimony,
            TestimonyState.queued,
            "system",
            "transcription_queued",
            {"audio_files": [row.id for row in files]},
        )


def _removal_context(testimony_id: int) -> bytes:
    return f"removal_notes:{testimony_id}".encode()


def accept(
    session: Session, store: Store, keyring: crypto.Keyring, config: Config, sub: Submission
) -> Receipt:
    """Store a new testimony and queue its transcription (if consented); return the receipt.

    Raises SubmissionRejected before anything is stored when the input is not acceptable.
    """
    if not sub.choices.any_use():
        raise SubmissionRejected("no_consent")
    if sub.choices.translate and not sub.choices.transcribe:
        raise SubmissionRejected("translate_needs_transcribe")
    if not sub.uploads:
        raise SubmissionRejected("no_audio")
    if len(sub.uploads) > config.max_files_per_submission:
        raise SubmissionRejected("too_many_files")
    prepared = _prepare(sub.uploads, config)
    key = crypto.new_data_key()
    code = receipts.new_code()
    testimony = Testimony(
        pseudonym=pseudonyms.new_pseudonym(),
        storage_id=pseudonyms.new_storage_id(),
        state=TestimonyState.received,
        language=sub.language,
        wrapped_key=crypto.wrap_key(keyring.master_key, key),
        receipt_digest=receipts.digest(code, keyring.receipt_pepper),
    )
    try:
        session.add(testimony)
        session.flush()
        if sub.removal_notes:
            testimony.removal_notes = crypto.seal(
                key, sub.removal_notes.encode(), _removal_context(testimony.id)
            )
        c = sub.choices
        session.add(
            Consent(
                testimony_id=testimony.id,
                wording_version=consent.WORDING_VERSION,
                wording_locale=sub.locale,
                wording_sha256=consent.wording_sha256(sub.locale),
                archive=c.archive,
                transcribe=c.transcribe,
                translate=c.translate,
                publish_anonymised=c.publish_anonymised,
                publish_named=c.publish_named,
                publish_anonymised_audio=c.publish_anonymised_audio,
                embargo_until=c.embargo_until,
            )
        )
        identity.store_identity(session, keyring.master_key, testimony.id, sub.name, sub.contact)
        # On failure the whole folder goes, so the names need not be tracked here.
        files = _store_files(session, store, key, testimony, prepared, c.archive, 1, [])
        session.flush()
        lifecycle.record_event(
            session,
            testimony.id,
            SUBMITTER,
            "received",
            to_state=TestimonyState.received,
            detail={"audio_files": len(files), "consent_version": consent.WORDING_VERSION},
        )
        if c.transcribe:
            _queue_transcription(session, testimony, files)
        session.commit()
    except BaseException:
        session.rollback()
        store.delete_testimony(testimony.storage_id)
        raise
    finally:
        for item in prepared:
            item.access.close()
    return Receipt(code, testimony.pseudonym, testimony.id)


# States in which the submitter may still add audio; later the record is under review.
ADD_AUDIO_STATES = {
    TestimonyState.received,
    TestimonyState.queued,
    TestimonyState.transcribing,
    TestimonyState.transcribed,
    TestimonyState.needs_attention,
}


def add_audio(
    session: Session,
    store: Store,
    keyring: crypto.Keyring,
    config: Config,
    testimony: Testimony,
    uploads: list[Upload],
) -> list[AudioFile]:
    """Add files to an existing testimony under its own key; queue their transcription."""
    if testimony.state not in ADD_AUDIO_STATES or testimony.wrapped_key is None:
        raise SubmissionRejected("cannot_add")
    if not uploads:
        raise SubmissionRejected("no_audio")
    existing = len(testimony.audio_files)
    if existing + len(uploads) > config.max_files_per_submission:
        raise SubmissionRejected("too_many_files")
    prepared = _prepare(uploads, config)
    key = crypto.unwrap_key(keyring.master_key, testimony.wrapped_key)
    names: list[str] = []
    try:
        files = _store_files(
            session, store, key, testimony, prepared, testimony.consent.archive, existing + 1, names
        )
        session.flush()
        lifecycle.record_event(
            session,
            testimony.id,
            SUBMITTER,
            "audio_added",
            detail={"audio_files": [f.id for f in files]},
        )
        if testimony.consent.transcribe:
            _queue_transcription(session, testimony, files)
        session.commit()
    except BaseException:
        session.rollback()
        for name in names:
            store.delete(testimony.storage_id, name)
        raise
    finally:
        for item in prepared:
            item.access.close()
    return files


def withdraw(session: Session, store: Store, testimony: Testimony) -> None:
    """Withdraw consent: destroy the key, delete content and identity, keep a tombstone.

    The key is destroyed in the committed transaction first; the files, already unreadable,
    are deleted after. A crash in between leaves only ciphertext, which the sweep removes.
    """
    if testimony.state == TestimonyState.withdrawn:
        return
    now = utcnow()
    testimony.wrapped_key = None
    testimony.removal_notes = None
    testimony.progress = None
    testimony.withdrawn_at = now
    if testimony.consent is not None:
        testimony.consent.withdrawn_at = now
    cancelled = jobs.cancel_for_testimony(session, testimony.id)
    for table in (Identity, MachineDraft):
        session.execute(delete(table).where(table.testimony_id == testimony.id))
    transcript_ids = select(Transcript.id).where(Transcript.testimony_id == testimony.id)
    session.execute(delete(Segment).where(Segment.transcript_id.in_(transcript_ids)))
    session.execute(delete(Transcript).where(Transcript.testimony_id == testimony.id))
    lifecycle.transition(
        session,
        testimony,
        TestimonyState.withdrawn,
        SUBMITTER,
        "consent_withdrawn",
        {"jobs_cancelled": cancelled},
    )
    session.commit()
    store.delete_testimony(testimony.storage_id)
