"""A transcript or translation as WebVTT, SRT, plain text and JSON.

Every function returns text that depends on its input only (no clock, no dict order): a second
export of the same record is byte-identical. Times are whole milliseconds, rounded once by
`record.to_millis`, so that the cues, the JSON and the OHMS sync agree to the millisecond.

Persian cues start every line with U+200F RIGHT-TO-LEFT MARK. A browser lays out each cue line
as its own bidirectional paragraph whose direction comes from its first strong character
(`unicode-bidi: plaintext`), so a Persian line that opens with a Latin name or a number ("Evin
...") would otherwise be laid out left to right, its words in the wrong order. The mark is a
strong right-to-left character and invisible; players that ignore bidi lose nothing.
"""

from __future__ import annotations

import re
from typing import Any

from intake.export.record import Segment, Transcript, canonical_json, clock, to_millis

RLM = "\u200f"
_SPACE = re.compile(r"\s+")


def one_line(text: str) -> str:
    """Collapse every run of whitespace to one space: a blank line would end a cue early."""
    return _SPACE.sub(" ", text).strip()


def _vtt_escape(text: str) -> str:
    # Escaping "<" and ">" also makes "-->" impossible inside a cue.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _directed(text: str, transcript: Transcript) -> str:
    return RLM + text if transcript.right_to_left else text


def webvtt(transcript: Transcript) -> str:
    """WebVTT with the language in the header and `<v>` tags where the speaker is known."""
    lines = ["WEBVTT", "Kind: captions", f"Language: {transcript.language}", ""]
    for number, segment in enumerate(transcript.segments, start=1):
        text = _directed(_vtt_escape(one_line(segment.text)), transcript)
        if segment.speaker:
            text = f"<v {_vtt_escape(one_line(segment.speaker))}>{text}</v>"
        lines += [
            str(number),
            f"{clock(segment.start)} --> {clock(segment.end)}",
            text,
            "",
        ]
    return "\n".join(lines)


def srt(transcript: Transcript) -> str:
    """SubRip, the format most video editors and players read; speakers as a prefix."""
    blocks = []
    for number, segment in enumerate(transcript.segments, start=1):
        text = one_line(segment.text)
        if segment.speaker:
            text = f"{one_line(segment.speaker)}: {text}"
        blocks.append(
            f"{number}\n{clock(segment.start, ',')} --> {clock(segment.end, ',')}\n"
            f"{_directed(text, transcript)}\n"
        )
    return "\n".join(blocks)


def plain_text(transcript: Transcript) -> str:
    """One line per segment, with the speaker where known: for reading and for search."""
    lines = []
    for segment in transcript.segments:
        text = one_line(segment.text)
        lines.append(f"{one_line(segment.speaker)}: {text}" if segment.speaker else text)
    return "\n".join(lines) + "\n"


def _seconds(value: float) -> float:
    return to_millis(value) / 1000


def _segment_json(index: int, segment: Segment) -> dict[str, Any]:
    return {
        "index": index,
        "start": _seconds(segment.start),
        "end": _seconds(segment.end),
        "speaker": segment.speaker,
        "text": one_line(segment.text),
        "review_state": segment.review_state,
        "approved_by": segment.approved_by,
        "words": [
            {
                "start": _seconds(word.start),
                "end": _seconds(word.end),
                "text": word.text.strip(),
                "probability": None if word.probability is None else round(word.probability, 4),
            }
            for word in segment.words
        ],
    }


def transcript_json(transcript: Transcript, pseudonym: str, kind: str) -> str:
    """JSON with segment and word times, review states and approvers (staff pseudonyms)."""
    document = {
        "pseudonym": pseudonym,
        "kind": kind,
        "language": transcript.language,
        "direction": "rtl" if transcript.right_to_left else "ltr",
        "review_state": transcript.review_state,
        "approved_by": transcript.approved_by,
        "machine_draft": transcript.machine_draft,
        "segments": [_segment_json(i, s) for i, s in enumerate(transcript.segments)],
    }
    return canonical_json(document)
