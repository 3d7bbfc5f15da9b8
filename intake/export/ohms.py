"""OHMS XML 6.0: the record for an OHMS viewer, with the translation as its alternate language.

The Oral History Metadata Synchronizer's viewer shows an interview with its transcript, an index
of points to jump to, and (asked with `translate=1`) the alternate-language transcript. Both
transcripts go in twice: as the 6.0 `vtt_transcript` / `vtt_transcript_alt`, which the viewer
prefers, and as the legacy `transcript` / `sync` pair for viewers before 6.0.

The index holds the points indexers wrote and a second indexer approved (`ExportRecord.
index_points`); a record without any gets one made from its segments, about every two minutes.

The legacy `sync` string is `INTERVAL:|LINE(WORD)|LINE(WORD)...`: the interval in minutes, then
entry n (counting from 1) gives the line and word (both from 1) where minute n x INTERVAL falls
in the transcript. The transcript here has one line per segment, so a line's words and the
segment's word times line up; where a reviewer's edit changed the number of words, the position
is interpolated within the segment instead.

Element order inside `record` is an `xs:sequence` in the schema: `_FIELDS` keeps it.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET  # noqa: S405 - we only write XML here, never parse input
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from intake.export.record import (
    LANGUAGE_NAMES,
    ExportError,
    ExportRecord,
    IndexPoint,
    Segment,
    Transcript,
)
from intake.export.rights import record_rights, usage_statement
from intake.export.subtitles import one_line, webvtt
from intake.export.text import clean

NAMESPACE = "https://www.weareavp.com/nunncenter/ohms"
SYNC_INTERVAL_MINUTES = 1
#: An index point opens at the first segment that starts this long after the point before.
INDEX_SECONDS = 120.0
TITLE_WORDS = 8


@dataclass(frozen=True)
class OhmsOptions:
    """What the OHMS record says about the archive rather than the testimony."""

    repository: str
    audio_file_name: str
    collection_name: str = ""
    #: The media type of `audio_file_name` (the record's own when not given).
    media_type: str | None = None


def transcript_lines(transcript: Transcript) -> list[str]:
    """The legacy transcript, one line per segment, the speaker in capitals as OHMS writes."""
    lines = []
    for segment in transcript.segments:
        text = one_line(segment.text)
        lines.append(f"{one_line(segment.speaker).upper()}: {text}" if segment.speaker else text)
    return lines


def _word_at(segment: Segment, line: str, seconds: float) -> int:
    """The number (from 1) of the word of `line` being spoken at `seconds` into the record."""
    words = line.split()
    prefix = len(words) - len(one_line(segment.text).split())
    spoken = len(words) - prefix
    if spoken <= 0 or seconds <= segment.start:
        return 1 + prefix if spoken > 0 else 1
    if len(segment.words) == spoken:
        # The first word that starts at or after the moment; the last one if none does.
        index = next(
            (i for i, word in enumerate(segment.words) if word.start >= seconds), spoken - 1
        )
    else:
        share = (seconds - segment.start) / (segment.end - segment.start)
        index = min(spoken - 1, int(share * spoken))
    return prefix + index + 1


def sync_string(transcript: Transcript, interval_minutes: int = SYNC_INTERVAL_MINUTES) -> str:
    """The legacy `sync` value: where each whole interval falls in `transcript_lines`."""
    lines = transcript_lines(transcript)
    segments = transcript.segments
    if not segments:
        return ""
    entries = []
    last_end = segments[-1].end
    step = interval_minutes * 60
    minute = 1
    position = 0
    while minute * step < last_end:
        moment = minute * step
        # The segment being spoken at the moment, or the next one after a pause.
        while position < len(segments) and segments[position].end <= moment:
            position += 1
        entries.append(
            f"{position + 1}({_word_at(segments[position], lines[position], moment)})"
        )
        minute += 1
    return f"{interval_minutes}:|" + "|".join(entries)


def _title(text: str) -> str:
    words = one_line(text).split()
    return " ".join(words[:TITLE_WORDS]) + (" …" if len(words) > TITLE_WORDS else "")


def index_groups(transcript: Transcript, seconds: float = INDEX_SECONDS) -> list[list[int]]:
    """Segment numbers grouped into index points of about `seconds` each."""
    groups: list[list[int]] = []
    group_start = -math.inf
    for number, segment in enumerate(transcript.segments):
        if segment.start - group_start >= seconds:
            groups.append([])
            group_start = segment.start
        groups[-1].append(number)
    return groups


def _aligned(transcript: Transcript, translation: Transcript | None) -> Transcript | None:
    # The translation is made segment by segment on the approved transcript; only then may the
    # index borrow its titles.
    if translation is None or len(translation.segments) != len(transcript.segments):
        return None
    return translation


def _index(transcript: Transcript, translation: Transcript | None) -> ET.Element:
    index = ET.Element(_q("index"))
    alt = _aligned(transcript, translation)
    for group in index_groups(transcript):
        first = transcript.segments[group[0]]
        point = ET.SubElement(index, _q("point"))
        _sub(point, "time", str(int(first.start)))
        _sub(point, "title", _title(first.text))
        if alt is not None:
            _sub(point, "title_alt", _title(alt.segments[group[0]].text))
        _sub(point, "partial_transcript", one_line(first.text))
        if alt is not None:
            _sub(point, "partial_transcript_alt", one_line(alt.segments[group[0]].text))
    return index


def _indexed(points: tuple[IndexPoint, ...]) -> ET.Element:
    """The index an indexer wrote: each approved point with its words in both languages."""
    index = ET.Element(_q("index"))
    for p in sorted(points, key=lambda point: point.start):
        point = ET.SubElement(index, _q("point"))
        _sub(point, "time", str(int(p.start)))
        fields = [
            ("title", p.title),
            ("title_alt", p.title_alt),
            ("partial_transcript", one_line(p.partial_transcript)),
            ("partial_transcript_alt", one_line(p.partial_transcript_alt)),
            ("synopsis", p.synopsis),
            ("synopsis_alt", p.synopsis_alt),
            # OHMS separates keywords and subjects with semicolons.
            ("keywords", ";".join(p.keywords)),
            ("keywords_alt", ";".join(p.keywords_alt)),
            ("subjects", ";".join(p.subjects)),
            ("subjects_alt", ";".join(p.subjects_alt)),
        ]
        for name, value in fields:
            if value:
                _sub(point, name, value)
    return index


def _duration(seconds: float) -> str:
    whole = int(seconds + 0.5)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _q(name: str) -> str:
    # Names stay unprefixed: the root declares OHMS as the default namespace (ElementTree's
    # `default_namespace` refuses the unqualified attributes `id` and `dt`).
    return name


def _sub(parent: ET.Element, name: str, text: str | None = None, **attrib: str) -> ET.Element:
    element = ET.SubElement(parent, _q(name), {k: clean(v) for k, v in attrib.items()})
    if text is not None:
        element.text = clean(text)
    return element


def ohms_xml(record: ExportRecord, options: OhmsOptions) -> bytes:
    """The OHMS 6.0 XML of one record, as UTF-8 bytes, the same bytes for the same record."""
    transcript, translation = record.transcript, record.translation
    if transcript is None and translation is not None:
        raise ExportError(f"{record.pseudonym}: a translation without its transcript")
    day = (record.approved_at or record.received_at).date().isoformat()
    root = ET.Element("ROOT", xmlns=NAMESPACE)
    rec = _sub(root, "record", id=str(record.record_id), dt=day)
    fields: list[tuple[str, Any]] = [
        ("version", "6.0"),
        ("date", None),
        ("title", record.pseudonym),
        ("accession", record.pseudonym),
        ("duration", _duration(record.duration)),
        ("collection_name", options.collection_name or None),
        ("repository", options.repository),
        ("format", options.media_type or record.audio_media_type),
        ("file_name", options.audio_file_name),
        ("sync", sync_string(transcript) if transcript else None),
        ("sync_alt", sync_string(translation) if translation else None),
        ("transcript_alt_lang", LANGUAGE_NAMES[translation.language] if translation else None),
        ("translate", "1" if translation else "0"),
        ("mediafile", None),
        ("language", LANGUAGE_NAMES[record.language]),
        ("index", None),
        ("type", "Oral History"),
        ("description", record.description),
        ("transcript", "\n".join(transcript_lines(transcript)) if transcript else None),
        ("transcript_alt", "\n".join(transcript_lines(translation)) if translation else None),
        ("vtt_transcript", webvtt(transcript) if transcript else None),
        ("vtt_transcript_alt", webvtt(translation, "subtitles") if translation else None),
        ("rights", record_rights(record)),
        ("fmt", "audio"),
        ("usage", usage_statement(record.consent)),
        ("userestrict", "0"),
    ]
    for name, value in fields:
        if name == "date":
            _sub(rec, "date", value=record.received_at.date().isoformat(), format="yyyy-mm-dd")
        elif name == "mediafile":
            media = _sub(rec, "mediafile")
            _sub(media, "host", "Other")
            _sub(media, "clip_format", "audio")
        elif name == "index":
            # The indexers' approved points where there are any (they leave only with the
            # transcript's text: `intake.export.gather`), else the index made from segments.
            if record.index_points:
                rec.append(_indexed(record.index_points))
            elif transcript is not None and transcript.segments:
                rec.append(_index(transcript, translation))
        elif value is not None:
            _sub(rec, name, value)
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


@cache
def _schema() -> Any:
    import xmlschema

    with resources.as_file(resources.files("intake.export") / "schemas" / "ohms.xsd") as path:
        return xmlschema.XMLSchema(str(path))


def validate_ohms(document: bytes) -> None:
    """Raise `ExportError` unless `document` is valid against the bundled OHMS 6.0 schema."""
    try:
        errors = list(_schema().iter_errors(document.decode("utf-8")))
    except (ValueError, SyntaxError) as exc:  # not even well-formed (ParseError, bad UTF-8)
        raise ExportError(f"OHMS XML is not well-formed: {exc}") from exc
    if errors:
        raise ExportError(f"OHMS XML does not validate: {errors[0].reason}")
