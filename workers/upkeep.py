"""Upkeep: the periodic sweep that makes the database, not the broker, the record of work.

Each pass re-queues jobs whose worker vanished (expired lease), publishes the outbox (jobs
that never reached the broker, or whose retry time has come), and removes store folders that
no testimony row owns (an intake that crashed before committing) or that belong to a
withdrawn testimony whose deletion was interrupted. It also removes the files kept for intake
forms that were never finished in time, and forgets receipt codes never confirmed. With the
embedded SQLite broker it deletes the messages that broker has handed out: kombu's SQLAlchemy
transport only marks a delivered message invisible and never deletes it, so its table would
grow by one row per job forever. It applies the retention rules (`intake.records.retention`, at most
once an interval, each run an event) and removes exports still waiting for a withdrawn
record (a withdrawal interrupted before it got to them). Every worker runs the sweep in a
thread of its main process; the operations are atomic updates, so several workers sweeping at
once is harmless.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask
from sqlalchemy import create_engine, inspect, select, text

from intake import storage
from intake.events import Action, Actor
from intake.models import Job, Testimony, TestimonyState
from intake.public import form_tokens, spool
from intake.records import checkpoints, jobs, lifecycle, retention
from intake.services import Services

log = logging.getLogger(__name__)

ORPHAN_AGE_S = 3600.0


def run_once(svc: Services) -> dict[str, int]:
    """One sweep; returns counts for the log and for tests."""
    cfg = svc.config
    with svc.db.session() as session:
        expired = jobs.sweep(session, cfg.job_republish_after_s)
        for job_id in expired:
            job = session.get(Job, job_id)
            if job is None or job.testimony_id is None:
                continue  # an export: its next delivery picks up where it stopped
            testimony = session.get(Testimony, job.testimony_id)
            if testimony is not None and testimony.state == TestimonyState.transcribing:
                lifecycle.transition(
                    session,
                    testimony,
                    TestimonyState.queued,
                    Actor.system,
                    Action.worker_lost,
                    {"job": job_id},
                )
        forgotten = form_tokens.sweep(session, cfg.receipt_keep_s)
    with svc.db.session() as session:
        retained = retention.apply(session, svc.store, cfg)
    published = jobs.publish_pending(svc.db, svc.publish)
    removed = remove_orphans(svc) + remove_withdrawn_exports(svc)
    spools = spool.remove_expired(cfg)
    pruned = prune_broker_messages(cfg.broker_url)
    checkpointed = write_checkpoint(svc)
    if expired or published or removed or spools or forgotten or pruned:
        log.info(
            "upkeep: %d leases expired, %d jobs published, %d folders removed, "
            "%d unfinished forms' files removed, %d unconfirmed receipt codes forgotten, "
            "%d delivered broker messages deleted",
            len(expired),
            published,
            removed,
            spools,
            forgotten,
            pruned,
        )
    return {
        "expired": len(expired),
        "published": published,
        "removed": removed,
        "spools": spools,
        "forgotten": forgotten,
        "pruned": pruned,
        "retention_runs": int(retained is not None),
        "checkpoints": checkpointed,
    }


def write_checkpoint(svc: Services) -> int:
    """Sign a checkpoint of the event log when it has grown since the last one (1 if one
    was written): the database alone can then no longer rewrite what came before."""
    cfg = svc.config
    with svc.db.session() as session:
        written = checkpoints.write(
            session, cfg.checkpoint_key_file, cfg.checkpoint_log_file, only_if_grown=True
        )
    return int(written is not None)


def remove_withdrawn_exports(svc: Services) -> int:
    """Remove exports still waiting for withdrawn records; returns how many entries went."""
    root = svc.config.export_path
    if not root.is_dir() or not any(root.iterdir()):
        return 0
    with svc.db.session() as session:
        withdrawn = session.scalars(
            select(Testimony.pseudonym).where(Testimony.state == TestimonyState.withdrawn)
        ).all()
    return sum(storage.remove_exports(root, pseudonym) for pseudonym in withdrawn)


def prune_broker_messages(broker_url: str) -> int:
    """Delete the messages the SQLite (SQLAlchemy) broker has delivered; returns how many.

    A delivered message is invisible for good: that transport never shows it again, not even
    when the worker that fetched it dies (the job lease recovers that job, not the message).
    So deleting it loses nothing, even while its task still runs. Other brokers delete
    acknowledged messages themselves; for them this does nothing.
    """
    if not broker_url.startswith("sqla+"):
        return 0
    engine = create_engine(broker_url.removeprefix("sqla+"))
    try:
        with engine.begin() as conn:
            # The transport creates its tables on first use; before that there is nothing.
            if not inspect(conn).has_table("kombu_message"):
                return 0
            result = conn.execute(
                text("DELETE FROM kombu_message WHERE visible = :no"), {"no": False}
            )
            return int(result.rowcount)
    finally:
        engine.dispose()


def remove_orphans(svc: Services, min_age_s: float = ORPHAN_AGE_S) -> int:
    """Delete store folders with no testimony row (old enough not to be an intake in
    progress) and folders of withdrawn testimonies."""
    on_disk = svc.store.storage_ids()
    if not on_disk:
        return 0
    with svc.db.session() as session:
        rows = dict(
            session.execute(
                select(Testimony.storage_id, Testimony.state).where(
                    Testimony.storage_id.in_(on_disk)
                )
            ).all()
        )
    removed = 0
    for storage_id in on_disk:
        state = rows.get(storage_id)
        orphan = state is None and svc.store.age_s(storage_id) > min_age_s
        if orphan or state == TestimonyState.withdrawn:
            svc.store.delete_testimony(storage_id)
            removed += 1
    return removed


class UpkeepThread(threading.Thread):
    """Runs `run_once` every `interval` seconds until stopped; errors are logged, not fatal."""

    def __init__(self, app: Flask, svc: Services, interval: float) -> None:
        super().__init__(name="upkeep", daemon=True)
        self._app = app
        self._svc = svc
        self._interval = interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                with self._app.app_context():
                    run_once(self._svc)
            except Exception:
                log.exception("upkeep pass failed; trying again next interval")
            self._stop_event.wait(self._interval)

    def stop(self) -> None:
        """Ask the thread to finish after the current pass."""
        self._stop_event.set()
