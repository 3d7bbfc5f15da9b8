"""The Celery app, built from the Flask app (Flask's Celery pattern).

Tasks are `@shared_task`s that run inside the Flask app context and take ids only. Delivery is
"at least once": acks are late, a task whose worker process died is rejected back to the
queue, each worker takes one message at a time, and the job table's claim makes a second
delivery harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Celery, Task
from flask import Flask

from intake import jobs
from intake.config import Config
from intake.models import Job


def celery_settings(config: Config) -> dict[str, Any]:
    """Celery settings derived from the app's configuration."""
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
        "task_default_queue": "default",
        "task_routes": {
            "workers.transcription.*": {"queue": "transcribe"},
            "workers.upkeep.*": {"queue": "default"},
        },
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "task_always_eager": False,
    }


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


def celery_init_app(app: Flask, config: Config) -> Celery:
    """Create the Celery app for `app` and keep it in `app.extensions["celery"]`."""

    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(celery_settings(config))
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    # Import the task modules so the worker registers them.
    import workers.transcription  # noqa: F401
    import workers.upkeep  # noqa: F401

    return celery_app


def job_publisher(celery_app: Celery) -> Callable[[Job], None]:
    """A function that sends one job's message (its id only) to its queue, without retrying:
    if the broker is down the job simply stays in the outbox."""

    def publish(job: Job) -> None:
        name, queue = jobs.ROUTES[job.kind]
        celery_app.send_task(name, args=[job.id], queue=queue, retry=False)

    return publish
