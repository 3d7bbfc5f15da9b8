"""One archival export, start to finish: the code the command line and the export task share.

`start` records an export (and, from the staff app, queues its job); `perform` does it: picks
the records, applies `eligibility.decide` to each (whatever was asked for), gathers, writes the
access bag and, where consent allows, the preservation bag, then moves the record to `archived`
and writes its `exported` event, one record per transaction. At the end it writes the
catalogue. Progress goes to the run's row (the staff page reads it) and to a callback (the
command's progress bars, the task's lease).

What each record may carry is the publication policy's answer (`intake.export.policy`, through
`gather`); the catalogue gets a column per artefact from the same answer.

Safe to run twice: the records are chosen once and kept on the run, bags are replaced by
byte-identical ones, and a record already archived is exported again without moving. A
record's whole output (its access bag and, where consent allows, its preservation bag) is
written in one hidden staging folder and renamed into place only when all of it is written,
so a full disk stops the export with a clear error and leaves nothing that looks complete:
the record being written stays `approved`, with no bag, and so do the ones after it. Bags
already in the folder (an earlier, interrupted run into the same folder) are exported again
with the run, or removed where they may no longer go, so that the catalogue lists exactly the
bags the folder holds.

Each run also writes `recall.csv`: the records exported before and withdrawn since the last
finished run, with the date of each withdrawal, so that a receiving archive can remove what it
holds of them (SPEC.md section 7: withdrawal is possible at any time, after export too).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.events import Action
from intake.export.bag import _SAFE_NAME, BagOptions, _swap_into_place, remove_partials, write_bag
from intake.export.catalogue import (
    CatalogueEntry,
    Recall,
    catalogue_csv,
    catalogue_json,
    catalogue_xlsx,
    entity_catalogue_csv,
    recall_csv,
)
from intake.export.custody import Custody
from intake.export.eligibility import Decision, decide
from intake.export.gather import HeldBack, approved_since, consent_terms, gather
from intake.export.preservation import FOLDER as PRESERVATION
from intake.export.preservation import Originals, write_preservation_bag
from intake.export.record import ExportError, ExportRecord
from intake.models import (
    Event,
    ExportRun,
    Job,
    JobKind,
    JobStatus,
    Testimony,
    TestimonyState,
    utcnow,
)
from intake.records import jobs, lifecycle
from intake.records.audit import record_event
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
    recall: list[Recall] | None = None
    recall_until: datetime | None = None

    def as_json(self, selected: list[str]) -> dict[str, Any]:
        return {
            "recall": [
                {"pseudonym": r.pseudonym, "withdrawn": r.withdrawn_at.isoformat()}
                for r in self.recall or []
            ],
            "recall_until": self.recall_until.isoformat() if self.recall_until else None,
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
        # Bags an earlier, interrupted run left in this folder go through the policy again.
        selected = sorted(set(selected) | set(bags_in(out_dir)))
        run.total, run.done, run.error = len(selected), 0, None
        run.outcome = {"selected": selected}
        recall_until = utcnow()
        recall = recall_list(session, run_id, recall_until)
    options = BagOptions(
        cfg.export_source_organisation,
        cfg.export_collection_name,
        contact_email=cfg.export_contact_email,
        profile_url=cfg.export_bagit_profile_url,
        group_identifier=out_dir.name,
    )
    public_key = _archive_key(cfg.preservation_public_key_file)
    outcome = _Outcome([], [], [], [], recall, recall_until)
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
            else:
                _remove_outputs(out_dir, pseudonym)  # held back: no bag of it may stay
            with svc.db.session() as session:
                found = session.get(ExportRun, run_id)
                assert found is not None
                found.done = index + 1
            progress(index + 1, len(selected), pseudonym, len(STEPS))
        _write_atomic(out_dir / "recall.csv", recall_csv(recall))
        _write_atomic(out_dir / "catalogue.csv", catalogue_csv(entries))
        _write_atomic(out_dir / "entities.csv", entity_catalogue_csv(entries))
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


def bags_in(out_dir: Path) -> list[str]:
    """The pseudonyms of the access bags in an export folder (finished bags only: a bag is
    renamed to its pseudonym when whole)."""
    if not out_dir.is_dir():
        return []
    return sorted(
        p.name
        for p in out_dir.iterdir()
        if p.is_dir() and not p.is_symlink() and _SAFE_NAME.match(p.name)
        and p.name != PRESERVATION and (p / "bagit.txt").is_file()
    )


def _remove_outputs(out_dir: Path, pseudonym: str) -> None:
    """Remove a record's bags (access and preservation) and half-written outputs from the
    folder: for a record held back, whose earlier bags may no longer go."""
    if not _SAFE_NAME.match(pseudonym):
        return
    shutil.rmtree(out_dir / pseudonym, ignore_errors=True)
    shutil.rmtree(out_dir / PRESERVATION / pseudonym, ignore_errors=True)
    remove_partials(out_dir, pseudonym)


def recall_list(session: Session, run_id: int, until: datetime) -> list[Recall]:
    """Records exported at some time and withdrawn since the last finished export before run
    `run_id` (all such records when there was none), up to `until`: what receiving archives
    are asked to remove."""
    last = session.scalars(
        select(ExportRun)
        .where(ExportRun.id < run_id, ExportRun.finished_at.is_not(None), ExportRun.error.is_(None))
        .order_by(ExportRun.id.desc())
        .limit(1)
    ).first()
    since: datetime | None = None
    if last is not None:
        mark = (last.outcome or {}).get("recall_until")
        since = datetime.fromisoformat(mark) if mark else last.created_at
    exported = select(Event.testimony_id).where(Event.action == Action.exported.value)
    query = select(Testimony.pseudonym, Testimony.withdrawn_at).where(
        Testimony.state == TestimonyState.withdrawn,
        Testimony.withdrawn_at.is_not(None),
        Testimony.withdrawn_at <= until,
        Testimony.id.in_(exported),
    )
    if since is not None:
        query = query.where(Testimony.withdrawn_at > since)
    rows = session.execute(query.order_by(Testimony.withdrawn_at, Testimony.pseudonym)).all()
    return [Recall(pseudonym, withdrawn_at) for pseudonym, withdrawn_at in rows if withdrawn_at]


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
        # The quick check first (state, consent, embargo): `gather` asks the policy in full.
        decision = decide(pseudonym, testimony.state.value, consent_terms(testimony), today)
        if not decision.exportable:
            outcome.held_back.append(decision)
            return None
        try:
            gathered = gather(
                session,
                svc.keyring,
                svc.store,
                testimony,
                today=today,
                archive_key=public_key is not None,
                config=svc.config,
            )
        except HeldBack as held:
            outcome.held_back.append(Decision(pseudonym, False, held.reason, str(held)))
            return None
        except ExportError as exc:
            outcome.held_back.append(Decision(pseudonym, False, "not_exportable", str(exc)))
            return None
        session.expunge_all()
    verdict = gathered.verdict
    preserve = public_key is not None and verdict is not None and verdict.includes("original")
    # The record's whole output is written in one hidden staging folder and renamed into place
    # only when all of it is written: a full disk never leaves a bag that looks complete.
    remove_partials(out_dir, pseudonym)
    staging = Path(tempfile.mkdtemp(prefix=f".{pseudonym}.partial-record-", dir=out_dir))
    try:
        step(1)
        try:
            bag = write_bag(
                gathered.record, staging, options, today, custody.tag_files(gathered.record)
            )
        except ExportError as exc:
            if "no space left" in str(exc):
                raise
            outcome.held_back.append(Decision(pseudonym, False, "not_exportable", str(exc)))
            return None
        step(2)
        if preserve:
            assert public_key is not None
            # Each original is encrypted under its file's own key (`Gathered.original_keys`).
            originals = Originals(
                svc.store, b"", gathered.storage_id, gathered.originals, gathered.original_keys
            )
            whole = replace(
                gathered.record,
                transcript=gathered.original_transcript,
                translation=gathered.original_translation,
            )
            write_preservation_bag(
                whole,
                originals,
                staging,
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
            (out_dir / PRESERVATION).mkdir(exist_ok=True)
            _swap_into_place(staging / PRESERVATION / pseudonym, out_dir / PRESERVATION / pseudonym)
        else:
            shutil.rmtree(out_dir / PRESERVATION / pseudonym, ignore_errors=True)
        # The access bag last: its name in the folder means the record's output is whole.
        _swap_into_place(bag.path, out_dir / pseudonym)
        bag = replace(bag, path=out_dir / pseudonym)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    preserved = preserve
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
    return CatalogueEntry(
        _light(replace(gathered.record, state=state_after)), bag, verdict, preserved
    )
