"""Which records may go, and the catalogue of those that went."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pytest

from intake.export.bag import BagOptions, write_bag
from intake.export.catalogue import COLUMNS, CatalogueEntry, catalogue_csv, catalogue_json
from intake.export.eligibility import decide
from tests.export.records import TODAY, audio_file, consent, make_record


@pytest.mark.parametrize(
    ("state", "terms", "reason"),
    [
        ("approved", consent(), None),
        ("archived", consent(), None),
        ("approved", consent(publish_anonymised=False, publish_named=True), None),
        ("approved", consent(embargo_until=TODAY), None),
        ("withdrawn", consent(), "withdrawn"),
        ("approved", None, "withdrawn"),
        ("approved", consent(withdrawn=True, embargo_until=date(2030, 1, 1)), "withdrawn"),
        ("translation_review", consent(), "not_approved"),
        ("needs_attention", consent(), "not_approved"),
        ("approved", consent(publish_anonymised=False), "unconsented"),
        ("approved", consent(embargo_until=date(2026, 6, 2)), "embargoed"),
    ],
)
def test_decide(state: str, terms: object, reason: str | None) -> None:
    decision = decide("T-AAAA-BBBB", state, terms, TODAY)  # type: ignore[arg-type]
    assert decision.exportable is (reason is None)
    assert decision.reason == reason
    if reason:
        assert decision.message and decision.message.startswith("T-AAAA-BBBB: ")


def test_catalogue_csv_and_json(tmp_path: Path) -> None:
    audio = audio_file(tmp_path)
    entries = []
    for pseudonym in ("T-ZZZZ-0002", "T-AAAA-0001"):
        record = make_record(audio, pseudonym=pseudonym, consent=consent(embargo_until=TODAY))
        bag = write_bag(record, tmp_path / "out", BagOptions("A"), TODAY)
        entries.append(CatalogueEntry(record, bag))
    held = [decide("T-HELD-0003", "in_review", consent(), TODAY)]

    rows = list(csv.DictReader(io.StringIO(catalogue_csv(entries))))
    assert tuple(rows[0]) == COLUMNS
    assert [r["pseudonym"] for r in rows] == ["T-AAAA-0001", "T-ZZZZ-0002"]
    first = rows[0]
    assert first["received"] == "2026-03-20T09:30:00+00:00"
    assert first["received_date"] == "2026-03-20"
    # The last day of 1404, before Nowruz; marked so that no spreadsheet reads it as a date.
    assert first["received_solar_hijri"] == "1404-12-29 SH"
    assert first["approved_solar_hijri"] == "1405-02-12 SH"
    assert first["embargo_until"] == "2026-06-01"
    assert first["embargo_until_solar_hijri"] == "1405-03-11 SH"
    octets, files = entries[1].bag.payload_oxum.split(".")
    assert (first["payload_bytes"], first["payload_files"]) == (octets, files)
    assert "payload_oxum" not in first
    assert first["languages"] == "fa en" and first["consent_publish_named"] == "no"
    assert first["manifest_sha256"] == entries[1].bag.manifest_sha256

    document = json.loads(catalogue_json(entries, held))
    assert [r["pseudonym"] for r in document["records"]] == ["T-AAAA-0001", "T-ZZZZ-0002"]
    assert document["records"][0]["received_solar_hijri"] == "1404-12-29"
    assert document["records"][0]["payload_files"] == int(files)
    checksums = document["records"][0]["payload_checksums"]
    assert set(checksums["data/audio/T-AAAA-0001.flac"]) == {"sha256", "sha512"}
    assert document["held_back"] == [
        {
            "pseudonym": "T-HELD-0003",
            "reason": "not_approved",
            "message": "T-HELD-0003: the record is not approved (it is in_review)",
        }
    ]
    assert catalogue_json(entries, held) == catalogue_json(list(reversed(entries)), held)


def test_catalogue_spreadsheet_types_every_cell(tmp_path: Path) -> None:
    """Read back with openpyxl: dates are date cells, Solar Hijri dates text, counts integers."""
    from datetime import datetime

    from openpyxl import load_workbook

    from intake.export.catalogue import catalogue_xlsx

    record = make_record(audio_file(tmp_path), consent=consent(embargo_until=TODAY))
    bag = write_bag(record, tmp_path / "out", BagOptions("A"), TODAY)
    held = [decide("T-HELD-0003", "in_review", consent(), TODAY)]
    path = tmp_path / "catalogue.xlsx"
    path.write_bytes(catalogue_xlsx([CatalogueEntry(record, bag)], held))
    book = load_workbook(path)
    sheet = book["records"]
    header = [c.value for c in sheet[1]]
    assert tuple(header) == COLUMNS
    cells = {name: cell for name, cell in zip(header, sheet[2], strict=True)}
    assert cells["received_date"].is_date
    assert cells["received_date"].value == datetime(2026, 3, 20)
    assert cells["embargo_until"].value == datetime(2026, 6, 1)
    for name in ("received_solar_hijri", "approved_solar_hijri", "embargo_until_solar_hijri"):
        assert cells[name].data_type == "s" and not cells[name].is_date
        assert cells[name].number_format == "@"  # stays text when someone edits the cell
    assert cells["received_solar_hijri"].value == "1404-12-29"
    octets, files = bag.payload_oxum.split(".")
    assert cells["payload_bytes"].value == int(octets) and cells["payload_bytes"].data_type == "n"
    assert isinstance(cells["payload_files"].value, int)
    assert cells["payload_files"].value == int(files)
    assert [c.value for c in book["held_back"][2]][:2] == ["T-HELD-0003", "not_approved"]
