"""The catalogue of one export: every record in it, as CSV and as JSON, and what was held back.

Dates are written twice: Gregorian ISO 8601 for machines and most archives, and the Solar Hijri
date (Latin digits, `YYYY-MM-DD`) in a column of its own for the Persian-speaking readers the
archive serves. Rows are sorted by pseudonym so the same export gives the same catalogue.

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
    "received_solar_hijri",
    "approved",
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
    "payload_oxum",
    "manifest_sha256",
    "preservation_bag",
    *ARTEFACTS,
)


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


def row(entry: CatalogueEntry) -> dict[str, str]:
    """One catalogue row, every value as text, in `COLUMNS` order."""
    record, consent = entry.record, entry.record.consent
    flag = {True: "yes", False: "no"}
    return {
        "pseudonym": record.pseudonym,
        "languages": " ".join(record.languages),
        "duration_seconds": f"{record.duration:.3f}",
        "received": _iso(record.received_at),
        "received_solar_hijri": solar_hijri(record.received_at),
        "approved": _iso(record.approved_at),
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
        "payload_oxum": entry.bag.payload_oxum,
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
        writer.writerow(row(entry))
    return out.getvalue()


def catalogue_json(entries: Iterable[CatalogueEntry], held_back: Iterable[Decision] = ()) -> str:
    """The catalogue as JSON: the CSV's rows with each payload file's checksums, and the
    records held back with the reason for each."""
    records = []
    for entry in _sorted(entries):
        document: dict[str, object] = dict(row(entry))
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
