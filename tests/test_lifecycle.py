"""State changes that race: a withdrawal against an addition of audio, a worker against a
withdrawal. Each test uses two database sessions, as two requests (or a request and a worker)
would; run with TESTIMONY_TEST_DATABASE_URL set to check PostgreSQL's row locks too."""

from __future__ import annotations

import io
import threading
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from intake.config import Config
from intake.models import AudioFile, Job, JobStatus, Testimony, TestimonyState
from intake.public import submissions
from intake.records import lifecycle
from intake.services import Services
from tests import audio_fixtures as fx
from tests.support import submit


def _svc(app: Flask) -> Services:
    return app.extensions["testimony"]  # type: ignore[no-any-return]


def _new_testimony(client: FlaskClient) -> int:
    response = submit(client, [(fx.tone_wav(1.0), "a.wav")])
    assert response.status_code == 200, response.get_data(as_text=True)
    svc: Services = client.application.extensions["testimony"]
    with svc.db.session() as s:
        return int(s.scalar(select(func.max(Testimony.id))) or 0)


def _add(svc: Services, testimony_id: int, outcome: list[str]) -> None:
    """Add one file in a session of its own; note "added" or the refusal's reason."""
    with svc.db.sessions() as s:
        testimony = s.get(Testimony, testimony_id)
        assert testimony is not None
        upload = submissions.Upload(io.BytesIO(fx.tone_wav(1.0)), "b.wav")
        try:
            submissions.add_audio(s, svc.store, svc.keyring, svc.config, testimony, [upload])
        except submissions.SubmissionRejected as exc:
            outcome.append(exc.reason)
        else:
            outcome.append("added")


def _withdraw(svc: Services, testimony_id: int) -> None:
    with svc.db.sessions() as s:
        testimony = s.get(Testimony, testimony_id)
        assert testimony is not None
        submissions.withdraw(s, svc.store, testimony)


def _assert_withdrawn_cleanly(svc: Services, testimony_id: int, config: Config) -> int:
    """Withdrawn, no key, no file on disk, no job left to run; returns the audio rows."""
    with svc.db.session() as s:
        t = s.get(Testimony, testimony_id)
        assert t is not None
        assert t.state == TestimonyState.withdrawn
        assert t.wrapped_key is None
        folder = Path(config.storage_path) / t.storage_id
        assert not folder.exists() or [p for p in folder.rglob("*") if p.is_file()] == []
        jobs = s.scalars(select(Job).where(Job.testimony_id == testimony_id)).all()
        assert jobs and all(j.status == JobStatus.cancelled for j in jobs)
        return len(s.scalars(select(AudioFile).where(AudioFile.testimony_id == testimony_id)).all())


def test_transition_refuses_a_state_that_changed_since_it_was_read(
    app: Flask, client: FlaskClient
) -> None:
    svc = _svc(app)
    tid = _new_testimony(client)
    with svc.db.sessions() as worker, svc.db.sessions() as request:
        seen_by_worker = worker.get(Testimony, tid)
        seen_by_request = request.get(Testimony, tid)
        assert seen_by_worker and seen_by_request
        assert seen_by_worker.state == seen_by_request.state == TestimonyState.queued
        lifecycle.transition(request, seen_by_request, TestimonyState.withdrawn, "submitter")
        request.commit()
        with pytest.raises(lifecycle.StaleState):
            lifecycle.transition(worker, seen_by_worker, TestimonyState.transcribing, "worker")
        worker.rollback()
    with svc.db.session() as s:
        t = s.get(Testimony, tid)
        assert t is not None and t.state == TestimonyState.withdrawn


def test_withdrawal_while_audio_is_being_written_wins_and_leaves_no_file(
    app: Flask, client: FlaskClient, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = _svc(app)
    tid = _new_testimony(client)
    writing, withdrawn = threading.Event(), threading.Event()
    real_write = svc.store.write

    def write_after_the_withdrawal(*args: object, **kwargs: object) -> int:
        # The one seam: hold the addition inside its file writes until the withdrawal has
        # committed and removed the folder, the interleaving that left files behind.
        writing.set()
        assert withdrawn.wait(60)
        return real_write(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(svc.store, "write", write_after_the_withdrawal)
    outcome: list[str] = []
    adder = threading.Thread(target=_add, args=(svc, tid, outcome))
    adder.start()
    try:
        assert writing.wait(60)
        _withdraw(svc, tid)
    finally:
        withdrawn.set()
        adder.join(120)
    assert outcome == ["cannot_add"]
    assert _assert_withdrawn_cleanly(svc, tid, config) == 1  # the addition left no row
    with svc.db.session() as s:
        t = s.get(Testimony, tid)
        assert t is not None
        assert not (Path(config.storage_path) / t.storage_id).exists()  # not even the folder


def test_addition_committed_before_a_stale_withdrawal_is_withdrawn_too(
    app: Flask, client: FlaskClient, config: Config
) -> None:
    svc = _svc(app)
    tid = _new_testimony(client)
    with svc.db.session() as s:
        s.execute(update(Testimony).values(state=TestimonyState.transcribed))
    with svc.db.sessions() as s:
        stale = s.get(Testimony, tid)
        assert stale is not None and stale.state == TestimonyState.transcribed
        outcome: list[str] = []
        _add(svc, tid, outcome)  # commits: transcribed -> queued, one more file and job
        assert outcome == ["added"]
        submissions.withdraw(s, svc.store, stale)
    assert _assert_withdrawn_cleanly(svc, tid, config) == 2


def _race(svc: Services, testimony_id: int) -> list[str]:
    """Start an addition and a withdrawal of one testimony at the same instant; returns the
    addition's outcome, having checked that neither thread failed."""
    start = threading.Barrier(2)
    outcome: list[str] = []
    failures: list[str] = []

    def run(step: Callable[[], None]) -> None:
        start.wait(30)
        try:
            step()
        except BaseException:
            failures.append(traceback.format_exc())

    threads = [
        threading.Thread(target=run, args=(lambda: _add(svc, testimony_id, outcome),)),
        threading.Thread(target=run, args=(lambda: _withdraw(svc, testimony_id),)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    return outcome


def test_addition_and_withdrawal_at_once_end_consistent(
    app: Flask, client: FlaskClient, config: Config
) -> None:
    svc = _svc(app)
    for _ in range(3):
        tid = _new_testimony(client)
        outcome = _race(svc, tid)
        assert outcome in (["added"], ["cannot_add"])
        rows = _assert_withdrawn_cleanly(svc, tid, config)
        assert rows == (2 if outcome == ["added"] else 1)
