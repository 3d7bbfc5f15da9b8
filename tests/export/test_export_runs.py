"""The export end to end on a real database: which records go, what their bags hold, what
happens to the records, a byte-identical second export, a full disk, the command line."""

from __future__ import annotations

import io
import json
import os
import resource
import signal
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import bagit
import pytest
from flask import Flask
from sqlalchemy import select

from intake import create_app, crypto
from intake.config import Config
from intake.events import Action
from intake.export import runs
from intake.export.history import verify_history
from intake.models import (
    Consent,
    Event,
    ExportRun,
    RedactionCategory,
    RedactionMark,
    Segment,
    Testimony,
    TestimonyState,
    Transcript,
)
from tests.export.approved import APPROVER, approved_record, noise_wav, state_of
from tests.support import ALL_CONSENT

ROOT = Path(__file__).resolve().parents[2]
#: Every use, publication with the name included: the audio may leave, in the own voice.
NAMED = {**ALL_CONSENT, "publish_named": "y", "name": "Witness Name"}
TODAY = date.today()


def _export(app: Flask, out: Path, **asked: object) -> dict[str, object]:
    # An export runs where a worker runs: the public app holds no key that opens a record.
    worker = create_app(app.extensions["testimony"].config, "worker")
    svc = worker.extensions["testimony"]
    try:
        with svc.db.session() as s:
            run_id = runs.start(s, out_dir=out, requested_by=APPROVER, **asked).id  # type: ignore[arg-type]
        return runs.perform(svc, run_id, TODAY)
    finally:
        svc.db.dispose()


def _mark_after_the_copy(app: Flask, pseudonym: str) -> None:
    with app.extensions["testimony"].db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        segment = s.scalars(
            select(Segment).join(Transcript).where(Transcript.testimony_id == testimony.id)
        ).first()
        assert segment is not None
        s.add(
            RedactionMark(
                testimony_id=testimony.id,
                segment_id=segment.id,
                char_start=0,
                char_end=2,
                start_s=segment.start_s,
                end_s=segment.start_s + 0.2,
                category=RedactionCategory.person,
                created_by=APPROVER,
            )
        )


def _consent(app: Flask, pseudonym: str, **values: object) -> None:
    with app.extensions["testimony"].db.session() as s:
        consent = s.scalars(
            select(Consent).join(Testimony).where(Testimony.pseudonym == pseudonym)
        ).one()
        for name, value in values.items():
            setattr(consent, name, value)


def _payload(bag: Path) -> dict[str, bytes]:
    data = bag / "data"
    files = sorted(p for p in data.rglob("*") if p.is_file())
    return {str(p.relative_to(data)): p.read_bytes() for p in files}


def test_approved_records_are_bagged_archived_and_the_others_held_back(
    app: Flask, tmp_path: Path
) -> None:
    good = approved_record(app)
    embargoed = approved_record(app)
    _consent(app, embargoed, embargo_until=TODAY + timedelta(days=30))
    unconsented = approved_record(
        app, consent={"archive": "y", "transcribe": "y", "translate": "y"}
    )
    # A record whose redacted copy is older than its marks (a mark made after the copy), and
    # whose audio may leave (publication with the name, in the submitter's own voice).
    to_redact = approved_record(app, consent=NAMED, removal_notes="the guard's name")
    _mark_after_the_copy(app, to_redact)

    out = tmp_path / "out"
    outcome = _export(app, out)

    assert outcome["exported"] == [good]
    reasons = {h["pseudonym"]: h["reason"] for h in outcome["held_back"]}  # type: ignore[attr-defined]
    assert reasons == {
        embargoed: "embargoed",
        unconsented: "unconsented",
        to_redact: "redaction_pending",
    }
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [good, "catalogue.csv", "catalogue.json", "catalogue.xlsx", "entities.csv", "recall.csv"]
    )
    bag = bagit.Bag(str(out / good))
    bag.validate()
    assert bag.info["External-Identifier"] == good
    payload = _payload(out / good)
    transcript = json.loads(payload[f"transcript/{good}.en.json"])
    assert [s["text"] for s in transcript["segments"]] == [
        "In 1988 I was in Evin prison.",
        "After that summer, no news came.",
    ]
    assert {s["approved_by"] for s in transcript["segments"]} == {APPROVER}
    assert not any(name.startswith("translation/") for name in payload)  # none stored yet
    texts = b"".join(v for k, v in payload.items() if not k.startswith("audio/"))
    assert b"@" not in texts  # no email anywhere

    history = json.loads(payload[f"history/{good}.events.json"])
    assert verify_history(history) == []
    assert [e["action"] for e in history["events"]][0] == Action.received.value
    assert history["events"][-1]["to_state"] == "approved"
    history["events"][1]["detail"] = {"segments": 99}
    assert verify_history(history), "a changed entry must not verify"

    assert state_of(app, good) == TestimonyState.archived
    for other in (embargoed, unconsented, to_redact):
        assert state_of(app, other) == TestimonyState.approved
    with app.extensions["testimony"].db.session() as s:
        exported = s.scalars(select(Event).where(Event.action == Action.exported)).all()
        assert [(e.from_state, e.to_state) for e in exported] == [("approved", "archived")]
        assert exported[0].account_id == 8
        run = s.scalars(select(ExportRun)).one()
        assert (run.total, run.done, run.error) == (4, 4, None)
    catalogue = json.loads((out / "catalogue.json").read_text())
    assert [r["pseudonym"] for r in catalogue["records"]] == [good]
    # The catalogue gives the state after the export, and anyone who reads the bags reads it.
    assert catalogue["records"][0]["state"] == "archived"
    for name in ("catalogue.csv", "catalogue.json", "catalogue.xlsx"):
        assert (out / name).stat().st_mode & 0o777 == 0o644
    assert {h["pseudonym"] for h in catalogue["held_back"]} == set(reasons)


def test_a_second_export_gives_a_byte_identical_payload(app: Flask, tmp_path: Path) -> None:
    pseudonym = approved_record(app)
    first = _export(app, tmp_path / "a")
    again = _export(app, tmp_path / "b", pseudonyms=[pseudonym])
    assert first["exported"] == again["exported"] == [pseudonym]
    assert _payload(tmp_path / "a" / pseudonym) == _payload(tmp_path / "b" / pseudonym)
    assert (tmp_path / "a" / pseudonym / "manifest-sha512.txt").read_bytes() == (
        tmp_path / "b" / pseudonym / "manifest-sha512.txt"
    ).read_bytes()
    assert state_of(app, pseudonym) == TestimonyState.archived


def test_named_records_that_may_not_go_are_never_exported(app: Flask, tmp_path: Path) -> None:
    withdrawn = approved_record(app)
    svc = app.extensions["testimony"]
    from intake.public.submissions import withdraw

    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == withdrawn)).one()
        withdraw(s, svc.store, testimony)
    embargoed = approved_record(app)
    _consent(app, embargoed, embargo_until=TODAY + timedelta(days=1))
    outcome = _export(app, tmp_path / "out", pseudonyms=[withdrawn, embargoed, "T-NONE-XXXX"])
    assert outcome["exported"] == []
    reasons = {h["pseudonym"]: h["reason"] for h in outcome["held_back"]}  # type: ignore[attr-defined]
    assert reasons == {withdrawn: "withdrawn", embargoed: "embargoed", "T-NONE-XXXX": "unknown"}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "catalogue.csv",
        "catalogue.json",
        "catalogue.xlsx",
        "entities.csv",
        "recall.csv",
    ]
    assert state_of(app, embargoed) == TestimonyState.approved


def test_preservation_bag_is_sealed_to_the_archive_key_where_consent_allows(
    app: Flask, migrated: Config, tmp_path: Path
) -> None:
    private, public = crypto.new_key_pair()
    migrated.preservation_public_key_file.parent.mkdir(parents=True, exist_ok=True)
    migrated.preservation_public_key_file.write_text(public.hex())
    kept = approved_record(app)
    not_kept = approved_record(
        app, consent={"transcribe": "y", "translate": "y", "publish_anonymised": "y"}
    )
    outcome = _export(app, tmp_path / "out")
    assert outcome["preservation"] == [kept]
    assert sorted(outcome["exported"]) == sorted([kept, not_kept])  # type: ignore[type-var]
    preserved = tmp_path / "out" / "preservation"
    assert sorted(p.name for p in preserved.iterdir()) == [kept]
    bagit.Bag(str(preserved / kept)).validate()
    sealed = preserved / kept / "data" / "original" / f"{kept}-01.bin.sealed"
    opened = io.BytesIO()
    with sealed.open("rb") as source:
        crypto.open_from_archive(private, source, opened)
    assert opened.getvalue()[:4] == b"RIFF"  # the submitter's own WAV, as sent
    with pytest.raises(crypto.DecryptionError), sealed.open("rb") as source:
        crypto.open_from_archive(crypto.new_key_pair()[0], source, io.BytesIO())


def _cli_env(config: Config) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TESTIMONY_INSTANCE_PATH": str(config.instance_path),
        "TESTIMONY_DATABASE_URL": config.database_url,
        "TESTIMONY_BROKER_URL": config.broker_url,
    }


def test_the_command_exports_with_progress(app: Flask, migrated: Config, tmp_path: Path) -> None:
    pseudonym = approved_record(app)
    exe = Path(sys.executable).with_name("testimony")
    done = subprocess.run(  # noqa: S603 - our own command
        [str(exe), "export", "--out", str(tmp_path / "out"), "--id", pseudonym],
        env=_cli_env(migrated),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "exported 1 record(s)" in done.stdout
    assert "export: 100%" in done.stderr and "1/1" in done.stderr  # the total bar
    assert f"{pseudonym}: 100%" in done.stderr and "4/4" in done.stderr  # the record's bar
    bagit.Bag(str(tmp_path / "out" / pseudonym)).validate()
    assert state_of(app, pseudonym) == TestimonyState.archived


def _limit_file_size(limit: int) -> None:
    # A file-size limit stands in for a full disk: writes past it fail with EFBIG instead of
    # killing the process (SIGXFSZ ignored), as writes to a full disk fail with ENOSPC.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_full_disk_fails_clearly_and_leaves_the_record_approved(
    app: Flask, migrated: Config, tmp_path: Path
) -> None:
    pseudonym = approved_record(app, audio=noise_wav(60.0), consent=NAMED)  # 1.5 MB as FLAC
    # Room for every file but the audio: the bag's audio copy is the first write to fail.
    limit = 1024 * 1024
    db_file = Path(migrated.database_url.removeprefix("sqlite:///"))
    if db_file.exists():
        assert db_file.stat().st_size < limit // 2
    exe = Path(sys.executable).with_name("testimony")
    out = tmp_path / "out"
    done = subprocess.run(  # noqa: S603 - our own command
        [str(exe), "export", "--out", str(out)],
        env=_cli_env(migrated),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=lambda: _limit_file_size(limit),  # noqa: PLW1509 - no threads here yet
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no space left" in done.stderr
    assert state_of(app, pseudonym) == TestimonyState.approved
    assert not (out / pseudonym).exists()
    assert not list(out.glob(".*partial*"))
    with app.extensions["testimony"].db.session() as s:
        run = s.scalars(select(ExportRun)).one()
        assert run.error and "no space left" in run.error
        assert not s.scalars(select(Event).where(Event.action == Action.exported)).all()


def test_marked_words_leave_in_no_file_of_the_bag(app: Flask, tmp_path: Path) -> None:
    pseudonym = approved_record(app, marked=["Evin"])
    outcome = _export(app, tmp_path / "out")
    assert outcome["exported"] == [pseudonym]
    bag = tmp_path / "out" / pseudonym
    texts = {
        str(path.relative_to(bag)): path.read_text(encoding="utf-8", errors="replace")
        for path in bag.rglob("*")
        if path.is_file() and path.suffix in {".txt", ".vtt", ".srt", ".json", ".xml"}
    }
    transcript = next(
        t
        for name, t in texts.items()
        if name.startswith("data/transcript/") and name.endswith(".txt")
    )
    assert "[place]" in transcript and "prison" in transcript  # the rest stays
    assert [name for name, text in texts.items() if "Evin" in text] == []
