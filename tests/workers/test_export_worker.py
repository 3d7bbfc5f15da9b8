"""The export task in a real worker process on the real broker, killed half way with
`kill -9` and finished by the next worker: no half bag, every record exported once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import bagit
import pytest
from flask import Flask
from sqlalchemy import select

from intake.config import Config
from intake.events import staff_ref
from intake.export import runs
from intake.models import ExportRun, Job, JobStatus, Testimony, TestimonyState
from tests.export.approved import approved_record, noise_wav
from tests.workers.test_worker_process import WorkerProcess, wait_for, workers  # noqa: F401

pytestmark = [pytest.mark.worker]

RECORDS = 8


def _bags(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith("."))


def test_an_export_killed_half_way_leaves_no_half_bag_and_the_next_worker_finishes(
    app: Flask,
    migrated: Config,
    tmp_path: Path,
    workers: list[WorkerProcess],  # noqa: F811
) -> None:
    audio = noise_wav(60.0)
    pseudonyms = sorted(approved_record(app, audio=audio) for _ in range(RECORDS))
    svc = app.extensions["testimony"]
    out = tmp_path / "out"
    with svc.db.session() as s:
        run = runs.start(s, out_dir=out, requested_by=staff_ref(3), queue=True)
        run_id, job_id = run.id, run.job_id
    log = tmp_path / "worker.log"
    first = WorkerProcess(migrated, log).start()
    workers.append(first)

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out.exists() and _bags(out)):
        time.sleep(0.02)
    assert out.exists() and _bags(out), log.read_text()[-3000:]
    first.kill_hard()

    finished = _bags(out)
    assert len(finished) < RECORDS, "the export ended before it could be killed"
    for bag in finished:
        bagit.Bag(str(bag)).validate()  # every bag under its own name is whole
    with svc.db.session() as s:
        assert s.get(Job, job_id).status == JobStatus.running  # type: ignore[union-attr]

    workers.append(WorkerProcess(migrated, log).start())

    def job_done() -> bool:
        with svc.db.session() as s:
            return s.get(Job, job_id).status == JobStatus.done  # type: ignore[union-attr]

    wait_for(job_done, 180, "the export to finish on the second worker", log)
    assert [p.name for p in _bags(out)] == pseudonyms
    for bag in _bags(out):
        bagit.Bag(str(bag)).validate()
    assert not [p for p in out.iterdir() if ".partial-" in p.name]
    catalogue = json.loads((out / "catalogue.json").read_text())
    assert [r["pseudonym"] for r in catalogue["records"]] == pseudonyms
    with svc.db.session() as s:
        states = s.scalars(select(Testimony.state)).all()
        assert set(states) == {TestimonyState.archived}
        run = s.get(ExportRun, run_id)
        assert run is not None and (run.done, run.total, run.error) == (RECORDS, RECORDS, None)
