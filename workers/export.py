"""The export task: claims an export job, runs `intake.export.runs.perform`, reports.

The export itself is domain code shared with `testimony export`; this module only holds the
job's lease while it runs (the lease's heartbeat also writes the job's progress) and records
the outcome on the job. Safe to run twice: a second delivery finds the job claimed or done; a
worker killed half way leaves at most hidden partial folders, its lease runs out, the sweep
queues the job again, and the next run chooses the same records, rewrites byte-identical bags
and finishes.
"""

from __future__ import annotations

import logging
import traceback

from celery import shared_task
from sqlalchemy import select

from intake.export.runs import ExportFailed, perform
from intake.models import ExportRun, Job, JobKind, utcnow
from intake.records import jobs
from intake.services import services
from workers.transcription import JOB_TASK_OPTIONS, Progress, lease_kept

log = logging.getLogger(__name__)


@shared_task(name="workers.export.run_export", **JOB_TASK_OPTIONS)
def run_export(job_id: int) -> None:
    """Run the export whose job is `job_id`. Safe to run twice (see the module doc)."""
    svc = services()
    with svc.db.session() as session:
        held = jobs.claim(session, job_id, svc.config.job_lease_s)
        if held is None:
            return
        job = session.get(Job, job_id)
        run_id = session.scalar(select(ExportRun.id).where(ExportRun.job_id == job_id))
        if job is None or job.kind != JobKind.export or run_id is None:
            jobs.cancel(session, held)
            return
    progress = Progress()

    def report(done: int, total: int, _pseudonym: str, _step: int) -> None:
        progress.set(done / total if total else 1.0)

    try:
        with lease_kept(svc, held, progress):
            perform(svc, run_id, utcnow().date(), report)
    except ExportFailed as exc:
        # A full disk or an unwritable folder: trying again soon would fail the same way.
        with svc.db.session() as session:
            jobs.fail(session, held, str(exc), max_attempts=0, retry_base_s=0)
        log.error("export %s failed: %s", run_id, exc)
        return
    except Exception:  # noqa: BLE001 - every other failure is recorded on the job, and retried
        with svc.db.session() as session:
            jobs.fail(
                session,
                held,
                traceback.format_exc(limit=5),
                max_attempts=svc.config.job_max_attempts,
                retry_base_s=svc.config.job_retry_base_s,
            )
        return
    with svc.db.session() as session:
        jobs.complete(session, held)
