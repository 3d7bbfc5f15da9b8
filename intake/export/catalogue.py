"""The catalogue of one export: every record in it, as CSV, JSON and a spreadsheet (.xlsx), and
what was held back.

Dates are written twice: Gregorian ISO 8601 for machines and most archives (the moment, and the
day in a column of its own, which a spreadsheet reads as a date), and the Solar Hijri date
(Latin digits, `YYYY-MM-DD`) in a column of its own for the Persian-speaking readers the archive
serves. Rows are sorted by pseudonym so the same export gives the same catalogue.

Spreadsheets guess: a Solar Hijri `1405-09-12` opened from a CSV becomes a Gregorian date
cell (the wrong day, silently), and a Payload-Oxum `12345.7` a decimal number. So the CSV
writes Solar Hijri dates with the calendar's mark (`1405-09-12 SH`), which no spreadsheet reads
as a date, and the payload's size and file count as two whole numbers; the .xlsx types every
cell itself (dates as dates, Solar Hijri as text, counts as integers), and the JSON keeps the
plain values for programs.

Each artefact of the publication policy (`intake.export.policy.ARTEFACTS`) has a column of its
own, saying "included" or "withheld: <why>", so the receiving archive reads from the catalogue
what each bag holds and why the rest stayed behind. `recall.csv` beside it lists the records
withdrawn since the last export, for the receiving archive to remove.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import jdatetime

from intake.export.bag import BagResult
from intake.export.eligibility import Decision
from intake.export.policy import ARTEFACTS, Verdict
from intake.export.record import ExportRecord, canonical_json

COLUMNS = (
    "pseudonym",
    "languages",
    "duration_seconds",
    "received",
    "received_date",
    "received_solar_hijri",
    "approved",
    "approved_date",
    "approved_solar_hijri",
    "state",
    "consent_archive",
    "consent_transcribe",
    "consent_translate",
    "consent_publish_anonymised",
    "consent_publish_named",
    "consent_wording_version",
    "embargo_until",
    "embargo_until_solar_hijri",
    "bag",
    "payload_bytes",
    "payload_files",
    "manifest_sha256",
    "preservation_bag",
    *ARTEFACTS,
)
#: Columns holding Solar Hijri dates: text everywhere, marked in the CSV.
SOLAR_HIJRI_COLUMNS = frozenset(c for c in COLUMNS if c.endswith("_solar_hijri"))
#: Columns holding Gregorian days: date cells in the spreadsheet.
DATE_COLUMNS = frozenset({"received_date", "approved_date", "embargo_until"})
#: Columns holding whole numbers.
INTEGER_COLUMNS = frozenset({"payload_bytes", "payload_files"})
#: What follows a Solar Hijri date in the CSV, so that no spreadsheet takes it for a date.
SOLAR_HIJRI_MARK = " SH"


@dataclass(frozen=True)
class CatalogueEntry:
    """One exported record and the bag written for it."""

    record: ExportRecord
    bag: BagResult
    #: The publication policy's verdict the bag was written from (None: not recorded).
    verdict: Verdict | None = None
    #: Whether a preservation bag was written with it.
    preserved: bool = False


def solar_hijri(day: date | datetime | None) -> str:
    """The Solar Hijri date of `day` as `YYYY-MM-DD` in Latin digits; empty for no date."""
    if day is None:
        return ""
    if isinstance(day, datetime):
        day = day.date()
    return str(jdatetime.date.fromgregorian(date=day).isoformat())


def _iso(day: date | datetime | None) -> str:
    if day is None:
        return ""
    return day.isoformat(timespec="seconds") if isinstance(day, datetime) else day.isoformat()


def _day(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment is not None else ""


def _oxum(entry: CatalogueEntry) -> tuple[int, int]:
    octets, _, files = entry.bag.payload_oxum.partition(".")
    return int(octets), int(files)


def row(entry: CatalogueEntry) -> dict[str, Any]:
    """One catalogue row in `COLUMNS` order: text, and whole numbers for the counts."""
    record, consent = entry.record, entry.record.consent
    flag = {True: "yes", False: "no"}
    octets, files = _oxum(entry)
    return {
        "pseudonym": record.pseudonym,
        "languages": " ".join(record.languages),
        "duration_seconds": f"{record.duration:.3f}",
        "received": _iso(record.received_at),
        "received_date": _day(record.received_at),
        "received_solar_hijri": solar_hijri(record.received_at),
        "approved": _iso(record.approved_at),
        "approved_date": _day(record.approved_at),
        "approved_solar_hijri": solar_hijri(record.approved_at),
        "state": record.state,
        "consent_archive": flag[consent.archive],
        "consent_transcribe": flag[consent.transcribe],
        "consent_translate": flag[consent.translate],
        "consent_publish_anonymised": flag[consent.publish_anonymised],
        "consent_publish_named": flag[consent.publish_named],
        "consent_wording_version": consent.wording_version,
        "embargo_until": _iso(consent.embargo_until),
        "embargo_until_solar_hijri": solar_hijri(consent.embargo_until),
        "bag": entry.bag.path.name,
        "payload_bytes": octets,
        "payload_files": files,
        "manifest_sha256": entry.bag.manifest_sha256,
        "preservation_bag": f"preservation/{record.pseudonym}" if entry.preserved else "",
        **(entry.verdict.columns() if entry.verdict else dict.fromkeys(ARTEFACTS, "")),
    }


def _sorted(entries: Iterable[CatalogueEntry]) -> list[CatalogueEntry]:
    return sorted(entries, key=lambda e: e.record.pseudonym)


def catalogue_csv(entries: Iterable[CatalogueEntry]) -> str:
    """The catalogue as CSV (RFC 4180 line ends), a header row then one row per record."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for entry in _sorted(entries):
        values = row(entry)
        for name in SOLAR_HIJRI_COLUMNS:
            if values[name]:
                values[name] += SOLAR_HIJRI_MARK
        writer.writerow(values)
    return out.getvalue()


def catalogue_xlsx(entries: Iterable[CatalogueEntry], held_back: Iterable[Decision] = ()) -> bytes:
    """The catalogue as a spreadsheet: a `records` sheet with typed cells (dates as dates,
    Solar Hijri dates as text, counts as integers) and a `held_back` sheet."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "records"
    sheet.append(list(COLUMNS))
    for entry in _sorted(entries):
        values = row(entry)
        cells: list[Any] = []
        for name in COLUMNS:
            value = values[name]
            if name in DATE_COLUMNS and value:
                value = date.fromisoformat(value)
            elif name == "duration_seconds":
                value = float(value)
            cells.append(value)
        sheet.append(cells)
        for column, name in enumerate(COLUMNS, start=1):
            cell = sheet.cell(row=sheet.max_row, column=column)
            if name in DATE_COLUMNS:
                cell.number_format = "yyyy-mm-dd"
            elif name in SOLAR_HIJRI_COLUMNS:
                cell.number_format = "@"
    held = book.create_sheet("held_back")
    held.append(["pseudonym", "reason", "message"])
    for decision in sorted(held_back, key=lambda d: d.pseudonym):
        held.append([decision.pseudonym, decision.reason, decision.message])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def catalogue_json(entries: Iterable[CatalogueEntry], held_back: Iterable[Decision] = ()) -> str:
    """The catalogue as JSON: the CSV's rows with each payload file's checksums, and the
    records held back with the reason for each."""
    records = []
    for entry in _sorted(entries):
        document: dict[str, object] = dict(row(entry))
        document["payload_oxum"] = entry.bag.payload_oxum
        document["payload_checksums"] = entry.bag.checksums
        records.append(document)
    return canonical_json(
        {
            "records": records,
            "held_back": [
                {"pseudonym": d.pseudonym, "reason": d.reason, "message": d.message}
                for d in sorted(held_back, key=lambda d: d.pseudonym)
            ],
        }
    )


#: The columns of `recall.csv`.
RECALL_COLUMNS = ("pseudonym", "withdrawn", "withdrawn_solar_hijri")


@dataclass(frozen=True)
class Recall:
    """A record exported before and withdrawn since: receiving archives remove what they hold."""

    pseudonym: str
    withdrawn_at: datetime


def recall_csv(recalls: Iterable[Recall]) -> str:
    """The recall list as CSV, a header row (always, so an empty list reads as one) then one
    row per withdrawn record, oldest withdrawal first."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=RECALL_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for recall in sorted(recalls, key=lambda r: (r.withdrawn_at, r.pseudonym)):
        writer.writerow(
            {
                "pseudonym": recall.pseudonym,
                "withdrawn": _iso(recall.withdrawn_at),
                "withdrawn_solar_hijri": solar_hijri(recall.withdrawn_at),
            }
        )
    return out.getvalue()


#: The columns of `entities.csv`: the entities cited, with names, by the run's records.
ENTITY_COLUMNS = ("entity", "kind", "names", "date_start", "date_end", "citations", "records")


def entity_catalogue_csv(entries: Iterable[CatalogueEntry]) -> str:
    """The entities the exported records cite by name, one row each with its names (joined by
    " | "), a date's Gregorian range, how many citations and records of this run cite it.
    Citations whose names were withheld are not counted: they name no entity."""
    rows: dict[int, dict[str, Any]] = {}
    for entry in _sorted(entries):
        for cited in entry.record.entities:
            if cited.entity_id is None:
                continue
            found = rows.setdefault(
                cited.entity_id,
                {
                    "entity": cited.entity_id,
                    "kind": cited.kind,
                    "names": " | ".join(cited.names),
                    "date_start": _iso(cited.date_start),
                    "date_end": _iso(cited.date_end),
                    "citations": 0,
                    "records": set(),
                },
            )
            found["citations"] += 1
            found["records"].add(entry.record.pseudonym)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ENTITY_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for entity_id in sorted(rows):
        values = dict(rows[entity_id])
        values["records"] = len(values["records"])
        values["names"] = _safe_cell(values["names"])
        writer.writerow(values)
    return out.getvalue()


def _safe_cell(value: str) -> str:
    # A cell starting with = + - @ is run as a formula by spreadsheets (OWASP's advice).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
