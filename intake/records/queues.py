"""Queues: which task and queue each kind of job goes to, the broker's settings, and publishing.

One routing table (`ROUTES`) serves both sides: the web apps publish a job's id to its queue
by task *name* through a send-only Celery app that knows no task code, and the workers'
Celery app (`workers.celery_app`) routes by the same table. So the domain never imports the
worker code, and a new kind of job is one line here.

Publishing happens after a commit, in one place (`publish_after_commit`): any session that
enqueued a job publishes the outbox once its transaction commits, whatever view, task or
command made it. A broker that is down never fails or delays the commit: the job stays in the
outbox and the upkeep sweep sends it later.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from intake.config import Config
from intake.db import Database
from intake.models import Job, JobKind
from intake.records.jobs import OUTBOX_KEY, Publisher, publish_pending

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "default"
TRANSCRIBE_QUEUE = "transcribe"
EXPORT_QUEUE = "export"

# Task name and queue per kind. Slow work has its own queue so upkeep never waits behind it.
ROUTES: dict[JobKind, tuple[str, str]] = {
    JobKind.transcribe: ("workers.transcription.run_transcription", TRANSCRIBE_QUEUE),
    JobKind.translate_draft: ("workers.drafts.run_translation_draft", TRANSCRIBE_QUEUE),
    # Audio work like transcription, so it shares that queue (and every worker's default).
    JobKind.redact: ("workers.redaction.run_redaction", TRANSCRIBE_QUEUE),
    # Forced alignment of reviewed words runs the model over seconds of audio: the same queue.
    JobKind.align: ("workers.alignment.run_alignment", TRANSCRIBE_QUEUE),
    # Exports read every approved record and write bags for minutes: never behind a
    # transcription, never in front of one.
    JobKind.export: ("workers.export.run_export", EXPORT_QUEUE),
}


def queue_names() -> list[str]:
    """Every queue a worker may be asked to consume, sorted."""
    return sorted({queue for _, queue in ROUTES.values()} | {DEFAULT_QUEUE})


def task_routes() -> dict[str, dict[str, str]]:
    """Celery's `task_routes`, made from `ROUTES`."""
    return {name: {"queue": queue} for name, queue in ROUTES.values()}


def transport_options(broker_url: str, config: Config) -> dict[str, Any]:
    """Options for the broker's transport.

    `max_retries: 0`: a publisher that cannot connect gives up at once. kombu otherwise
    retries the connection of every publish with a growing pause (about 6 s in all with
    Redis down), although the task is sent with `retry=False`; the job stays in the outbox
    and the sweep sends it later, so waiting helps no one.

    Redis (and SQS) redeliver an unacknowledged message after the visibility timeout, so it
    must outlast the longest job; the job lease makes an early redelivery harmless anyway.
    The SQLite transport hands its options to SQLAlchemy's create_engine, which takes none of
    the others (it drops `max_retries` itself): its lost messages are recovered by the upkeep
    sweep instead.
    """
    options: dict[str, Any] = {"max_retries": 0}
    scheme = broker_url.split(":", 1)[0]
    if scheme in {"redis", "rediss", "sqs"}:
        options["visibility_timeout"] = config.broker_visibility_timeout_s
    return options


def celery_settings(config: Config) -> dict[str, Any]:
    """Celery settings derived from the app's configuration (publisher and workers alike)."""
    return {
        "broker_url": config.broker_url,
        "broker_connection_retry_on_startup": True,
        # Intake must not hang when the broker is down: fail fast, the outbox keeps the job.
        # (The worker's consumer retries its own connection forever, with its own loop.)
        "broker_connection_timeout": config.broker_connect_timeout_s,
        "redis_socket_connect_timeout": config.broker_connect_timeout_s,
        "broker_transport_options": transport_options(config.broker_url, config),
        "task_ignore_result": True,
        "result_backend": None,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": DEFAULT_QUEUE,
        "task_routes": task_routes(),
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "task_always_eager": False,
    }


def make_publisher(config: Config) -> Publisher:
    """A function that sends one job's message (its id only) to its queue, without retrying,
    through a Celery app that only sends: if the broker is down the job stays in the outbox."""
    # Imported here, not with the module: importing the domain must not load Celery (and its
    # billiard), which the worker command configures before its first import.
    from celery import Celery

    sender = Celery("testimony-publisher", set_as_current=False)
    sender.config_from_object(celery_settings(config))

    def publish(job: Job) -> None:
        name, queue = ROUTES[job.kind]
        sender.send_task(name, args=[job.id], queue=queue, retry=False)

    return publish


def publish_after_commit(db: Database, publish: Publisher) -> None:
    """Publish the outbox after every commit of `db`'s sessions that enqueued a job.

    Runs after the transaction is durable, so a failure here loses nothing: it is logged and
    the upkeep sweep publishes the job later. It never raises into the code that committed,
    so a visitor whose testimony was saved always gets the receipt.
    """

    def after_commit(session: Session) -> None:
        if not session.info.pop(OUTBOX_KEY, False):
            return
        try:
            publish_pending(db, publish)
        except Exception:  # noqa: BLE001 - committed already; the sweep publishes later
            log.warning("a commit queued jobs that could not be published now; upkeep will")

    def after_rollback(session: Session, _previous: object) -> None:
        session.info.pop(OUTBOX_KEY, None)  # the jobs were never written

    event.listen(db.sessions, "after_commit", after_commit)
    event.listen(db.sessions, "after_soft_rollback", after_rollback)
