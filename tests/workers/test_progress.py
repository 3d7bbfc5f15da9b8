"""Transcription progress reaches the database every few seconds, and at once on a 5 % move,
through the heartbeat that keeps a job's lease (real database; the engine's callback is
driven by hand, as the engine test covers what the model reports)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from intake import create_app
from intake.config import Config
from intake.models import Job, Testimony
from intake.records import jobs
from tests import audio_fixtures as fx
from tests.support import submit
from workers.transcription import Progress, lease_kept


def _app(config: Config, beat_s: float) -> Iterator[Flask]:
    # A lease far longer than the test, so that only progress can cause a write.
    application = create_app(config.with_overrides(job_lease_s=300.0, progress_interval_s=beat_s))
    yield application
    application.extensions["testimony"].db.dispose()


@pytest.fixture
def slow_beat_app(migrated: Config) -> Iterator[Flask]:
    """A beat far longer than the test: only a 5 % move can cause a write."""
    yield from _app(migrated, 60.0)


@pytest.fixture
def fast_beat_app(migrated: Config) -> Iterator[Flask]:
    """A beat of 0.3 s."""
    yield from _app(migrated, 0.3)


def _client(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def _progress(app: Flask) -> float | None:
    with app.extensions["testimony"].db.session() as s:
        return s.scalars(select(Testimony.progress)).one()


def _claimed(app: Flask) -> jobs.Claim:
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        job_id = s.scalars(select(Job.id).order_by(Job.id)).first() or 0
        held = jobs.claim(s, job_id, svc.config.job_lease_s)
    assert held is not None
    return held


def _wait_for(app: Flask, expected: float, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = _progress(app)
        if value is not None and abs(value - expected) < 1e-9:
            return time.monotonic()
        time.sleep(0.05)
    raise AssertionError(f"progress stayed at {_progress(app)}, expected {expected}")


def test_a_five_percent_move_is_written_at_once(slow_beat_app: Flask) -> None:
    app = slow_beat_app
    # Two different files (the same file sent twice is kept once): the testimony's progress
    # is this file's half.
    files = [(fx.tone_wav(1.0), "a.wav"), (fx.tone_wav(1.5), "b.wav")]
    assert submit(_client(app), files).status_code == 200
    held = _claimed(app)
    progress = Progress()
    observed = []
    with lease_kept(app.extensions["testimony"], held, progress):
        for fraction in (0.02, 0.2, 0.6):
            progress.set(fraction)
            if fraction >= 0.05:
                _wait_for(app, fraction / 2, timeout=5.0)
            observed.append(_progress(app))
    # 0.02 was too small a move to write before the (minute-long) beat.
    assert observed == [None, 0.1, 0.3]


def test_small_moves_are_written_on_the_next_beat(fast_beat_app: Flask) -> None:
    app = fast_beat_app
    assert submit(_client(app), [(fx.tone_wav(1.0), "a.wav")]).status_code == 200
    held = _claimed(app)
    progress = Progress()
    seen: list[float | None] = []
    with lease_kept(app.extensions["testimony"], held, progress):
        for step in range(1, 5):
            progress.set(step / 100)  # 1 % at a time: never a 5 % move since the last write
            _wait_for(app, step / 100, timeout=3.0)
            seen.append(_progress(app))
    assert seen == [0.01, 0.02, 0.03, 0.04]
