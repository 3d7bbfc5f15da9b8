"""One archival export, start to finish: the code the command line and the export task share.

`start` records an export (and, from the staff app, queues its job); `perform` does it: picks
the records, applies `eligibility.decide` to each (whatever was asked for), gathers, writes the
access bag and, where consent allows, the preservation bag, then moves the record to `archived`
and writes its `exported` event, one record per transaction. At the end it writes the
catalogue. Progress goes to the run's row (the staff page reads it) and to a callback (the
command's progress bars, the task's lease).

Safe to run twice: the records are chosen once and kept on the run, bags are replaced by
byte-identical ones, and a record already archived is exported again without moving. A full
disk stops the export with a clear error: the record being written stays `approved`, with no
bag, and so do the ones after it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake import jobs, lifecycle
from intake.audit import record_event
from intake.events import Action
from intake.export.bag import BagOptions, write_bag
from intake.export.catalogue import (
    CatalogueEntry,
    catalogue_csv,
    catalogue_json,
    catalogue_xlsx,
)
from intake.export.custody import Custody
from intake.export.eligibility import Decision, decide
from intake.export.gather import HeldBack, approved_since, consent_terms, gather
from intake.export.preservation import FOLDER as PRESERVATION
from intake.export.preservation import Originals, write_preservation_bag
from intake.export.record import ExportError, ExportRecord
from intake.models import (
    ExportRun,
    Job,
    JobKind,
    JobStatus,
    Testimony,
    TestimonyState,
    utcnow,
)
from intake.services import Services

#: The catalogue files' mode: readable by whoever may read the bags.
CATALOGUE_MODE = 0o644

#: Steps of one record, for a per-record progress bar.
STEPS = ("gather", "access bag", "preservation bag", "archived")

#: A note on the outcome: no preservation bag was written, for want of the archive's key.
NO_ARCHIVE_KEY = "no_archive_key"

#: Called with (records done, records in all, pseudonym, step index in STEPS).
ProgressCallback = Callable[[int, int, str, int], None]


class ExportFailed(Exception):
    """The export stopped (a full disk, an unwritable folder); says why. Records not yet
    exported stay as they were."""


def _no_progress(done: int, total: int, pseudonym: str, step: int) -> None:
    return None


def start(
    session: Session,
    *,
    out_dir: Path | None = None,
    export_root: Path | None = None,
    requested_by: str,
    since: date | None = None,
    pseudonyms: list[str] | None = None,
    queue: bool = False,
) -> ExportRun:
    """Record an export into `out_dir`, or into a folder of its own under `export_root`;
    with `queue`, add its job (published after the caller commits)."""
    run = ExportRun(
        requested_by=requested_by,
        since=since,
        pseudonyms=sorted(set(pseudonyms)) if pseudonyms else None,
        out_dir=str(out_dir or ""),
        total=0,
        done=0,
    )
    session.add(run)
    session.flush()
    if out_dir is None:
        if export_root is None:
            raise ValueError("an export needs a folder")
        run.out_dir = str(export_root / folder_name(run.id))
    if queue:
        job = jobs.enqueue(session, None, JobKind.export)
        session.flush()
        run.job_id = job.id
    return run


def folder_name(run_id: int) -> str:
    """The folder (and download) name of an export started from the staff app."""
    return f"export-{run_id:05d}"


def status(session: Session, run: ExportRun) -> str:
    """`queued`, `running`, `done` or `failed`: what the archivist's page shows."""
    if run.error:
        return "failed"
    if run.finished_at is not None:
        return "done"
    job = session.get(Job, run.job_id) if run.job_id is not None else None
    if job is not None and job.status == JobStatus.failed:
        return "failed"
    if job is not None and job.status == JobStatus.queued and run.total == 0:
        return "queued"
    return "running"


def _choose(session: Session, run: ExportRun) -> list[str]:
    """The pseudonyms this export covers: those named (whatever their state: the rule holds
    back what may not go), else the approved records, those approved since `since` including
    records exported before."""
    if run.pseudonyms:
        return sorted(run.pseudonyms)
    query = select(Testimony.pseudonym)
    if run.since is not None:
        ids = approved_since(session, run.since)
        query = query.where(
            Testimony.id.in_(ids),
            Testimony.state.in_([TestimonyState.approved, TestimonyState.archived]),
        )
    else:
        query = query.where(Testimony.state == TestimonyState.approved)
    return sorted(session.scalars(query).all())


@dataclass
class _Outcome:
    exported: list[str]
    held_back: list[Decision]
    preservation: list[str]
    notes: list[str]

    def as_json(self, selected: list[str]) -> dict[str, Any]:
        return {
            "selected": selected,
            "exported": sorted(self.exported),
            "preservation": sorted(self.preservation),
            "held_back": [
                {"pseudonym": d.pseudonym, "reason": d.reason, "message": d.message}
                for d in sorted(self.held_back, key=lambda d: d.pseudonym)
            ],
            "notes": self.notes,
        }


def _light(record: ExportRecord) -> ExportRecord:
    """The record without its text and audio: what the catalogue needs, so an export of
    thousands of records holds one record's content at a time."""
    translation = record.translation
    return replace(
        record,
        transcript=None,
        translation=replace(translation, segments=()) if translation else None,
        events=(),
        audio=None,
    )


def _write_atomic(path: Path, text: str | bytes) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(text.encode("utf-8") if isinstance(text, str) else text)
            out.flush()
            os.fsync(out.fileno())
        # mkstemp makes the file private; the catalogue is for the archive's staff to read.
        os.chmod(temp, CATALOGUE_MODE)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def perform(
    svc: Services,
    run_id: int,
    today: date,
    progress: ProgressCallback = _no_progress,
) -> dict[str, Any]:
    """Do export `run_id`; return its outcome (also stored on the run). Raises ExportFailed."""
    cfg = svc.config
    with svc.db.session() as session:
        run = session.get(ExportRun, run_id)
        if run is None:
            raise ExportFailed(f"no export {run_id}")
        out_dir = Path(run.out_dir)
        actor = run.requested_by
        earlier = run.outcome or {}
        selected = earlier.get("selected") or _choose(session, run)
        run.total, run.done, run.error = len(selected), 0, None
        run.outcome = {"selected": selected}
    options = BagOptions(
        cfg.export_source_organisation,
        cfg.export_collection_name,
        contact_email=cfg.export_contact_email,
        profile_url=cfg.export_bagit_profile_url,
        group_identifier=out_dir.name,
    )
    public_key = _archive_key(cfg.preservation_public_key_file)
    outcome = _Outcome([], [], [], [])
    if public_key is None:
        outcome.notes.append(NO_ARCHIVE_KEY)
    entries: list[CatalogueEntry] = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        # One signed checkpoint of the event log at the start of the export; each bag carries
        # it with inclusion proofs for its record's events (a later one if a record has newer).
        custody = Custody(svc.db, cfg.checkpoint_key_file, cfg.checkpoint_log_file)
        for index, pseudonym in enumerate(selected):
            progress(index, len(selected), pseudonym, 0)

            def step(number: int, i: int = index, p: str = pseudonym) -> None:
                progress(i, len(selected), p, number)

            entry = _export_one(
                svc,
                run_id,
                pseudonym,
                out_dir,
                options,
                public_key,
                today,
                actor,
                outcome,
                step,
                custody,
            )
            if entry is not None:
                entries.append(entry)
            with svc.db.session() as session:
                found = session.get(ExportRun, run_id)
                assert found is not None
                found.done = index + 1
            progress(index + 1, len(selected), pseudonym, len(STEPS))
        _write_atomic(out_dir / "catalogue.csv", catalogue_csv(entries))
        _write_atomic(out_dir / "catalogue.json", catalogue_json(entries, outcome.held_back))
        _write_atomic(out_dir / "catalogue.xlsx", catalogue_xlsx(entries, outcome.held_back))
    except ExportError as exc:
        _finish(svc, run_id, outcome.as_json(selected), str(exc))
        raise ExportFailed(str(exc)) from exc
    except OSError as exc:
        message = f"could not write the export in {out_dir}: {exc.strerror or exc}"
        _finish(svc, run_id, outcome.as_json(selected), message)
        raise ExportFailed(message) from exc
    result = outcome.as_json(selected)
    _finish(svc, run_id, result, None)
    return result


def _finish(svc: Services, run_id: int, outcome: dict[str, Any], error: str | None) -> None:
    with svc.db.session() as session:
        run = session.get(ExportRun, run_id)
        if run is not None:
            run.outcome, run.error, run.finished_at = outcome, error, utcnow()


def _archive_key(path: Path) -> bytes | None:
    from intake.crypto import load_archive_public_key

    return load_archive_public_key(path) if path.exists() else None


def _export_one(
    svc: Services,
    run_id: int,
    pseudonym: str,
    out_dir: Path,
    options: BagOptions,
    public_key: bytes | None,
    today: date,
    actor: str,
    outcome: _Outcome,
    step: Callable[[int], None],
    custody: Custody,
) -> CatalogueEntry | None:
    """Export one record; None when it is held back. ExportError for a full disk."""
    with svc.db.session() as session:
        testimony = session.scalars(
            select(Testimony).where(Testimony.pseudonym == pseudonym)
        ).one_or_none()
        if testimony is None:
            outcome.held_back.append(
                Decision(pseudonym, False, "unknown", f"{pseudonym}: no such record")
            )
            return None
        decision = decide(pseudonym, testimony.state.value, consent_terms(testimony), today)
        if not decision.exportable:
            outcome.held_back.append(decision)
            return None
        try:
            gathered = gather(session, svc.keyring, svc.store, testimony)
        except HeldBack as held:
            outcome.held_back.append(Decision(pseudonym, False, held.reason, str(held)))
            return None
        except ExportError as exc:
            outcome.held_back.append(Decision(pseudonym, False, "not_exportable", str(exc)))
            return None
        session.expunge_all()
    step(1)
    try:
        bag = write_bag(
            gathered.record, out_dir, options, today, custody.tag_files(gathered.record)
        )
    except ExportError as exc:
        if "no space left" in str(exc):
            raise
        outcome.held_back.append(Decision(pseudonym, False, "not_exportable", str(exc)))
        return None
    step(2)
    preserved = False
    if public_key is not None and gathered.record.consent.archive:
        # Each original is encrypted under its file's own key (`Gathered.original_keys`).
        originals = Originals(
            svc.store, b"", gathered.storage_id, gathered.originals, gathered.original_keys
        )
        write_preservation_bag(
            gathered.record,
            originals,
            out_dir,
            public_key,
            options.source_organisation,
            today,
            # The same contact and export as the access bag, for an ingest that takes both.
            {
                name: value
                for name, value in (
                    ("Contact-Email", options.contact_email),
                    ("Bag-Group-Identifier", options.group_identifier),
                )
                if value
            },
        )
        preserved = True
    step(3)
    with svc.db.session() as session:
        testimony = session.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        if testimony.state not in (TestimonyState.approved, TestimonyState.archived):
            # Withdrawn (or sent back) while its bags were written: they must not stay.
            shutil.rmtree(bag.path, ignore_errors=True)
            shutil.rmtree(out_dir / PRESERVATION / pseudonym, ignore_errors=True)
            outcome.held_back.append(
                Decision(pseudonym, False, "withdrawn", f"{pseudonym}: left approved meanwhile")
            )
            return None
        detail = {
            "export": run_id,
            "manifest_sha256": bag.manifest_sha256,
            "preservation": preserved,
        }
        if testimony.state == TestimonyState.approved:
            lifecycle.transition(
                session, testimony, TestimonyState.archived, actor, Action.exported, detail
            )
        else:
            record_event(session, testimony.id, actor, Action.exported, detail=detail)
        state_after = testimony.state.value
    outcome.exported.append(pseudonym)
    if preserved:
        outcome.preservation.append(pseudonym)
    # The catalogue says what the record is after this export (archived), not before it.
    return CatalogueEntry(_light(replace(gathered.record, state=state_after)), bag)
