"""Jobs: the outbox survives a broker outage, claims are exclusive, leases expire and are
swept, and a worker that lost its claim cannot write."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import inspect, select

from intake import create_app, schema
from intake.config import Config
from intake.db import make_engine
from intake.models import Job, JobKind, JobStatus, Testimony, TestimonyState, utcnow
from intake.records import jobs
from tests import audio_fixtures as fx
from tests.support import submit
from workers import upkeep


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisProcess:
    """A private redis-server we can stop and start, to make a real broker outage."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("redis-server")
        assert exe
        self.proc = subprocess.Popen(
            [
                exe,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def private_redis() -> Iterator[RedisProcess]:
    if shutil.which("redis-server") is None:
        pytest.skip(
            "redis-server is not installed; the outage test starts and stops its own broker: "
            "sudo apt-get install redis-server (.ci/run does)"
        )
    server = RedisProcess(_free_port())
    yield server
    server.stop()


def test_broker_outage_at_intake_loses_nothing(
    migrated: Config, private_redis: RedisProcess
) -> None:
    cfg = migrated.with_overrides(broker_url=f"redis://127.0.0.1:{private_redis.port}/0")
    app = create_app(cfg)
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    svc = app.extensions["testimony"]
    # The broker is down (never started): intake must still succeed.
    response = submit(client, [(fx.tone_wav(1.0), "a.wav")])
    assert response.status_code == 200
    with svc.db.session() as s:
        job = s.scalars(select(Job)).one()
        assert job.status == JobStatus.queued and job.published_at is None
    assert upkeep.run_once(svc)["published"] == 0  # still down: stays in the outbox

    private_redis.start()
    assert upkeep.run_once(svc)["published"] == 1
    import redis

    queued = redis.Redis(port=private_redis.port).lrange("transcribe", 0, -1)
    assert len(queued) == 1
    message = json.loads(queued[0])
    body = json.loads(__import__("base64").b64decode(message["body"]))
    assert body[0] == [job.id]  # the id, and nothing else about the testimony
    assert message["headers"]["task"] == "workers.transcription.run_transcription"
    with svc.db.session() as s:
        assert s.scalars(select(Job)).one().published_at is not None
    svc.db.dispose()


def _job(app: Flask, client: FlaskClient) -> int:
    submit(client, [(fx.tone_wav(1.0), "a.wav")])
    with app.extensions["testimony"].db.session() as s:
        return int(s.scalars(select(Job.id)).one())


def test_claim_is_exclusive_and_fenced(app: Flask, client: FlaskClient) -> None:
    job_id = _job(app, client)
    db = app.extensions["testimony"].db
    with db.session() as s:
        first = jobs.claim(s, job_id, lease_s=60)
    with db.session() as s:
        assert jobs.claim(s, job_id, lease_s=60) is None  # a second delivery gets nothing
    assert first is not None and first.attempt == 1
    with db.session() as s:
        assert jobs.renew(s, first, 60, progress=0.5)
        assert jobs.complete(s, first)
    with db.session() as s:
        assert not jobs.complete(s, first)  # already done
        assert jobs.claim(s, job_id, lease_s=60) is None


def test_expired_lease_is_swept_and_old_claim_cannot_write(app: Flask, client: FlaskClient) -> None:
    job_id = _job(app, client)
    db = app.extensions["testimony"].db
    with db.session() as s:
        dead = jobs.claim(s, job_id, lease_s=60)
    assert dead is not None
    later = utcnow() + timedelta(seconds=120)
    with db.session() as s:
        assert jobs.sweep(s, republish_after_s=3600, now=later) == [job_id]
        job = s.get(Job, job_id)
        assert job is not None and job.status == JobStatus.queued and job.published_at is None
    with db.session() as s:
        fresh = jobs.claim(s, job_id, lease_s=60)
    assert fresh is not None and fresh.attempt == 2
    with db.session() as s:
        assert not jobs.complete(s, dead)  # the dead worker's token no longer counts
        assert jobs.complete(s, fresh)


def test_failures_back_off_then_give_up(app: Flask, client: FlaskClient) -> None:
    job_id = _job(app, client)
    db = app.extensions["testimony"].db
    outcomes = []
    delays = []
    for _ in range(4):
        with db.session() as s:
            s.execute(Job.__table__.update().where(Job.id == job_id).values(available_at=utcnow()))
            held = jobs.claim(s, job_id, lease_s=60)
            assert held is not None
            before = utcnow()
            outcomes.append(jobs.fail(s, held, "boom", max_attempts=4, retry_base_s=10))
            after = utcnow()
        with db.session() as s:
            job = s.get(Job, job_id)
            assert job is not None
            if outcomes[-1] is False:
                # The wait is counted from the failure: between the clock before and after it.
                earliest = (job.available_at - after).total_seconds()
                latest = (job.available_at - before).total_seconds()
                assert earliest <= latest
                delays.append((round(earliest), round(latest)))
    assert outcomes == [False, False, False, True]
    assert delays == [(10, 10), (20, 20), (40, 40)]  # base x 2^(attempt - 1)
    with db.session() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.status == JobStatus.failed and job.last_error == "boom"


def test_orphan_folder_from_a_crashed_intake_is_removed(app: Flask) -> None:
    svc = app.extensions["testimony"]
    svc.store.write(b"\x00" * 32, "deadbeef", "audio-01.flac", __import__("io").BytesIO(b"x"))
    assert upkeep.remove_orphans(svc, min_age_s=3600) == 0  # could be an intake in progress
    assert upkeep.remove_orphans(svc, min_age_s=0) == 1
    assert svc.store.storage_ids() == []


def test_sweep_moves_testimony_back_to_queued(app: Flask, client: FlaskClient) -> None:
    job_id = _job(app, client)
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        held = jobs.claim(s, job_id, lease_s=0.01)
        assert held is not None
        t = s.scalars(select(Testimony)).one()
        t.state = TestimonyState.transcribing
    time.sleep(0.05)
    assert upkeep.run_once(svc)["expired"] == 1
    with svc.db.session() as s:
        assert s.scalars(select(Testimony)).one().state == TestimonyState.queued
        assert s.get(Job, job_id).kind == JobKind.transcribe  # type: ignore[union-attr]


def test_schema_module_is_idempotent(app: Flask, client: FlaskClient, migrated: Config) -> None:
    """A second upgrade (a second `testimony init`) keeps the revision, the tables and the rows."""
    job_id = _job(app, client)
    engine = make_engine(migrated.database_url)
    try:
        with engine.connect() as conn:
            revision = MigrationContext.configure(conn).get_current_revision()
            tables = sorted(inspect(conn).get_table_names())
        schema.upgrade(migrated.database_url)
        with engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == revision
            assert sorted(inspect(conn).get_table_names()) == tables
    finally:
        engine.dispose()
    heads = ScriptDirectory.from_config(schema.alembic_config(migrated.database_url)).get_heads()
    assert [revision] == heads
    with app.extensions["testimony"].db.session() as s:
        assert s.scalars(select(Job.id)).all() == [job_id]
        assert s.scalars(select(Testimony)).one().state == TestimonyState.queued
