"""The task that makes a testimony's redacted access copy and proves it: it claims, calls and
reports.

The work is `intake.review.access_copies.make_access_copies`, then
`intake.review.redaction_proof.prove`
(the copy is checked by the worker that made it, with its model, before anything may export
it); this module only takes the job (an
atomic claim with a lease, kept alive while the audio is processed), stores the result in the
transaction that marks the job done while the claim still holds, and records a failure on the
job. Safe to run twice: a second delivery finds the job claimed or done, and a second run
replaces the copies with equal ones.
"""

from __future__ import annotations

import traceback

from celery import shared_task

from intake.events import Actor
from intake.models import Job, Testimony
from intake.records import jobs
from intake.review import access_copies, redaction_proof
from intake.services import services
from workers.alignment import listener_for
from workers.transcription import JOB_TASK_OPTIONS, Progress, engine_for, lease_kept


@shared_task(name="workers.redaction.run_redaction", **JOB_TASK_OPTIONS)
def run_redaction(job_id: int) -> None:
    """Make (again) the access copies of the job's testimony from its current marks, and
    prove them."""
    svc = services()
    cfg = svc.config
    with svc.db.session() as session:
        held = jobs.claim(session, job_id, cfg.job_lease_s)
        if held is None:
            return
        job = session.get(Job, job_id)
        testimony = session.get(Testimony, job.testimony_id) if job else None
        if job is None or testimony is None or testimony.wrapped_key is None:
            jobs.cancel(session, held)  # withdrawn meanwhile: nothing to copy
            return
        if held.attempt > cfg.job_max_attempts:
            jobs.fail(
                session, held, job.last_error or "worker died", max_attempts=0, retry_base_s=0
            )
            return
        testimony_id = testimony.id
    try:
        with lease_kept(svc, held, Progress()), svc.db.sessions() as session:
            access_copies.make_access_copies(
                session, svc.keyring, svc.store, cfg, testimony_id, Actor.worker
            )
            redaction_proof.prove(
                session,
                svc.keyring,
                svc.store,
                cfg,
                testimony_id,
                listener_for(engine_for(svc)),
                cfg.whisper_model,
            )
            if not jobs.complete(session, held):
                session.rollback()  # another worker took over; its copies count
                return
            session.commit()
    except Exception:  # noqa: BLE001 - every failure is recorded on the job
        with svc.db.session() as session:
            jobs.fail(
                session,
                held,
                traceback.format_exc(limit=5),
                max_attempts=cfg.job_max_attempts,
                retry_base_s=cfg.job_retry_base_s,
            )
