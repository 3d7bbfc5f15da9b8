"""Withdrawal after export (SPEC.md section 7): an archived record is withdrawn from the public
status page like any other, its content, keys and waiting exports destroyed, and the next export
lists it for recall; and a full disk never leaves a bag that looks complete."""

from __future__ import annotations

import csv
import io
import json
import os
import resource
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import bagit
from flask import Flask
from sqlalchemy import func, select

from intake import create_app, crypto, storage
from intake.config import Config
from intake.events import Action
from intake.export import runs
from intake.models import (
    Event,
    ExportRun,
    Identity,
    Role,
    Segment,
    Testimony,
    TestimonyState,
)
from tests.export.approved import APPROVER, approved_record, noise_wav, state_of
from tests.staff_support import ready_account, sign_in, staff_client
from tests.support import ALL_CONSENT, csrf_token

ROOT = Path(__file__).resolve().parents[2]
TODAY = date.today()
NAMED = {**ALL_CONSENT, "publish_named": "y", "name": "Witness Name"}


def _export_into(app: Flask, root: Path) -> tuple[int, dict[str, object]]:
    """An export as the staff page starts it: a folder of its own under `root`."""
    worker = create_app(app.extensions["testimony"].config, "worker")
    svc = worker.extensions["testimony"]
    try:
        with svc.db.session() as s:
            run_id = runs.start(s, export_root=root, requested_by=APPROVER).id
        return run_id, runs.perform(svc, run_id, TODAY)
    finally:
        svc.db.dispose()


def _recall(folder: Path) -> list[dict[str, str]]:
    with (folder / "recall.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_an_archived_record_is_withdrawn_from_the_status_page_and_recalled(
    app: Flask, staff_app: Flask, migrated: Config
) -> None:
    codes: list[str] = []
    pseudonym = approved_record(app, codes=codes)
    root = migrated.export_path
    first, outcome = _export_into(app, root)
    assert outcome["exported"] == [pseudonym]
    assert state_of(app, pseudonym) == TestimonyState.archived
    folder = root / runs.folder_name(first)
    assert (folder / pseudonym).is_dir()

    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    status = client.post("/receipt", data={"csrf_token": csrf_token(client, "/receipt"),
                                           "code": codes[0]})
    assert status.status_code == 200
    assert b'id="withdraw"' in status.data  # the page offers it, and it works
    done = client.post(
        "/receipt/withdraw",
        data={"csrf_token": csrf_token(client, "/receipt"), "code": codes[0], "confirm": "y"},
    )
    assert done.status_code == 200, done.get_data(as_text=True)[:500]

    with app.extensions["testimony"].db.session() as s:
        tombstone = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        assert tombstone.state == TestimonyState.withdrawn
        assert tombstone.wrapped_key is None and tombstone.withdrawn_at is not None
        assert s.scalar(select(func.count()).select_from(Identity)) == 0
        assert s.scalar(select(func.count()).select_from(Segment)) == 0
        withdrawn_on = tombstone.withdrawn_at.date().isoformat()
    assert storage.waiting_exports(root, pseudonym) == []  # the waiting bags went too
    first_folder = root / runs.folder_name(first)
    assert pseudonym not in (first_folder / "catalogue.csv").read_text()  # and their rows
    assert json.loads((first_folder / "catalogue.json").read_text())["records"] == []
    again = client.post("/receipt", data={"csrf_token": csrf_token(client, "/receipt"),
                                          "code": codes[0]})
    assert again.status_code == 200 and b"withdrawn" in again.data

    # The next export does not write the record again, and lists it for recall.
    second, outcome = _export_into(app, root)
    assert outcome["exported"] == []
    folder = root / runs.folder_name(second)
    assert not (folder / pseudonym).exists()
    recall = _recall(folder)
    assert [(r["pseudonym"], r["withdrawn"][:10]) for r in recall] == [(pseudonym, withdrawn_on)]
    archivist = ready_account(staff_app, "archivist@example.org", [Role.archivist])
    staff = staff_client(staff_app)
    sign_in(staff, archivist)
    page = staff.get(f"/staff/export/{second}").get_data(as_text=True)
    assert 'id="recall"' in page and pseudonym in page

    # Once listed, a record is not listed again by the run after.
    third, _ = _export_into(app, root)
    assert _recall(root / runs.folder_name(third)) == []


def _cli_env(config: Config) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TESTIMONY_INSTANCE_PATH": str(config.instance_path),
        "TESTIMONY_DATABASE_URL": config.database_url,
        "TESTIMONY_BROKER_URL": config.broker_url,
    }


def _limit_file_size(limit: int) -> None:
    # A real limit stands in for a full disk: writes past it fail with EFBIG (SIGXFSZ
    # ignored), which the export treats as a full disk (ENOSPC) does.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def _cli_export(config: Config, out: Path, *args: str, limit: int | None = None) -> str:
    exe = Path(sys.executable).with_name("testimony")
    done = subprocess.run(  # noqa: S603 - our own command
        [str(exe), "export", "--out", str(out), *args],
        env=_cli_env(config),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        preexec_fn=(lambda: _limit_file_size(limit)) if limit else None,  # noqa: PLW1509
    )
    return f"{done.returncode}\n{done.stdout}\n{done.stderr}"


def test_a_full_disk_in_the_preservation_bag_leaves_no_bag_and_the_rerun_catalogues_all(
    app: Flask, migrated: Config, tmp_path: Path
) -> None:
    private, public = crypto.new_key_pair()
    migrated.preservation_public_key_file.parent.mkdir(parents=True, exist_ok=True)
    migrated.preservation_public_key_file.write_text(public.hex())
    first = approved_record(app, marked=["Evin"])
    out = tmp_path / "out"
    assert _cli_export(migrated, out, "--id", first).startswith("0\n")
    # 60 s of noise: 1.80 MB as the access FLAC, 1.92 MB as the submitted WAV. Room for
    # the whole access bag, not for the sealed original of the preservation bag.
    big = approved_record(app, audio=noise_wav(60.0), consent=NAMED)
    limit = 1_870_000
    db_file = Path(migrated.database_url.removeprefix("sqlite:///"))
    if db_file.exists():
        assert db_file.stat().st_size < limit // 2
    result = _cli_export(migrated, out, limit=limit)
    assert result.startswith("1\n") and "no space left" in result, result
    assert "preservation bag" in result  # the access bag was written, its sibling was not
    assert state_of(app, big) == TestimonyState.approved
    assert not (out / big).exists()  # the access bag fitted, but the record's output did not
    assert not (out / "preservation" / big).exists()
    assert not [p for p in out.rglob(".*") if "partial" in p.name]
    with app.extensions["testimony"].db.session() as s:
        exported = s.scalars(
            select(Testimony.pseudonym).join(Event, Event.testimony_id == Testimony.id).where(
                Event.action == Action.exported
            )
        ).all()
        assert set(exported) == {first}  # the big record has no export event
        assert s.scalars(select(ExportRun).order_by(ExportRun.id.desc())).first().error  # type: ignore[union-attr]

    # The rerun into the same folder: the catalogue lists exactly the bags the folder holds,
    # those of the earlier run included.
    assert _cli_export(migrated, out).startswith("0\n")
    bags = sorted(p.name for p in out.iterdir() if (p / "bagit.txt").is_file())
    assert bags == sorted([first, big])
    with (out / "catalogue.csv").open(encoding="utf-8", newline="") as f:
        rows = {r["pseudonym"]: r for r in csv.DictReader(f)}
    assert sorted(rows) == bags
    assert json.loads((out / "catalogue.json").read_text())["records"][0]["pseudonym"] in bags
    assert rows[big]["preservation_bag"] == f"preservation/{big}"
    assert rows[big]["access_audio"] == "included"
    assert rows[first]["access_audio"] == "withheld: no audio consent"
    assert sorted(p.name for p in (out / "preservation").iterdir()) == bags

    # The preservation bag holds what was said (the access bag what may be published), and
    # only the archive's private key opens it.
    bagit.Bag(str(out / "preservation" / first)).validate()
    sealed = out / "preservation" / first / "data" / "transcript" / f"{first}.en.json.sealed"
    opened = io.BytesIO()
    with sealed.open("rb") as source:
        crypto.open_from_archive(private, source, opened)
    whole = json.loads(opened.getvalue())
    assert "Evin" in " ".join(s["text"] for s in whole["segments"])
    access = (out / first / "data" / "transcript" / f"{first}.en.json").read_text()
    assert "Evin" not in access and "[place]" in access
