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

import contextlib
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.orm import Session

from intake import audio, audio_sandbox, crypto, offload, sealing, storage
from intake.config import Config
from intake.events import Action, Actor
from intake.models import (
    AudioFile,
    Consent,
    JobKind,
    Language,
    Testimony,
    TestimonyState,
    utcnow,
)
from intake.public import consent, form_tokens, identity, proof_of_work, pseudonyms, receipts
from intake.records import audit, erasure, jobs, lifecycle
from intake.storage import Store, StoreFull


class SubmissionRejected(Exception):
    """Bad input; `reason` names the message to show, `index` the file it is about (1-based)."""

    def __init__(self, reason: str, index: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.index = index


@dataclass
class Upload:
    """One file as received: its spooled (encrypted) bytes and the name the browser gave.

    The name is never checked, stored or used to find anything: a file is recognised by its
    content, and stored under a name of our own. So `../../x.wav`, a right-to-left override
    or a Windows name of 150 Persian letters are all simply ignored, never refused.
    """

    stream: BinaryIO
    filename: str
    # The SHA-256 of the bytes as they arrived (`intake.public.uploads.HashingSpool`); None where
    # the file did not come through the web form, and it is then hashed from `stream`.
    sha256: str | None = None


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
    # Files already checked and kept for this form (`intake.public.spool`), stored before `uploads`.
    kept: list[PreparedAudio] = field(default_factory=list)
    # The intake form's one-time claim; None for callers without a form (the command line).
    form: form_tokens.Claim | None = None
    # The form's proof of work (`intake.public.proof_of_work`): None when the form sent none.
    proof: proof_of_work.Answer | None = None


@dataclass(frozen=True)
class Receipt:
    """What the submitter is shown once: the code, and the pseudonym for reference."""

    code: str
    pseudonym: str
    testimony_id: int


@dataclass
class _Prepared:
    access: io.RawIOBase
    source: BinaryIO
    info: audio.AccessCopyInfo
    # Chain of custody: the original as sent, and the access copy made from it.
    sha256: str
    access_sha256: str


def sha256_of(stream: BinaryIO | io.RawIOBase) -> str:
    """The hex SHA-256 of a whole file object, read from its start; leaves it at its start."""
    digest = hashlib.sha256()
    stream.seek(0)
    while block := stream.read(_HASH_BLOCK):
        digest.update(block)
    stream.seek(0)
    return digest.hexdigest()


_HASH_BLOCK = 1024 * 1024


# A checked file with its access copy, ready to be stored.
PreparedAudio = _Prepared


def _prepare(
    uploads: list[Upload], config: Config, store: Store, keep_original: bool, used_s: float = 0.0
) -> list[_Prepared]:
    """Check and re-encode every file; raise on the first bad one, having stored nothing.

    `used_s` is the audio the testimony already holds (when adding to it). Each file may
    only use what is left of the submission's `max_duration_s` after the files before it,
    so decoding stops as soon as the total passes the limit: ten small files of hours of
    silence cost seconds of decoding, not hours each.
    """
    prepared: list[_Prepared] = []
    try:
        if keep_original:
            store.ensure_room(sum(_size(upload.stream) for upload in uploads))
        for index, upload in enumerate(uploads, start=1):
            left_s = config.max_duration_s - used_s - sum(p.info.duration_s for p in prepared)
            if left_s <= 0:
                raise SubmissionRejected("too_long", index)
            access = crypto.EncryptedTempFile(config.temp_path)
            try:
                upload.stream.seek(0)
                # Parsed in a confined process of its own (hostile input). Not through
                # offload.blocking: the work is in the child, and the wait for it is
                # cooperative under gevent (see intake.audio_sandbox).
                info = audio_sandbox.make_access_copy(
                    upload.stream,
                    access,
                    max_duration_s=left_s,
                    limits=audio_sandbox.Limits.from_config(config),
                    temp_dir=config.temp_path,
                )
            except BaseException as exc:
                access.close()
                if isinstance(exc, audio.AudioRejected):
                    raise SubmissionRejected(exc.reason, index) from None
                raise
            # Hashing the access copy (and an upload that did not come through the web form)
            # is CPU work in this process: off the event loop.
            sent = upload.sha256 or offload.blocking(sha256_of, upload.stream)
            made = offload.blocking(sha256_of, access)
            prepared.append(_Prepared(access, upload.stream, info, sent, made))
        # Now the exact bytes are known: the access copies, and the originals if kept.
        store.ensure_room(
            sum(_size(p.access) + (_size(p.source) if keep_original else 0) for p in prepared)
        )
    except BaseException as exc:
        for item in prepared:
            item.access.close()
        if isinstance(exc, StoreFull):
            raise SubmissionRejected("store_full") from None
        raise
    return prepared


def check_file(
    upload: Upload, index: int, config: Config, store: Store, used_s: float = 0.0
) -> PreparedAudio:
    """Check and re-encode one file (numbered `index` in messages) that arrives with an intake
    form, `used_s` seconds of audio being kept for the form already; the caller closes
    `access` when done. The original is kept with the form, so room is checked for it."""
    try:
        [item] = _prepare([upload], config, store, True, used_s)
    except SubmissionRejected as exc:
        raise SubmissionRejected(exc.reason, index if exc.index is not None else None) from None
    return item


def problems(choices: consent.ConsentChoices, files: int, config: Config) -> list[str]:
    """Every reason (see SubmissionRejected) the form's choices and file count are refused,
    so the visitor can correct them all in one round."""
    found = []
    if not choices.any_use():
        found.append("no_consent")
    if choices.translate and not choices.transcribe:
        found.append("translate_needs_transcribe")
    if files == 0:
        found.append("no_audio")
    if files > config.max_files_per_submission:
        found.append("too_many_files")
    return found


def _size(stream: BinaryIO | io.RawIOBase) -> int:
    return int(stream.seek(0, 2))


def _store_files(
    session: Session,
    store: Store,
    keyring: crypto.Keyring,
    testimony: Testimony,
    prepared: list[_Prepared],
    keep_original: bool,
    first_position: int,
    written: list[str],
) -> list[AudioFile]:
    """Write each file to the store under a new key of its own, noting every name in `written`
    as soon as it exists so that the caller can remove them all if anything later fails."""
    rows = []
    for offset, item in enumerate(prepared):
        position = first_position + offset
        key, sealed_key = sealing.new_audio_key(keyring)
        access_name = storage.file_name(storage.FileKind.access, position)
        item.access.seek(0)
        store.write(key, testimony.storage_id, access_name, item.access)
        written.append(access_name)
        original_name = None
        size = 0
        if keep_original:
            original_name = storage.file_name(storage.FileKind.original, position)
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
            sealed_key=sealed_key,

            original_sha256=item.sha256,
            access_sha256=item.access_sha256,
        )
        session.add(row)
        rows.append(row)
    return rows


def custody(files: list[AudioFile]) -> list[dict[str, object]]:
    """The intake event's chain-of-custody entries: for each file, the SHA-256 of the bytes
    the submitter sent and of the access copy made from them (docs/archivists.md)."""
    return [
        {
            "audio_file": row.id,
            "original_sha256": row.original_sha256,
            "access_sha256": row.access_sha256,
            "access_made_from": row.original_sha256,
        }
        for row in files
    ]


def _queue_transcription(
    session: Session,
    testimony: Testimony,
    files: list[AudioFile],
    config: Config,
    delay_s: float = 0.0,
) -> None:
    """One transcription job per file, placed in the fair order by its audio's length (and
    `delay_s` later, the slower lane of a form without proof of work); the testimony goes
    (back) to `queued` unless a worker is already on it, in which case the new jobs simply
    join the queue."""
    for row in files:
        jobs.enqueue(
            session,
            testimony.id,
            JobKind.transcribe,
            audio_file_id=row.id,
            audio_s=row.duration_s,
            wait_s=jobs.fair_wait_s(row.duration_s, config.transcribe_wait_per_audio_s)
            + delay_s,
        )
    if testimony.state in {
        TestimonyState.received,
        TestimonyState.transcribed,
        TestimonyState.needs_attention,
    }:
        lifecycle.transition(
            session,
            testimony,
            TestimonyState.queued,
            Actor.system,
            Action.transcription_queued,
            {"audio_files": [row.id for row in files]},
        )


def lane_delay_s(keyring: crypto.Keyring, config: Config, sub: Submission) -> float:
    """How much later than usual the submission's transcriptions take their turn: 0 with a
    valid proof of work (or with the proof switched off, or for a caller without a form, such
    as the command line), else `unproven_delay_s`. Never a refusal: testimony sent without
    JavaScript is accepted all the same, only its transcription waits in the slower lane."""
    if config.proof_of_work_bits <= 0 or sub.form is None:
        return 0.0
    verdict = proof_of_work.check(
        proof_of_work.key_for(keyring.session_key),
        sub.form.digest,
        sub.proof,
        config.proof_of_work_bits,
    )
    return 0.0 if verdict is proof_of_work.Verdict.proven else config.unproven_delay_s


def accept(
    session: Session, store: Store, keyring: crypto.Keyring, config: Config, sub: Submission
) -> Receipt:
    """Store a new testimony and queue its transcription (if consented); return the receipt.

    Raises SubmissionRejected before anything is stored when the input is not acceptable.
    """
    found = problems(sub.choices, len(sub.kept) + len(sub.uploads), config)
    if found:
        raise SubmissionRejected(found[0])
    kept_s = sum(p.info.duration_s for p in sub.kept)
    prepared = _prepare(sub.uploads, config, store, sub.choices.archive, kept_s)
    every = [*sub.kept, *prepared]
    if sum(p.info.duration_s for p in every) > config.max_duration_s:
        for item in prepared:
            item.access.close()
        raise SubmissionRejected("too_long")
    key, wrapped_key = sealing.new_testimony_key(keyring)
    code = receipts.new_code(keyring.receipt_pepper)
    testimony = Testimony(
        pseudonym=pseudonyms.new_pseudonym(),
        storage_id=pseudonyms.new_storage_id(),
        state=TestimonyState.received,
        language=sub.language,
        wrapped_key=wrapped_key,
        receipt_digest=receipts.digest(code, keyring.receipt_pepper),
        # Where the archive's questions will be sealed (intake.public.questions).
        message_key=sealing.submitter_message_keys(code, keyring.receipt_pepper)[1],
    )
    try:
        if sub.form is not None:
            # First, so that a second request for the same form waits here and writes nothing.
            form_tokens.claim(session, sub.form)
        session.add(testimony)
        session.flush()
        if sub.removal_notes:
            testimony.removal_notes = sealing.seal_removal_notes(
                key, testimony.id, sub.removal_notes
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
        identity.store_identity(session, keyring, testimony.id, sub.name, sub.contact)
        # On failure the whole folder goes, so the names need not be tracked here.
        files = _store_files(session, store, keyring, testimony, every, c.archive, 1, [])
        session.flush()
        audit.record_event(
            session,
            testimony.id,
            Actor.submitter,
            Action.received,
            to_state=TestimonyState.received,
            detail={
                "audio_files": len(files),
                "consent_version": consent.WORDING_VERSION,
                "custody": custody(files),
            },
        )
        if c.transcribe:
            _queue_transcription(
                session, testimony, files, config, lane_delay_s(keyring, config, sub)
            )
        if sub.form is not None:
            form_tokens.keep_code(session, sub.form, code)
        session.commit()
    except BaseException as exc:
        session.rollback()
        store.delete_testimony(testimony.storage_id)
        if isinstance(exc, StoreFull):  # the disk filled while writing: say so, as above
            raise SubmissionRejected("store_full") from None
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
    """Add files to an existing testimony, each under a key of its own (the public app cannot
    open the testimony's); queue their transcription.

    A withdrawal may commit while the files are being written: the state is checked again, in
    the same statement that locks the row, just before the commit (`lifecycle.expect_state`).
    If the withdrawal won, nothing is committed and every file of the testimony is removed.
    """
    if testimony.state not in ADD_AUDIO_STATES or testimony.wrapped_key is None:
        raise SubmissionRejected("cannot_add")
    if not uploads:
        raise SubmissionRejected("no_audio")
    existing = len(testimony.audio_files)
    if existing + len(uploads) > config.max_files_per_submission:
        raise SubmissionRejected("too_many_files")
    used_s = sum(f.duration_s for f in testimony.audio_files)
    prepared = _prepare(uploads, config, store, testimony.consent.archive, used_s)
    names: list[str] = []
    try:
        files = _store_files(
            session,
            store,
            keyring,
            testimony,
            prepared,
            testimony.consent.archive,
            existing + 1,
            names,
        )
        lifecycle.expect_state(session, testimony, ADD_AUDIO_STATES)
        session.flush()
        audit.record_event(
            session,
            testimony.id,
            Actor.submitter,
            Action.audio_added,
            detail={"audio_files": [f.id for f in files], "custody": custody(files)},
        )
        if testimony.consent.transcribe:
            _queue_transcription(session, testimony, files, config)
        session.commit()
    except lifecycle.StaleState:
        session.rollback()
        _discard_added(store, testimony, names, lost_to_withdrawal=True)
        raise SubmissionRejected("cannot_add") from None
    except BaseException as exc:
        session.rollback()
        # A withdrawal that removed the folder mid-write makes the write itself fail.
        lost = isinstance(exc, OSError) and _is_withdrawn(testimony)
        _discard_added(store, testimony, names, lost_to_withdrawal=lost)
        if lost:
            raise SubmissionRejected("cannot_add") from None
        if isinstance(exc, StoreFull):
            raise SubmissionRejected("store_full") from None
        raise
    finally:
        for item in prepared:
            item.access.close()
    return files


def _is_withdrawn(testimony: Testimony) -> bool:
    """Whether the testimony is withdrawn now, as committed (reads the row again)."""
    try:
        return testimony.state == TestimonyState.withdrawn
    except Exception:  # the database itself may be what failed
        return False


def _discard_added(
    store: Store, testimony: Testimony, names: list[str], *, lost_to_withdrawal: bool
) -> None:
    """Remove the files an addition wrote; all of the folder if the testimony was withdrawn
    meanwhile (the withdrawal may have removed the folder before these files were written)."""
    if lost_to_withdrawal and testimony.state == TestimonyState.withdrawn:
        with contextlib.suppress(FileNotFoundError):
            store.delete_testimony(testimony.storage_id)
        return
    for name in names:
        store.delete(testimony.storage_id, name)


# A withdrawal that finds the state changed under it re-reads and tries again; each try can
# only lose to a change that moved the testimony forward, so a few tries always suffice.
_WITHDRAW_TRIES = 5


def withdraw(
    session: Session, store: Store, testimony: Testimony, export_path: Path | None = None
) -> None:
    """Withdraw consent: destroy the key, delete content and identity, keep a tombstone.

    The key is destroyed in the committed transaction first; the files, already unreadable,
    are deleted after, with their derived copies (the testimony's folder holds the redacted
    access copies too) and any export waiting under `export_path`. A crash in between leaves
    only ciphertext, which the sweep removes, and exports, which the sweep removes too.
    A concurrent change of state (audio added, a worker starting) makes one try lose cleanly
    (`lifecycle.StaleState`); the withdrawal then starts again from the new state.
    """
    for _ in range(_WITHDRAW_TRIES):
        if testimony.state == TestimonyState.withdrawn:
            break
        try:
            _withdraw_once(session, testimony)
            break
        except lifecycle.StaleState:
            session.rollback()  # expires the testimony: the next try reads its new state
    else:
        raise lifecycle.StaleState(f"{testimony.pseudonym}: withdrawal kept losing")
    store.delete_testimony(testimony.storage_id)
    if export_path is not None:
        storage.remove_exports(export_path, testimony.pseudonym)


def _withdraw_once(session: Session, testimony: Testimony) -> None:
    state = testimony.state
    # Lock the row at the state read before anything else, so that no addition can commit
    # new files or jobs between this check and the commit below.
    lifecycle.expect_state(session, testimony, {state})
    now = utcnow()
    cancelled = jobs.cancel_for_testimony(session, testimony.id)
    testimony.progress = None
    testimony.withdrawn_at = now
    if testimony.consent is not None:
        testimony.consent.withdrawn_at = now
    session.flush()
    erasure.erase_testimony_content(session, testimony.id)
    session.expire(testimony)
    lifecycle.transition(
        session,
        testimony,
        TestimonyState.withdrawn,
        Actor.submitter,
        Action.consent_withdrawn,
        {"jobs_cancelled": cancelled},
    )
    session.commit()
