"""Jobs: the outbox and the lease, kept in the database.

The database, not the broker, records what still has to be done (SPEC.md section 2):

* `enqueue` writes a job row in the same transaction as the testimony; nothing is sent yet.
* `publish_pending` sends every job that has not reached the broker (the outbox). It runs
  after every commit that enqueued a job (`intake.records.queues.publish_after_commit`) and again
  from the upkeep sweep, so a broker that was down at intake time gets the job when it returns.
* a worker `claim`s a job with an atomic UPDATE and a lease; it `renew`s the lease while it
  works; `complete` and `fail` only act while the caller still holds the claim (a fencing
  token), so a worker that lost its lease can never write a second result.
* transcriptions are claimed in a fair order (`claim_next`), not the order their messages
  arrive: a job's turn comes at its queued time plus a wait in proportion to its audio, so a
  one-minute clip goes before hours of recordings queued shortly before it (shortest first),
  while a long recording still gets its turn once that wait is over (aging: nothing queued
  after its turn goes first). A message is a call for "the next transcription", whichever
  that is; one message per job keeps the count right. An operator can also keep long jobs to
  some of the worker slots, so a short clip never waits behind hours of audio already running.
* `sweep` re-queues jobs whose lease expired (the worker was killed or the machine lost power)
  and jobs published long ago but never claimed (a broker lost the message).

Messages carry the job id only.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from intake.db import Database
from intake.events import Action, Actor
from intake.models import Job, JobKind, JobStatus, utcnow
from intake.records import audit

log = logging.getLogger(__name__)

Publisher = Callable[[Job], None]

# Set on a session that enqueued a job: after its commit, `queues.publish_after_commit`
# publishes the outbox.
OUTBOX_KEY = "testimony_outbox"


def enqueue(
    session: Session,
    testimony_id: int | None,
    kind: JobKind,
    audio_file_id: int | None = None,
    *,
    audio_s: float | None = None,
    wait_s: float = 0.0,
) -> Job:
    """Add a job to the outbox; it is published after the surrounding transaction commits.

    A transcription gives the seconds of audio it works on and `wait_s` (`fair_wait_s`): its
    turn in the fair order comes that long after now.
    """
    now = utcnow()
    job = Job(
        testimony_id=testimony_id,
        audio_file_id=audio_file_id,
        kind=kind,
        status=JobStatus.queued,
        attempts=0,
        available_at=now,
        audio_s=audio_s,
        turn_at=now + timedelta(seconds=wait_s),
    )
    session.add(job)
    session.info[OUTBOX_KEY] = True
    return job



def enqueue_once(
    session: Session, testimony_id: int, kind: JobKind, actor: Actor | str, action: Action
) -> Job | None:
    """Queue one job of `kind` for the testimony unless one is already waiting, and write
    `action` as the request's event; None when one waits. A waiting job reads the testimony as
    it is when it runs, so asking twice needs one job (the redaction copy and the alignment)."""
    waiting = session.scalar(
        select(Job.id).where(
            Job.testimony_id == testimony_id, Job.kind == kind, Job.status == JobStatus.queued
        )
    )
    if waiting is not None:
        return None
    job = enqueue(session, testimony_id, kind)
    session.flush()
    audit.record_event(session, testimony_id, actor, action, detail={"job": job.id})
    return job


def publish_pending(db: Database, publish: Publisher, now: datetime | None = None) -> int:
    """Send every queued job that has not reached the broker; returns how many went out.

    Stops at the first failure: if the broker is down, the rest would fail too, and the next
    sweep tries again.
    """
    now = now or utcnow()
    with db.session() as session:
        ids = session.scalars(
            select(Job.id)
            .where(
                Job.status == JobStatus.queued,
                Job.published_at.is_(None),
                Job.available_at <= now,
            )
            .order_by(Job.id)
        ).all()
    sent = 0
    for job_id in ids:
        with db.session() as session:
            job = session.get(Job, job_id)
            if job is None or job.status != JobStatus.queued or job.published_at is not None:
                continue
            try:
                publish(job)
            except Exception as exc:  # noqa: BLE001 - any broker failure means "try later"
                log.warning("broker unavailable, job %s stays in the outbox: %s", job_id, exc)
                break
            job.published_at = utcnow()
            sent += 1
    return sent


@dataclass(frozen=True)
class Claim:
    """A worker's hold on a job: the job id and the fencing token of this attempt."""

    job_id: int
    token: str
    attempt: int


def claim(
    session: Session, job_id: int, lease_s: float, now: datetime | None = None
) -> Claim | None:
    """Take a job for this worker, or return None if it is done or another worker holds it.

    One UPDATE with the conditions in its WHERE clause, so two deliveries of the same message
    cannot both win.
    """
    now = now or utcnow()
    token = secrets.token_hex(16)
    result = session.execute(
        update(Job)
        .where(
            Job.id == job_id,
            or_(
                Job.status == JobStatus.queued,
                (Job.status == JobStatus.running) & (Job.lease_expires_at < now),
            ),
        )
        .values(
            status=JobStatus.running,
            claim_token=token,
            lease_expires_at=now + timedelta(seconds=lease_s),
            attempts=Job.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    attempts = session.scalar(select(Job.attempts).where(Job.id == job_id)) or 1
    return Claim(job_id, token, attempts)


def fair_wait_s(audio_s: float, wait_per_audio_s: float) -> float:
    """How long after it is queued a transcription's turn comes: `wait_per_audio_s` seconds
    for each second of its audio, which bounds how long later, shorter jobs may go first."""
    return max(0.0, audio_s) * max(0.0, wait_per_audio_s)


def claim_next(
    session: Session,
    kind: JobKind,
    lease_s: float,
    *,
    long_over_s: float = 0.0,
    long_slots: int = 0,
    now: datetime | None = None,
) -> Claim | None:
    """Take the claimable job of `kind` whose turn comes first, or None when there is none.

    With `long_slots`, at most that many jobs of over `long_over_s` seconds of audio run at
    once; the other slots take only shorter ones, so a short clip waits at most for the
    short jobs ahead of it. Each candidate is taken with `claim` (one atomic UPDATE), so two
    workers never hold one job; a worker that loses a race tries the next.
    """
    now = now or utcnow()
    claimable = or_(
        Job.status == JobStatus.queued,
        (Job.status == JobStatus.running) & (Job.lease_expires_at < now),
    )
    candidates = (
        select(Job.id)
        .where(Job.kind == kind, Job.available_at <= now, claimable)
        .order_by(func.coalesce(Job.turn_at, Job.created_at), Job.id)
        .limit(20)
    )
    if long_slots > 0:
        long_running = session.scalar(
            select(func.count(Job.id)).where(
                Job.kind == kind,
                Job.status == JobStatus.running,
                Job.lease_expires_at >= now,
                Job.audio_s > long_over_s,
            )
        )
        if (long_running or 0) >= long_slots:
            candidates = candidates.where(or_(Job.audio_s.is_(None), Job.audio_s <= long_over_s))
    for job_id in session.scalars(candidates).all():
        held = claim(session, job_id, lease_s, now)
        if held is not None:
            return held
    return None


def renew(session: Session, held: Claim, lease_s: float, progress: float | None = None) -> bool:
    """Extend the lease (and note progress); False if the claim was lost to the sweep."""
    values: dict[str, object] = {"lease_expires_at": utcnow() + timedelta(seconds=lease_s)}
    if progress is not None:
        values["progress"] = progress
    result = session.execute(
        update(Job)
        .where(
            Job.id == held.job_id, Job.claim_token == held.token, Job.status == JobStatus.running
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def complete(session: Session, held: Claim) -> bool:
    """Mark the job done if this worker still holds it; the caller commits with its result."""
    result = session.execute(
        update(Job)
        .where(
            Job.id == held.job_id, Job.claim_token == held.token, Job.status == JobStatus.running
        )
        .values(status=JobStatus.done, finished_at=utcnow(), progress=1.0, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def fail(
    session: Session, held: Claim, error: str, *, max_attempts: int, retry_base_s: float
) -> bool | None:
    """Record a failed attempt. Returns True when the job gave up (attempts exhausted), False
    when it was queued again with exponential backoff, None if the claim was already lost."""
    job = session.get(Job, held.job_id)
    if job is None or job.claim_token != held.token or job.status != JobStatus.running:
        return None
    job.last_error = error[:2000]
    job.lease_expires_at = None
    job.claim_token = None
    if job.attempts >= max_attempts:
        job.status = JobStatus.failed
        job.finished_at = utcnow()
        return True
    job.status = JobStatus.queued
    job.published_at = None
    job.available_at = utcnow() + timedelta(seconds=retry_base_s * 2 ** (job.attempts - 1))
    return False


def cancel(session: Session, held: Claim) -> bool:
    """Cancel a claimed job whose testimony is gone or withdrawn; only while the claim holds."""
    result = session.execute(
        update(Job)
        .where(Job.id == held.job_id, Job.claim_token == held.token)
        .values(status=JobStatus.cancelled, finished_at=utcnow(), claim_token=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def cancel_for_testimony(
    session: Session, testimony_id: int, kind: JobKind | None = None
) -> int:
    """Cancel every unfinished job of a testimony (withdrawal), or those of one kind (consent
    to that use narrowed); returns how many."""
    conditions = [
        Job.testimony_id == testimony_id,
        Job.status.in_([JobStatus.queued, JobStatus.running]),
    ]
    if kind is not None:
        conditions.append(Job.kind == kind)
    result = session.execute(
        update(Job)
        .where(*conditions)
        .values(status=JobStatus.cancelled, finished_at=utcnow(), claim_token=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def sweep(session: Session, republish_after_s: float, now: datetime | None = None) -> list[int]:
    """Return to the outbox jobs whose worker vanished or whose message was lost.

    A `running` job past its lease is queued again (its attempt still counts, so a file that
    kills the worker every time ends in needs_attention rather than looping); a `queued` job
    published more than `republish_after_s` ago is published again.
    """
    now = now or utcnow()
    expired = session.scalars(
        select(Job.id).where(Job.status == JobStatus.running, Job.lease_expires_at < now)
    ).all()
    if expired:
        session.execute(
            update(Job)
            .where(Job.id.in_(expired), Job.status == JobStatus.running, Job.lease_expires_at < now)
            .values(
                status=JobStatus.queued,
                published_at=None,
                claim_token=None,
                lease_expires_at=None,
                last_error="worker stopped before finishing (lease expired)",
            )
            .execution_options(synchronize_session=False)
        )
    session.execute(
        update(Job)
        .where(
            Job.status == JobStatus.queued,
            Job.published_at < now - timedelta(seconds=republish_after_s),
        )
        .values(published_at=None)
        .execution_options(synchronize_session=False)
    )
    return list(expired)
