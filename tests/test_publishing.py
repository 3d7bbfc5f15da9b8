"""Publishing jobs: a broker that is down never holds up a submitter's reply or a sweep, and
the embedded SQLite broker's message table stays bounded."""

from __future__ import annotations

import time
from types import SimpleNamespace

from flask import Flask
from kombu import Connection
from sqlalchemy import create_engine, select, text

from intake import create_app
from intake.config import Config
from intake.models import Job, JobKind, JobStatus
from tests import audio_fixtures as fx
from tests.support import csrf_token, submit
from workers import upkeep

# Nothing listens on port 1: every connection is refused at once, as when Redis is down.
CLOSED_BROKER = "redis://127.0.0.1:1/0"


def test_intake_and_sweep_do_not_wait_on_a_broker_that_is_down(migrated: Config) -> None:
    app = create_app(migrated.with_overrides(broker_url=CLOSED_BROKER))
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    svc = app.extensions["testimony"]
    try:
        csrf_token(client)  # warm up: templates compiled, database opened
        started = time.monotonic()
        response = submit(client, [(fx.tone_wav(1.0), "a.wav")])
        took = time.monotonic() - started
        assert response.status_code == 200
        assert took < 1.5, f"the reply waited {took:.1f} s on the broker"
        with svc.db.session() as s:
            job = s.scalars(select(Job)).one()
            assert job.status == JobStatus.queued and job.published_at is None
        started = time.monotonic()
        assert upkeep.run_once(svc)["published"] == 0
        took = time.monotonic() - started
        assert took < 1.5, f"the sweep waited {took:.1f} s on the broker"
    finally:
        svc.db.dispose()


def _broker_rows(url: str) -> dict[bool, int]:
    engine = create_engine(url.removeprefix("sqla+"))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT visible, count(*) FROM kombu_message GROUP BY visible")
            ).all()
    finally:
        engine.dispose()
    return {bool(visible): int(count) for visible, count in rows}


def test_sweep_deletes_messages_the_sqlite_broker_delivered(
    migrated: Config, tmp_path: object
) -> None:
    # The embedded broker, whatever broker the rest of the suite was given.
    url = f"sqla+sqlite:///{migrated.instance_path / 'sweep-broker.sqlite'}"
    app: Flask = create_app(migrated.with_overrides(broker_url=url))
    svc = app.extensions["testimony"]
    try:
        for job_id in (1, 2, 3):
            svc.publish(SimpleNamespace(kind=JobKind.transcribe, id=job_id))
        with Connection(url) as conn:
            channel = conn.default_channel
            for _ in range(2):
                message = channel.basic_get("transcribe")
                assert message is not None
                message.ack()
        assert _broker_rows(url) == {False: 2, True: 1}
        assert upkeep.run_once(svc)["pruned"] == 2
        # The message still waiting for a worker stays; the delivered ones are gone.
        assert _broker_rows(url) == {True: 1}
        assert upkeep.run_once(svc)["pruned"] == 0
    finally:
        svc.db.dispose()
