"""A record with several recordings (adding audio with the receipt code is a feature of the
form) goes like any other: one bag with each recording's audio, listening copy, texts and OHMS
file, timed from the recording's own start; its preservation bag keeps every original."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET  # noqa: S405 - parses what the export wrote
from pathlib import Path

import bagit
from flask import Flask

from intake import crypto
from intake.config import Config
from intake.export.ohms import NAMESPACE, validate_ohms
from intake.models import TestimonyState
from tests.export.approved import TEXTS, approved_record, state_of
from tests.export.test_export_runs import NAMED, _export

NS = {"o": NAMESPACE}


def test_a_record_of_two_recordings_exports_one_bag_with_each(
    app: Flask, migrated: Config, tmp_path: Path
) -> None:
    private, public = crypto.new_key_pair()
    migrated.preservation_public_key_file.parent.mkdir(parents=True, exist_ok=True)
    migrated.preservation_public_key_file.write_text(public.hex())
    pseudonym = approved_record(app, recordings=2, consent=NAMED)  # the audio leaves
    out = tmp_path / "out"
    outcome = _export(app, out)
    assert outcome["exported"] == [pseudonym], outcome
    assert state_of(app, pseudonym) == TestimonyState.archived

    bag = bagit.Bag(str(out / pseudonym))
    bag.validate()
    assert bag.info["Testimony-Recordings"] == "2"
    data = out / pseudonym / "data"
    names = {str(p.relative_to(data)) for p in data.rglob("*") if p.is_file()}
    for number in ("01", "02"):
        stem = f"{pseudonym}-{number}"
        assert {
            f"audio/{stem}.flac",
            f"audio/{stem}.mp3",
            f"metadata/{stem}.ohms.xml",
        } | {f"transcript/{stem}.en.{ext}" for ext in ("vtt", "srt", "txt", "json")} <= names
        document = (data / "metadata" / f"{stem}.ohms.xml").read_bytes()
        validate_ohms(document)
        rec = ET.fromstring(document).find("o:record", NS)  # noqa: S314
        assert rec is not None
        assert (data / "audio" / (rec.findtext("o:file_name", namespaces=NS) or "")).is_file()
        transcript = json.loads((data / "transcript" / f"{stem}.en.json").read_text())
        # Each recording's texts are timed from its own start, as its own audio plays.
        assert [s["text"] for s in transcript["segments"]] == list(TEXTS)
        assert transcript["segments"][0]["start"] == 0.0
    assert f"metadata/{pseudonym}.dc.xml" in names
    assert f"history/{pseudonym}.events.json" in names
    assert not any(name.startswith(f"audio/{pseudonym}.") for name in names)

    # Both originals are kept, each opened with its own file's key.
    preserved = out / "preservation" / pseudonym
    kept = bagit.Bag(str(preserved))
    kept.validate()
    assert kept.version_info == (1, 0)
    assert kept.info["Bag-Group-Identifier"] == bag.info["Bag-Group-Identifier"] == "out"
    assert kept.info["Contact-Email"] == migrated.export_contact_email
    for number in ("01", "02"):
        opened = io.BytesIO()
        with (preserved / "data" / "original" / f"{pseudonym}-{number}.bin.sealed").open(
            "rb"
        ) as source:
            crypto.open_from_archive(private, source, opened)
        assert opened.getvalue()[:4] == b"RIFF"
