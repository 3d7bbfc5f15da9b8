"""The Celery app, built from the Flask app (Flask's Celery pattern).

Tasks are `@shared_task`s that run inside the Flask app context and take ids only. Delivery is
"at least once": acks are late, a task whose worker process died is rejected back to the
queue, each worker takes one message at a time, and the job table's claim makes a second
delivery harmless.
"""

from __future__ import annotations

from celery import Celery, Task
from flask import Flask

from intake.config import Config
from intake.records.queues import celery_settings


def make_worker_app(config: Config) -> tuple[Flask, Celery]:
    """The worker's Flask app (services, no pages; `create_app(config, "worker")`) and the
    Celery app whose tasks run inside its app context."""
    from intake import create_app

    app = create_app(config, "worker")
    return app, celery_init_app(app, config)


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
    import workers.alignment  # noqa: F401
    import workers.drafts  # noqa: F401
    import workers.export  # noqa: F401
    import workers.redaction  # noqa: F401
    import workers.transcription  # noqa: F401
    import workers.upkeep  # noqa: F401

    return celery_app
