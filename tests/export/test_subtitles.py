"""WebVTT, SRT, plain text and JSON, read back with independent parsers (webvtt-py, srt)."""

from __future__ import annotations

import html
import json
from datetime import timedelta

import pytest
import srt as srt_parser
import webvtt as webvtt_parser

from intake.export.record import ExportError, Segment, Transcript, to_millis
from intake.export.subtitles import RLM, plain_text, srt, transcript_json, webvtt
from tests.export.records import ENGLISH, PERSIAN, transcript


def _millis(clock: str) -> int:
    hours, minutes, rest = clock.split(":")
    seconds, millis = rest.split(".")
    return ((int(hours) * 60 + int(minutes)) * 60 + int(seconds)) * 1000 + int(millis)


def _assert_times(cues: list[tuple[int, int]], text: Transcript) -> None:
    expected = [(to_millis(s.start), to_millis(s.end)) for s in text.segments]
    assert cues == expected
    starts = [start for start, _ in cues]
    assert starts == sorted(set(starts)), "cue starts must strictly increase"
    assert all(end > start for start, end in cues)


@pytest.mark.parametrize(("language", "texts"), [("fa", PERSIAN), ("en", ENGLISH)])
def test_webvtt_parses_with_cue_times_voices_and_language(language: str, texts: list[str]) -> None:
    text = transcript(language, texts)
    document = webvtt(text)
    parsed = webvtt_parser.from_string(document)
    _assert_times([(_millis(c.start), _millis(c.end)) for c in parsed], text)
    assert document.splitlines()[:3] == ["WEBVTT", "Kind: captions", f"Language: {language}"]
    assert [c.voice for c in parsed] == [s.speaker for s in text.segments]
    mark = RLM if language == "fa" else ""
    for cue, expected in zip(parsed, texts, strict=True):
        lines = html.unescape(cue.text).split("\n")
        assert all(line.startswith(mark) and len(line) <= len(mark) + 42 for line in lines)
        assert " ".join(line.removeprefix(mark) for line in lines) == expected


def test_persian_cues_start_right_to_left_even_with_a_latin_first_word() -> None:
    """The second Persian cue opens with "Evin": only the mark keeps it right to left."""
    parsed = list(webvtt_parser.from_string(webvtt(transcript("fa", PERSIAN))))
    assert parsed[1].text.startswith(RLM + "Evin")
    english = list(webvtt_parser.from_string(webvtt(transcript("en", ENGLISH))))
    assert not any(RLM in c.text for c in english)


def test_webvtt_escapes_markup_and_cannot_end_a_cue_early() -> None:
    hostile = Transcript(
        "en",
        (Segment(0.0, 1.0, "a --> b\n\nc <b>d</b> & e", speaker="A<B>"),
         Segment(1.0, 2.0, "next")),
    )
    parsed = list(webvtt_parser.from_string(webvtt(hostile)))
    assert len(parsed) == 2
    assert html.unescape(parsed[0].text) == "a --> b c <b>d</b> & e"


def test_a_translation_is_subtitles_and_a_transcript_captions() -> None:
    assert webvtt(transcript("en", ENGLISH), "subtitles").splitlines()[1] == "Kind: subtitles"
    assert webvtt(transcript("fa", PERSIAN)).splitlines()[1] == "Kind: captions"


@pytest.mark.parametrize(("language", "texts"), [("fa", PERSIAN), ("en", ENGLISH)])
def test_srt_parses_with_cue_times(language: str, texts: list[str]) -> None:
    text = transcript(language, texts)
    cues = list(srt_parser.parse(srt(text)))
    ms = timedelta(milliseconds=1)
    times = [(c.start // ms, c.end // ms) for c in cues]
    # A segment whose speaker and words pass two lines of 42 characters takes several cues.
    starts, ends = {start for start, _ in times}, {end for _, end in times}
    assert all(to_millis(s.start) in starts and to_millis(s.end) in ends for s in text.segments)
    assert [start for start, _ in times] == sorted(starts) and all(e > s for s, e in times)
    assert [c.index for c in cues] == list(range(1, len(cues) + 1))
    assert cues[0].content.replace("\n" + RLM, " ").replace("\n", " ").endswith(texts[0])
    assert cues[0].content.split(": ")[0].lstrip(RLM) == "Interviewer"


def test_plain_text_has_one_line_per_segment() -> None:
    lines = plain_text(transcript("en", ENGLISH)).splitlines()
    assert lines == [
        f"Interviewer: {ENGLISH[0]}",
        f"Witness: {ENGLISH[1]}",
        f"Interviewer: {ENGLISH[2]}",
        ENGLISH[3],
    ]


def test_json_holds_segment_and_word_times_review_state_and_approver() -> None:
    text = transcript("fa", PERSIAN)
    document = json.loads(transcript_json(text, "T-7K3M-Q9XD", "transcript"))
    assert document["language"] == "fa" and document["direction"] == "rtl"
    assert document["review_state"] == "approved" and document["approved_by"] == "S-ARCH1"
    assert document["machine_draft"] is False
    segments = document["segments"]
    assert [(s["start"], s["end"]) for s in segments] == [
        (to_millis(s.start) / 1000, to_millis(s.end) / 1000) for s in text.segments
    ]
    assert all(s["approved_by"] == "S-REV2" for s in segments)
    words = segments[0]["words"]
    assert [w["text"] for w in words] == PERSIAN[0].split()
    assert words[0]["start"] == 0.0 and words[-1]["end"] == 4.2


def test_same_transcript_gives_the_same_bytes() -> None:
    first = transcript("fa", PERSIAN)
    second = transcript("fa", list(PERSIAN))
    for write in (webvtt, srt, plain_text):
        assert write(first) == write(second)
    assert transcript_json(first, "P", "transcript") == transcript_json(second, "P", "transcript")


@pytest.mark.parametrize(
    "segments",
    [
        (Segment(1.0, 1.0, "no length"),),
        (Segment(2.0, 1.0, "backwards"),),
        (Segment(0.0, 2.0, "a"), Segment(0.0, 3.0, "same start")),
        (Segment(0.0, 2.0, "a"), Segment(0.0004, 3.0, "same millisecond")),
        (Segment(5.0, 6.0, "a"), Segment(1.0, 3.0, "earlier")),
    ],
)
def test_segments_out_of_order_are_refused(segments: tuple[Segment, ...]) -> None:
    with pytest.raises(ExportError):
        Transcript("en", segments)
