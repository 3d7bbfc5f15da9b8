"""Fair transcription order: a short clip is not starved by hours of recordings queued before
it, a long recording is not starved either (its turn comes, and nothing queued after it goes
first), long jobs can be kept to some worker slots, and the intake form places each job by
its audio's length. Real database (and PostgreSQL with TESTIMONY_TEST_DATABASE_URL)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from types import SimpleNamespace

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.models import Job, JobKind, JobStatus, utcnow
from intake.records import jobs
from tests import audio_fixtures as fx
from tests.support import submit
from workers import transcription

HOUR = 3600.0


def _queue(session: Session, audio_s: float, queued_at: datetime) -> int:
    """A transcription job of `audio_s` seconds queued at `queued_at`, placed as intake does."""
    job = jobs.enqueue(session, None, JobKind.transcribe, audio_s=audio_s)
    job.created_at = job.available_at = queued_at
    job.turn_at = queued_at + timedelta(seconds=jobs.fair_wait_s(audio_s, 1.0))
    session.flush()
    return job.id


def _order(session: Session, now: datetime, **limits: float) -> list[int]:
    """The ids in the order `claim_next` hands them out (each finished at once)."""
    order = []
    while (held := jobs.claim_next(session, JobKind.transcribe, 60, now=now, **limits)) is not None:
        order.append(held.job_id)
        assert jobs.complete(session, held)
    return order


def test_a_clip_goes_before_the_hours_queued_just_before_it(app: Flask) -> None:
    t0 = utcnow() - timedelta(hours=1)
    with app.extensions["testimony"].db.session() as s:
        flood = [_queue(s, HOUR, t0 + timedelta(seconds=i)) for i in range(10)]
        clip = _queue(s, 60.0, t0 + timedelta(seconds=30))
        order = _order(s, now=t0 + timedelta(seconds=31))
    # The clip first, then the recordings in the order they came.
    assert order == [clip, *flood]


def test_aging_a_long_recording_goes_before_clips_queued_after_its_turn(app: Flask) -> None:
    t0 = utcnow() - timedelta(hours=3)
    with app.extensions["testimony"].db.session() as s:
        long = _queue(s, HOUR, t0)
        early = _queue(s, 60.0, t0 + timedelta(minutes=10))  # inside the hour: goes first
        late = [_queue(s, 60.0, t0 + timedelta(hours=1, minutes=i)) for i in range(1, 4)]
        order = _order(s, now=t0 + timedelta(hours=2))
    # The recording's turn came an hour after it was queued; clips queued after that wait,
    # however many and however short, so it is never starved.
    assert order == [early, long, *late]


def test_long_jobs_keep_to_their_slots(app: Flask) -> None:
    t0 = utcnow() - timedelta(hours=1)
    now = t0 + timedelta(minutes=5)
    limits = {"long_over_s": 600.0, "long_slots": 1}
    with app.extensions["testimony"].db.session() as s:
        first, second = _queue(s, HOUR, t0), _queue(s, HOUR, t0 + timedelta(seconds=1))
        running = jobs.claim_next(s, JobKind.transcribe, 600, now=now, **limits)
        assert running is not None and running.job_id == first
        # The one long slot is taken: the other slot takes no long job...
        assert jobs.claim_next(s, JobKind.transcribe, 600, now=now, **limits) is None
        # ...and is free for a clip that arrives now.
        clip = _queue(s, 60.0, now)
        short = jobs.claim_next(s, JobKind.transcribe, 600, now=now, **limits)
        assert short is not None and short.job_id == clip
        # Without a cap, the second recording would have taken that slot.
        assert jobs.complete(s, short) and jobs.complete(s, running)
        after = jobs.claim_next(s, JobKind.transcribe, 600, now=now, **limits)
        assert after is not None and after.job_id == second


def test_the_form_places_each_job_by_its_audio(app: Flask, client: FlaskClient) -> None:
    submit(client, [(fx.tone_wav(2.0), "a.wav")])
    with app.extensions["testimony"].db.session() as s:
        job = s.scalars(select(Job)).one()
        assert job.audio_s is not None and abs(job.audio_s - 2.0) < 0.1
        assert job.turn_at is not None
        # The default: one second of waiting for each second of audio.
        assert abs((job.turn_at - job.created_at).total_seconds() - job.audio_s) < 1.0


def test_a_transcription_message_takes_the_job_whose_turn_comes_first(app: Flask) -> None:
    """The worker's claim: a message naming a queued recording takes the clip instead (the
    recording's turn comes later, through the clip's own message)."""
    svc = app.extensions["testimony"]
    t0 = utcnow() - timedelta(minutes=5)
    with svc.db.session() as s:
        long = _queue(s, HOUR, t0)
        clip = _queue(s, 60.0, t0 + timedelta(seconds=10))
    with svc.db.session() as s:
        held = transcription._claim(svc, s, long)
        assert held is not None and held.job_id == clip
    with svc.db.session() as s:
        assert s.get(Job, long).status == JobStatus.queued  # type: ignore[union-attr]
        again = transcription._claim(svc, s, clip)
        assert again is not None and again.job_id == long


def test_a_long_job_held_back_by_its_slots_goes_back_to_the_outbox(app: Flask) -> None:
    """A message for a long recording while the long slots are busy claims nothing, and the
    recording's job goes back to the outbox, so the upkeep sweep calls for it again later
    (its message was spent)."""
    svc = app.extensions["testimony"]
    capped = SimpleNamespace(config=replace(svc.config, transcribe_long_slots=1))
    t0 = utcnow() - timedelta(minutes=5)
    with svc.db.session() as s:
        running, waiting = _queue(s, HOUR, t0), _queue(s, HOUR, t0 + timedelta(seconds=1))
        s.get(Job, waiting).published_at = utcnow()  # type: ignore[union-attr]
    with svc.db.session() as s:
        held = transcription._claim(capped, s, running)  # type: ignore[arg-type]
        assert held is not None and held.job_id == running
    with svc.db.session() as s:
        assert transcription._claim(capped, s, waiting) is None  # type: ignore[arg-type]
    with svc.db.session() as s:
        job = s.get(Job, waiting)
        assert job is not None and job.status == JobStatus.queued and job.published_at is None
