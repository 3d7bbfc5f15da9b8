"""The archivist's export page: start an export as a plain form, watch it, download it."""

from __future__ import annotations

import io
import tarfile
from datetime import date

import bagit
from flask import Flask
from sqlalchemy import select

from intake.export import runs
from intake.models import ExportRun, Job, JobKind, JobStatus, Role
from tests.export.approved import approved_record
from tests.staff_support import ready_account, sign_in, staff_client
from tests.support import csrf_token


def test_an_archivist_starts_watches_and_downloads_an_export(
    app: Flask, staff_app: Flask, tmp_path: object
) -> None:
    pseudonym = approved_record(app)
    archivist = ready_account(staff_app, "archivist@example.org", [Role.archivist])
    client = staff_client(staff_app)
    sign_in(client, archivist)
    assert b'id="to-export"' in client.get("/staff/").data

    token = csrf_token(client, "/staff/export/")
    r = client.post("/staff/export/", data={"csrf_token": token, "since": "", "pseudonyms": ""})
    assert r.status_code == 303
    run_url = r.location
    svc = staff_app.extensions["testimony"]
    with svc.db.session() as s:
        run = s.scalars(select(ExportRun)).one()
        job = s.get(Job, run.job_id)
        assert job is not None and job.kind == JobKind.export and job.testimony_id is None
        assert run.requested_by == f"account:{archivist.id}"
        run_id = run.id
    page = client.get(run_url).get_data(as_text=True)
    assert 'http-equiv="refresh"' in page and "waiting for a worker" in page
    assert client.get(f"/staff/export/{run_id}/download").status_code == 409

    runs.perform(svc, run_id, date.today())  # what the export task runs
    page = client.get(run_url).get_data(as_text=True)
    assert "finished" in page and 'http-equiv="refresh"' not in page
    assert pseudonym in page

    r = client.get(f"/staff/export/{run_id}/download")
    assert r.status_code == 200 and r.mimetype == "application/x-tar"
    assert r.headers["Content-Disposition"] == f'attachment; filename="export-{run_id:05d}.tar"'
    folder = tmp_path / "unpacked"  # type: ignore[operator]
    with tarfile.open(fileobj=io.BytesIO(r.get_data())) as tar:
        tar.extractall(folder, filter="data")
    bagit.Bag(str(folder / f"export-{run_id:05d}" / pseudonym)).validate()
    assert (folder / f"export-{run_id:05d}" / "catalogue.csv").exists()


def test_a_bad_date_is_refused_and_nothing_is_started(app: Flask, staff_app: Flask) -> None:
    archivist = ready_account(staff_app, "archivist@example.org", [Role.archivist])
    client = staff_client(staff_app)
    sign_in(client, archivist)
    token = csrf_token(client, "/staff/export/")
    r = client.post("/staff/export/", data={"csrf_token": token, "since": "21/03/2026"})
    assert r.status_code == 400
    assert "YYYY-MM-DD" in r.get_data(as_text=True)
    r = client.post(
        "/staff/export/", data={"csrf_token": token, "pseudonyms": "T-AAAA-BBBB ../etc"}
    )
    assert r.status_code == 400 and "../ETC" in r.get_data(as_text=True)
    with staff_app.extensions["testimony"].db.session() as s:
        assert s.scalars(select(ExportRun)).all() == []
        assert s.scalars(select(Job).where(Job.status == JobStatus.queued)).all() == []


def test_other_roles_cannot_export(app: Flask, staff_app: Flask) -> None:
    reviewer = ready_account(staff_app, "reviewer@example.org", [Role.reviewer])
    client = staff_client(staff_app)
    sign_in(client, reviewer)
    assert client.get("/staff/export/").status_code == 403
    assert b"to-export" not in client.get("/staff/").data
