"""Transcription tasks, and the claim, lease and failure handling every job task shares.

Each task takes a job id, claims the job (an atomic update with a lease), keeps the lease
alive from a heartbeat thread while the engine runs, and writes its result in the same
transaction that marks the job done, only while it still holds the claim. So a task is safe
to run twice, or after its worker was killed: one transcript per audio file, whatever the
broker delivered.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import shared_task
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from intake.events import Action, Actor
from intake.models import (
    AudioFile,
    Job,
    JobKind,
    JobStatus,
    Language,
    Testimony,
    TestimonyState,
)
from intake.records import jobs, lifecycle
from intake.review import glossary, transcripts
from intake.services import Services, services
from workers.engine import Engine, EngineSettings, TranscriptResult

log = logging.getLogger(__name__)

# Hours-long recordings on a CPU take hours; the limits only stop a task that hangs.
SOFT_TIME_LIMIT_S = 12 * 3600
TIME_LIMIT_S = SOFT_TIME_LIMIT_S + 600

# Delivery and retry settings shared by every job task: acknowledged only when done, given
# back if the worker process dies, retried with backoff when the database is briefly away
# (other failures are counted on the job row instead, see `_failed`).
JOB_TASK_OPTIONS: dict[str, Any] = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_backoff_max": 600,
    "max_retries": 5,
    "soft_time_limit": SOFT_TIME_LIMIT_S,
    "time_limit": TIME_LIMIT_S,
}

_engines: dict[EngineSettings, Engine] = {}


def engine_for(svc: Services) -> Engine:
    """The engine of this process, loaded once (the model stays in memory between jobs)."""
    settings = EngineSettings.from_config(svc.config)
    if settings not in _engines:
        _engines[settings] = Engine(settings)
    return _engines[settings]


# Progress moves by at least this much before it is written at once; smaller moves wait for
# the next beat of the heartbeat (`Config.progress_interval_s`).
PROGRESS_STEP = 0.05


class Progress:
    """The fraction of the current file done, shared by the engine and the heartbeat thread.

    The engine sets it after each segment; a move of `PROGRESS_STEP` or more wakes the
    heartbeat, which writes it at once, and smaller moves are written on the next beat, so
    the submitter's page moves every few seconds without a write per segment.
    """

    def __init__(self) -> None:
        self.value: float | None = 0.0
        self.written: float | None = None
        self.wake = threading.Event()

    def set(self, fraction: float | None) -> None:
        """Called by the engine (any thread) with the fraction done of this file."""
        self.value = fraction
        if fraction is not None and fraction - (self.written or 0.0) >= PROGRESS_STEP:
            self.wake.set()


@contextmanager
def lease_kept(svc: Services, held: jobs.Claim, progress: Progress) -> Iterator[None]:
    """Renew the job's lease and write its progress from a heartbeat thread until the block
    ends.

    A thread rather than the engine's progress callback, because one window of a large model
    on a CPU can take longer than a lease. If this process is killed the thread dies with it
    and the lease runs out, which is how the sweep knows. The thread beats every
    `progress_interval_s` (or a third of the lease, if shorter) and also wakes when the
    progress moved by `PROGRESS_STEP`.
    """
    stop = threading.Event()
    lease_every = max(1.0, svc.config.job_lease_s / 3)
    beat_every = min(lease_every, svc.config.progress_interval_s)

    def beat() -> None:
        renewed = time.monotonic()
        while not stop.is_set():
            progress.wake.wait(beat_every)
            progress.wake.clear()
            if stop.is_set():
                return
            value = progress.value
            moved = value is not None and value != progress.written
            if not moved and time.monotonic() - renewed < lease_every:
                continue
            try:
                with svc.db.session() as session:
                    if not jobs.renew(session, held, svc.config.job_lease_s, value):
                        return
                    renewed = time.monotonic()
                    if moved and value is not None:
                        transcripts.note_progress(session, held.job_id, value)
                        progress.written = value
            except OperationalError:
                log.warning("could not renew lease of job %s; will retry", held.job_id)

    thread = threading.Thread(target=beat, name=f"lease-{held.job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        progress.wake.set()
        thread.join(timeout=5)


def _claim(svc: Services, session: Session, job_id: int) -> jobs.Claim | None:
    """Claim the job a message names; for a transcription, the transcription whose turn comes
    first in the fair order instead (`jobs.claim_next`: the message is a call for the next
    one, and each job has its own, so every job still runs)."""
    cfg = svc.config
    kind = session.scalar(select(Job.kind).where(Job.id == job_id))
    if kind != JobKind.transcribe:
        return jobs.claim(session, job_id, cfg.job_lease_s)
    held = jobs.claim_next(
        session,
        JobKind.transcribe,
        cfg.job_lease_s,
        long_over_s=cfg.whisper_window_s,
        long_slots=cfg.transcribe_long_slots,
    )
    if held is None and cfg.transcribe_long_slots > 0:
        # This message's job may be a long one held back while the long slots are busy: back
        # to the outbox, so the upkeep sweep calls for it again.
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.queued)
            .values(published_at=None)
            .execution_options(synchronize_session=False)
        )
    return held


def _start(svc: Services, job_id: int) -> tuple[jobs.Claim, Job, Testimony] | None:
    """Claim a job (`_claim`) and move its testimony to `transcribing`; None if there is
    nothing to do."""
    cfg = svc.config
    with svc.db.session() as session:
        held = _claim(svc, session, job_id)
        if held is None:
            return None
        job_id = held.job_id
        job = session.get(Job, job_id)
        testimony = session.get(Testimony, job.testimony_id) if job else None
        if job is None or testimony is None or testimony.wrapped_key is None:
            jobs.cancel(session, held)  # withdrawn meanwhile: nothing left to work on
            return None
        if held.attempt > cfg.job_max_attempts:
            # The worker died on every earlier attempt (a file that kills the decoder):
            # stop here rather than loop, and tell an admin.
            jobs.fail(
                session, held, job.last_error or "worker died", max_attempts=0, retry_base_s=0
            )
            _needs_attention(session, testimony, job, job.last_error or "worker died repeatedly")
            return None
        if job.kind == JobKind.transcribe and testimony.state == TestimonyState.queued:
            lifecycle.transition(
                session,
                testimony,
                TestimonyState.transcribing,
                Actor.worker,
                Action.transcription_started,
                {"job": job.id, "attempt": held.attempt},
            )
        return held, job, testimony


def _needs_attention(session: Session, testimony: Testimony, job: Job, reason: str) -> None:
    testimony.attention_reason = f"job {job.id} ({job.kind.value}): {reason.strip()[-500:]}"
    lifecycle.transition(
        session,
        testimony,
        TestimonyState.needs_attention,
        Actor.worker,
        Action.job_failed,
        {"job": job.id, "attempts": job.attempts},
    )


def _failed(svc: Services, held: jobs.Claim, error: str) -> None:
    cfg = svc.config
    with svc.db.session() as session:
        gave_up = jobs.fail(
            session,
            held,
            error,
            max_attempts=cfg.job_max_attempts,
            retry_base_s=cfg.job_retry_base_s,
        )
        job = session.get(Job, held.job_id)
        testimony = session.get(Testimony, job.testimony_id) if job else None
        if job is None or testimony is None or gave_up is None:
            return
        if gave_up:
            _needs_attention(session, testimony, job, error)
        elif testimony.state == TestimonyState.transcribing:
            lifecycle.transition(
                session,
                testimony,
                TestimonyState.queued,
                Actor.worker,
                Action.retry_scheduled,
                {"job": job.id, "attempt": held.attempt},
            )


def hotwords_for(svc: Services, session: Session, language: str | None) -> str:
    """The hotwords for a testimony in `language`: the configured ones, and the glossary's
    terms in that language when `whisper_glossary_hotwords` is on."""
    words = [svc.config.whisper_hotwords]
    if svc.config.whisper_glossary_hotwords:
        words.append(glossary.hotwords(session, language or "unknown"))
    return " ".join(w for w in words if w).strip()


def _run_engine(
    svc: Services,
    testimony: Testimony,
    audio_file_id: int,
    task: str,
    progress: Progress,
    language: str | None,
) -> TranscriptResult:
    with svc.db.session() as session:
        audio_row = session.get(AudioFile, audio_file_id)
        if audio_row is None:
            raise LookupError(f"audio file {audio_file_id} is gone")
        access_name = audio_row.access_name
        hotwords = hotwords_for(svc, session, language)
        key = transcripts.audio_key(svc.keyring, testimony, audio_row)

    with svc.store.open(key, testimony.storage_id, access_name) as reader:
        return engine_for(svc).transcribe(
            reader,
            language=language,
            task=task,
            hotwords=hotwords or None,
            progress=progress.set,
        )


def _claim_and_run(
    svc: Services, job_id: int, task: str
) -> tuple[jobs.Claim, Job, Testimony, TranscriptResult] | None:
    """Claim the job and run the engine under a kept lease. None when there is nothing to do
    or the attempt failed (the failure is then recorded on the job, never lost)."""
    started = _start(svc, job_id)
    if started is None:
        return None
    held, job, testimony = started
    language = None if testimony.language == Language.unknown else testimony.language.value
    progress = Progress()
    try:
        with lease_kept(svc, held, progress):
            result = _run_engine(svc, testimony, job.audio_file_id or 0, task, progress, language)
    except Exception:  # noqa: BLE001 - every failure is recorded on the job
        _failed(svc, held, traceback.format_exc(limit=5))
        return None
    return held, job, testimony, result


@shared_task(
    name="workers.transcription.run_transcription",
    **JOB_TASK_OPTIONS,
)
def run_transcription(job_id: int) -> None:
    """Transcribe one audio file of a testimony. Safe to run twice (see the module doc)."""
    svc = services()
    ran = _claim_and_run(svc, job_id, "transcribe")
    if ran is not None:
        _store_transcript(svc, *ran)


def _store_transcript(
    svc: Services, held: jobs.Claim, job: Job, testimony: Testimony, result: TranscriptResult
) -> None:
    with svc.db.sessions() as session:
        if not jobs.complete(session, held):
            session.rollback()  # another worker took over; its result counts
            return
        fresh = session.get(Testimony, testimony.id)
        assert fresh is not None
        stored = transcripts.add_transcript(
            session,
            svc.keyring,
            fresh,
            job.audio_file_id or 0,
            job.id,
            result,
            svc.config.whisper_model,
            Actor.worker,
        )
        if stored is not None:
            transcripts.finish_if_complete(session, fresh, Actor.worker)
        # Without a new transcript (an earlier delivery stored it), the job is still done.
        # Drafts it queued are published after this commit (`intake.records.queues`).
        session.commit()
