"""Publishing happens after a commit, in one place, for every session that enqueued a job.

Real parts: the app's own database and the embedded SQLite broker (or Redis in CI); a broker
on a closed port stands for one that is down.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from intake import create_app
from intake.config import Config
from intake.models import Job, JobKind, JobStatus, Testimony, TestimonyState
from intake.records import jobs
from intake.records.queues import ROUTES, queue_names, task_routes
from tests import audio_fixtures as fx
from tests.support import submit


def _a_testimony(app: Flask) -> int:
    submit(app.test_client(), [(fx.tone_wav(0.5), "a.wav")], consent={"archive": "y"})
    with app.extensions["testimony"].db.session() as s:
        testimony = s.scalars(select(Testimony)).one()
        assert testimony.state == TestimonyState.received  # no transcription consented
        return testimony.id


def _enqueue(app: Flask, testimony_id: int, commit: bool) -> int:
    db = app.extensions["testimony"].db
    with db.sessions() as session:
        job = jobs.enqueue(session, testimony_id, JobKind.transcribe)
        session.flush()
        job_id = job.id
        if commit:
            session.commit()
        else:
            session.rollback()
            assert jobs.OUTBOX_KEY not in session.info  # nothing left to publish later
    return job_id


def _published(app: Flask, job_id: int) -> bool | None:
    with app.extensions["testimony"].db.session() as s:
        job = s.get(Job, job_id)
        return None if job is None else job.published_at is not None


def test_a_commit_that_enqueued_publishes_without_being_asked(app: Flask) -> None:
    testimony_id = _a_testimony(app)
    job_id = _enqueue(app, testimony_id, commit=True)
    assert _published(app, job_id) is True


def test_a_rollback_publishes_nothing_and_forgets_the_outbox(app: Flask) -> None:
    testimony_id = _a_testimony(app)
    job_id = _enqueue(app, testimony_id, commit=False)
    assert _published(app, job_id) is None  # never written


def test_a_broker_that_is_down_never_fails_the_commit(migrated: Config) -> None:
    down = migrated.with_overrides(broker_url="redis://127.0.0.1:1/0")
    app = create_app(down)
    try:
        testimony_id = _a_testimony(app)
        job_id = _enqueue(app, testimony_id, commit=True)
        assert _published(app, job_id) is False  # committed, waiting in the outbox
        with app.extensions["testimony"].db.session() as s:
            assert s.get(Job, job_id).status == JobStatus.queued  # type: ignore[union-attr]
    finally:
        app.extensions["testimony"].db.dispose()


def test_one_routing_table_serves_publisher_and_workers() -> None:
    from workers.celery_app import celery_init_app  # noqa: F401 - the workers read the same

    assert set(ROUTES) == set(JobKind)
    assert {route["queue"] for route in task_routes().values()} <= set(queue_names())
