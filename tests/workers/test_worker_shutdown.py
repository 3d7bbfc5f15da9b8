"""`testimony worker` stops within 10 seconds of SIGTERM, even in the middle of a
transcription, and the job it held comes back through its lease."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import psutil
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from intake.config import Config
from intake.models import Job, JobStatus, Testimony, TestimonyState
from tests.support import submit
from tests.workers.test_worker_process import WorkerProcess, _spoken, wait_for
from tests.workers.test_worker_process import workers as workers  # noqa: F401 - fixture

pytestmark = [pytest.mark.worker, pytest.mark.model]


def test_sigterm_stops_a_busy_worker_within_10_s_and_the_job_comes_back(
    app: Flask,
    client: FlaskClient,
    config: Config,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    log = tmp_path / "worker.log"
    response = submit(client, [(_spoken(tmp_path, repeat=6), "speech.wav")], language="en")
    assert response.status_code == 200
    first = WorkerProcess(config, log).start()
    workers.append(first)
    db = app.extensions["testimony"].db

    def running() -> bool:
        with db.session() as s:
            return s.scalars(select(Job.status)).one() == JobStatus.running

    wait_for(running, 120, "the worker to claim the job", log)
    time.sleep(1.0)  # inside the model now
    assert first.proc is not None
    group = [first.proc.pid] + [p.pid for p in psutil.Process(first.proc.pid).children(True)]
    started = time.monotonic()
    first.proc.send_signal(signal.SIGTERM)  # the main process only, as a process manager does
    first.proc.wait(timeout=30)
    took = time.monotonic() - started
    assert took < 10, f"the worker took {took:.1f} s to stop"
    assert not [pid for pid in group if psutil.pid_exists(pid)
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE], "a pool process lives on"
    with db.session() as s:
        assert s.scalars(select(Job.status)).one() == JobStatus.running  # held until its lease ends
    workers.append(WorkerProcess(config, log).start())
    wait_for(
        lambda: _state(app) == TestimonyState.transcribed, 300, "recovery after the lease", log
    )


def _state(app: Flask) -> TestimonyState:
    with app.extensions["testimony"].db.session() as s:
        return s.scalars(select(Testimony.state)).one()
