"""Claims under contention: two workers race for one job, and a stale claim cannot act.

Run these on PostgreSQL too (TESTIMONY_TEST_DATABASE_URL): there the two claims really run at
the same time, where SQLite lets one writer in at a time.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from intake.models import Job, JobStatus, utcnow
from intake.records import jobs
from tests import audio_fixtures as fx
from tests.support import submit


def _job(app: Flask, client: FlaskClient) -> int:
    submit(client, [(fx.tone_wav(1.0), "a.wav")])
    with app.extensions["testimony"].db.session() as s:
        return int(s.scalars(select(Job.id)).one())


def test_two_claims_racing_for_one_job_give_one_winner(app: Flask, client: FlaskClient) -> None:
    """Both claims are held at their first write to the job table until both have got there,
    so each has done whatever reading it does before either writes: a claim made as a read
    followed by an UPDATE by id would let both win. An atomic conditional UPDATE lets one."""
    job_id = _job(app, client)
    db = app.extensions["testimony"].db
    at_write = threading.Barrier(2, timeout=10)
    held_once = threading.local()

    def hold_first_job_write(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE JOB") and not getattr(
            held_once, "done", False
        ):
            held_once.done = True
            # If the other claim never writes, there is nothing to line up with.
            with contextlib.suppress(threading.BrokenBarrierError):
                at_write.wait()

    results: list[jobs.Claim | None] = []
    errors: list[BaseException] = []

    def claim() -> None:
        try:
            with db.session() as s:
                results.append(jobs.claim(s, job_id, lease_s=60))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    event.listen(db.engine, "before_cursor_execute", hold_first_job_write)
    try:
        threads = [threading.Thread(target=claim) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        event.remove(db.engine, "before_cursor_execute", hold_first_job_write)
    assert not errors, errors
    assert not at_write.broken, "the two claims did not both reach their write"
    winners = [held for held in results if held is not None]
    assert len(results) == 2 and len(winners) == 1
    with db.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        assert job.status == JobStatus.running and job.attempts == 1
        assert job.claim_token == winners[0].token


def _stale_and_fresh(app: Flask, client: FlaskClient) -> tuple[jobs.Claim, jobs.Claim]:
    """A claim whose lease ran out and was swept, and the claim that took the job after it."""
    job_id = _job(app, client)
    db = app.extensions["testimony"].db
    with db.session() as s:
        stale = jobs.claim(s, job_id, lease_s=60)
    with db.session() as s:
        assert jobs.sweep(s, republish_after_s=3600, now=utcnow() + timedelta(seconds=120))
    with db.session() as s:
        fresh = jobs.claim(s, job_id, lease_s=60)
    assert stale is not None and fresh is not None and stale.token != fresh.token
    return stale, fresh


def _row(app: Flask, job_id: int) -> tuple[Any, ...]:
    with app.extensions["testimony"].db.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return (
            job.status,
            job.claim_token,
            job.attempts,
            job.lease_expires_at,
            job.progress,
            job.last_error,
            job.available_at,
        )


def test_a_stale_claim_cannot_renew_the_new_holders_lease(app: Flask, client: FlaskClient) -> None:
    stale, fresh = _stale_and_fresh(app, client)
    before = _row(app, fresh.job_id)
    with app.extensions["testimony"].db.session() as s:
        assert jobs.renew(s, stale, 3600, progress=0.9) is False
    assert _row(app, fresh.job_id) == before
    with app.extensions["testimony"].db.session() as s:
        assert jobs.renew(s, fresh, 3600, progress=0.5) is True  # the control


def test_a_stale_claim_cannot_fail_the_new_holders_job(app: Flask, client: FlaskClient) -> None:
    stale, fresh = _stale_and_fresh(app, client)
    before = _row(app, fresh.job_id)
    with app.extensions["testimony"].db.session() as s:
        assert jobs.fail(s, stale, "late news", max_attempts=5, retry_base_s=1) is None
    assert _row(app, fresh.job_id) == before
    with app.extensions["testimony"].db.session() as s:
        assert jobs.fail(s, fresh, "real", max_attempts=5, retry_base_s=1) is False  # control
