"""OHMS 6.0 and Dublin Core, validated with xmlschema against the schemas kept in the repository."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - parses only what the export itself wrote
from dataclasses import replace
from pathlib import Path

import pytest
import xmlschema

from intake.export import dublin_core, ohms
from intake.export.record import ExportError, ExportRecord
from intake.export.subtitles import webvtt
from tests.export.records import ENGLISH, PERSIAN, audio_file, make_record

SCHEMAS = Path(ohms.__file__).parent / "schemas"
NS = {"o": ohms.NAMESPACE}


@pytest.fixture
def record(tmp_path: Path) -> ExportRecord:
    return make_record(audio_file(tmp_path))


def _ohms(record: ExportRecord) -> bytes:
    return ohms.ohms_xml(record, ohms.OhmsOptions("The Archive", "T-7K3M-Q9XD.flac"))


def test_ohms_validates_and_carries_both_languages(record: ExportRecord) -> None:
    document = _ohms(record)
    xmlschema.XMLSchema(str(SCHEMAS / "ohms.xsd")).validate(document.decode())
    rec = ET.fromstring(document).find("o:record", NS)  # noqa: S314
    assert rec is not None
    get = lambda name: rec.findtext(f"o:{name}", namespaces=NS)  # noqa: E731
    assert get("version") == "6.0" and get("title") == "T-7K3M-Q9XD"
    assert get("language") == "Persian" and get("transcript_alt_lang") == "English"
    assert get("translate") == "1" and get("duration") == "00:03:10"
    assert get("vtt_transcript") == webvtt(record.transcript)  # type: ignore[arg-type]
    assert get("vtt_transcript_alt") == webvtt(record.translation, "subtitles")  # type: ignore[arg-type]
    assert PERSIAN[3] in (get("transcript") or "") and ENGLISH[3] in (get("transcript_alt") or "")
    assert "anonymised" in (get("rights") or "") and get("usage")


def test_ohms_sync_marks_each_minute_at_its_line_and_word(record: ExportRecord) -> None:
    transcript = record.transcript
    assert transcript is not None
    # Minute 1 (60 s) is within segment 2 (line 2), after its last word began (word 8 of
    # "WITNESS: ..." counting the speaker); minute 2 (120 s) is near the end of segment 3, which
    # has no word times and is interpolated; minute 3 is in segment 4, which has no speaker.
    assert ohms.sync_string(transcript) == "1:|2(8)|3(12)|4(9)"
    lines = ohms.transcript_lines(transcript)
    assert lines[1].split()[7] == PERSIAN[1].split()[-1]


def test_ohms_index_has_a_titled_point_per_segment_group(record: ExportRecord) -> None:
    rec = ET.fromstring(_ohms(record)).find("o:record", NS)  # noqa: S314
    assert rec is not None
    points = rec.findall("o:index/o:point", NS)
    assert [p.findtext("o:time", namespaces=NS) for p in points] == ["0", "131"]
    assert points[0].findtext("o:title", namespaces=NS) == PERSIAN[0]
    assert points[0].findtext("o:title_alt", namespaces=NS) == ENGLISH[0]
    assert points[1].findtext("o:title", namespaces=NS) == "بعد از آن تابستان، هیچ خبری از او …"


def test_ohms_without_translation_still_validates(record: ExportRecord) -> None:
    document = _ohms(replace(record, translation=None))
    ohms.validate_ohms(document)
    assert b"transcript_alt" not in document and b"<translate>0</translate>" in document


def test_ohms_validation_refuses_elements_out_of_order(record: ExportRecord) -> None:
    document = _ohms(record).replace(b"<version>6.0</version>", b"").replace(
        b"<title>", b"<version>6.0</version><title>", 1
    )
    with pytest.raises(ExportError):
        ohms.validate_ohms(document)


def test_dublin_core_validates_with_languages_type_and_rights(record: ExportRecord) -> None:
    document = dublin_core.dublin_core_xml(record, publisher="The Archive")
    schema = xmlschema.XMLSchema(
        str(SCHEMAS / "oai_dc.xsd"),
        uri_mapper={dublin_core.SIMPLEDC_URL: (SCHEMAS / "simpledc20021212.xsd").as_uri()},
    )
    schema.validate(document.decode())
    root = ET.fromstring(document)  # noqa: S314
    dc = {"dc": dublin_core.DC}
    assert [e.text for e in root.findall("dc:language", dc)] == ["fa", "en"]
    assert root.findtext("dc:type", namespaces=dc) == "Sound"
    assert root.findtext("dc:identifier", namespaces=dc) == "T-7K3M-Q9XD"
    assert root.findtext("dc:date", namespaces=dc) == "2026-03-20"
    assert "anonymised" in (root.findtext("dc:rights", namespaces=dc) or "")
    assert root.findtext("dc:creator", namespaces=dc) == "anonymous"
    assert root.findtext("dc:publisher", namespaces=dc) == "The Archive"
    relations = [e.text or "" for e in root.findall("dc:relation", dc)]
    assert relations[0].startswith("hasPart: data/transcript/T-7K3M-Q9XD.fa.txt")
    assert "isTranslationOf: data/transcript/T-7K3M-Q9XD.fa.txt" in relations[1]
    assert relations[1].startswith("hasPart: data/translation/T-7K3M-Q9XD.en.txt")


def test_dublin_core_validation_refuses_an_unknown_element(record: ExportRecord) -> None:
    document = dublin_core.dublin_core_xml(record).replace(b"dc:type", b"dc:kind")
    with pytest.raises(ExportError):
        dublin_core.validate_dublin_core(document)


def test_the_bundled_ohms_sample_validates() -> None:
    """The schema copy is the real one: a real OHMS 6.0 export validates against it."""
    ohms.validate_ohms((SCHEMAS / "ohms-sample-vtt.xml").read_bytes())
