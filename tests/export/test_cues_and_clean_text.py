"""Cues as broadcasters cut them, no markup in SRT or text, and no character XML 1.0 forbids in
any export format (issue: a U+0001 in an approved segment made the OHMS file invalid)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET  # noqa: S405 - parses only what the export itself wrote
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import bagit
import pytest
import srt as srt_parser
import webvtt as webvtt_parser
from flask import Flask

from intake.export import dublin_core, ohms
from intake.export.record import ExportError, ExportRecord, Segment, Transcript, to_millis
from intake.export.subtitles import RLM, cues, plain_text, srt, transcript_json, webvtt
from tests.export.approved import approved_record
from tests.export.records import audio_file, make_record, words_of
from tests.export.test_export_runs import _export

LONG = (
    "We were taken at night to a building near the river and kept there for many weeks "
    "without light, and nobody told our families where we had gone or why we were held"
)
CONTROL = "\x01\x02\x0b\x0c\x1f\ufffe"


def _long(language: str = "en", text: str = LONG) -> Transcript:
    return Transcript(language, (Segment(10.0, 40.0, text, words=words_of(text, 10.0, 40.0)),))


def _vtt_millis(clock: str) -> int:
    hours, minutes, rest = clock.split(":")
    seconds, millis = rest.split(".")
    return ((int(hours) * 60 + int(minutes)) * 60 + int(seconds)) * 1000 + int(millis)


def test_a_long_segment_becomes_cues_of_two_lines_of_42_characters_sharing_its_time() -> None:
    text = _long()
    parsed = list(webvtt_parser.from_string(webvtt(text)))
    assert len(parsed) > 2
    for cue in parsed:
        lines = cue.text.split("\n")
        assert 1 <= len(lines) <= 2 and all(len(line) <= 42 for line in lines)
    assert " ".join(c.text.replace("\n", " ") for c in parsed) == LONG
    times = [(_vtt_millis(c.start), _vtt_millis(c.end)) for c in parsed]
    assert times[0][0] == 10_000 and times[-1][1] == 40_000
    assert all(a[1] == b[0] for a, b in zip(times, times[1:], strict=False))
    # Each later cue starts when its first word is spoken (the words' own times).
    words = text.segments[0].words
    spoken = LONG.split()
    first_words = [c.text.split()[0] for c in parsed]
    index = 0
    for cue_time, first in zip(times[1:], first_words[1:], strict=True):
        index = spoken.index(first, index + 1)
        assert cue_time[0] == to_millis(words[index].start)


def test_srt_cues_follow_the_same_rule_and_keep_rtl_marks_per_line() -> None:
    persian = " ".join(["کلمه‌ای"] * 30)
    parsed = list(srt_parser.parse(srt(_long("fa", persian))))
    assert len(parsed) > 1
    for cue in parsed:
        lines = cue.content.split("\n")
        assert len(lines) <= 2 and all(line.startswith(RLM) for line in lines)
        assert all(len(line) <= 43 for line in lines)
    ms = timedelta(milliseconds=1)
    assert parsed[0].start // ms == 10_000 and parsed[-1].end // ms == 40_000


def test_without_word_times_cues_share_the_time_by_characters() -> None:
    text = Transcript("en", (Segment(0.0, 9.0, LONG),))
    found = cues(text.segments[0], LONG)
    assert found[0].start == 0.0 and found[-1].end == 9.0
    starts = [to_millis(c.start) for c in found]
    assert starts == sorted(set(starts))


def test_srt_and_text_carry_no_markup() -> None:
    marked = "<i>Evin</i> <font color=\"red\">prison</font> {\\an8}at <b>night</b> <the last time>"
    text = Transcript("en", (Segment(0.0, 5.0, marked, speaker="<i>Witness</i>"),))
    expected = "Witness: Evin prison at night <the last time>"
    assert list(srt_parser.parse(srt(text)))[0].content.replace("\n", " ") == expected
    assert plain_text(text) == expected + "\n"


@pytest.fixture
def dirty(tmp_path: Path) -> ExportRecord:
    record = make_record(audio_file(tmp_path))
    assert record.transcript is not None
    first = record.transcript.segments[0]
    segments = (
        replace(first, text=f"before{CONTROL}after", speaker=f"Wit{CONTROL}ness"),
        *record.transcript.segments[1:],
    )
    return replace(
        record,
        transcript=replace(record.transcript, segments=segments),
        description=f"A description{CONTROL}",
    )


def _assert_clean(text: str) -> None:
    assert not any(character in text for character in CONTROL)
    assert "beforeafter" in text or "before after" in text or "A description" in text


def test_ohms_drops_control_characters_and_validates(dirty: ExportRecord) -> None:
    document = ohms.ohms_xml(dirty, ohms.OhmsOptions("The Archive", "T-7K3M-Q9XD.m4a"))
    ohms.validate_ohms(document)
    ET.fromstring(document)  # noqa: S314
    _assert_clean(document.decode())


def test_dublin_core_drops_control_characters_and_validates(dirty: ExportRecord) -> None:
    document = dublin_core.dublin_core_xml(dirty, "The Archive")
    dublin_core.validate_dublin_core(document)
    _assert_clean(document.decode())


def test_webvtt_drops_control_characters(dirty: ExportRecord) -> None:
    assert dirty.transcript is not None
    document = webvtt(dirty.transcript)
    _assert_clean(document)
    assert len(list(webvtt_parser.from_string(document))) == len(dirty.transcript.segments)


def test_srt_drops_control_characters(dirty: ExportRecord) -> None:
    assert dirty.transcript is not None
    _assert_clean(srt(dirty.transcript))


def test_plain_text_drops_control_characters(dirty: ExportRecord) -> None:
    assert dirty.transcript is not None
    _assert_clean(plain_text(dirty.transcript))


def test_json_drops_control_characters(dirty: ExportRecord) -> None:
    assert dirty.transcript is not None
    document = transcript_json(dirty.transcript, "T-7K3M-Q9XD", "transcript")
    assert "\\u0001" not in document
    _assert_clean(json.loads(document)["segments"][0]["text"])


def test_an_approved_segment_with_a_control_character_exports(
    app: Flask, tmp_path: Path
) -> None:
    """Issue 14 item 8: a U+0001 in an approved segment failed the whole export run."""
    pseudonym = approved_record(app, texts=("In 1988 I was\x01 in Evin prison.", "After\x0b that."))
    outcome = _export(app, tmp_path / "out")
    assert outcome["exported"] == [pseudonym], outcome
    bag = tmp_path / "out" / pseudonym
    bagit.Bag(str(bag)).validate()
    ohms.validate_ohms((bag / "data" / "metadata" / f"{pseudonym}.ohms.xml").read_bytes())
    for path in (bag / "data").rglob("*"):
        if path.is_file() and path.suffix in {".xml", ".vtt", ".srt", ".txt", ".json"}:
            assert not any(c in path.read_text("utf-8") for c in "\x01\x0b"), path.name
    assert "In 1988 I was in Evin prison." in (
        bag / "data" / "transcript" / f"{pseudonym}.en.txt"
    ).read_text()


def test_a_document_that_is_not_well_formed_is_an_export_error() -> None:
    with pytest.raises(ExportError, match="not well-formed"):
        ohms.validate_ohms(b"<ROOT>\x01</ROOT>")
    with pytest.raises(ExportError, match="not well-formed"):
        dublin_core.validate_dublin_core(b"<dc>")
