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
    assert first["received_solar_hijri"] == "1404-12-29"  # the last day of 1404, before Nowruz
    assert first["approved_solar_hijri"] == "1405-02-12"
    assert first["embargo_until"] == "2026-06-01"
    assert first["embargo_until_solar_hijri"] == "1405-03-11"
    assert first["languages"] == "fa en" and first["consent_publish_named"] == "no"
    assert first["manifest_sha256"] == entries[1].bag.manifest_sha256

    document = json.loads(catalogue_json(entries, held))
    assert [r["pseudonym"] for r in document["records"]] == ["T-AAAA-0001", "T-ZZZZ-0002"]
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
