"""A transcript or translation as WebVTT, SRT, plain text and JSON.

Every function returns text that depends on its input only (no clock, no dict order): a second
export of the same record is byte-identical. Times are whole milliseconds, rounded once by
`record.to_millis`, so that the cues, the JSON and the OHMS sync agree to the millisecond.

Persian cues start every line with U+200F RIGHT-TO-LEFT MARK. A browser lays out each cue line
as its own bidirectional paragraph whose direction comes from its first strong character
(`unicode-bidi: plaintext`), so a Persian line that opens with a Latin name or a number ("Evin
...") would otherwise be laid out left to right, its words in the wrong order. The mark is a
strong right-to-left character and invisible; players that ignore bidi lose nothing.

Cues follow broadcast practice (the BBC's and Netflix's subtitle guidelines): at most two lines
of 42 characters, broken at word boundaries. A segment longer than that becomes several cues
that share its time: by the words' own times where the reviewed text still has the words the
model timed, else in proportion to the characters each cue holds. SRT and plain text carry no
markup (`text.strip_markup`); WebVTT escapes it. Every format drops the characters XML 1.0
forbids (`text.clean`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from intake.export.record import Segment, Transcript, canonical_json, clock, to_millis
from intake.export.text import clean, one_line, strip_markup

__all__ = ["RLM", "Cue", "cues", "one_line", "plain_text", "srt", "transcript_json", "webvtt"]

RLM = "\u200f"
#: Characters per line and lines per cue (BBC and Netflix subtitle guidelines).
MAX_LINE = 42
MAX_LINES = 2


@dataclass(frozen=True)
class Cue:
    """One subtitle: its time in seconds and its lines (at most `MAX_LINES`)."""

    start: float
    end: float
    lines: tuple[str, ...]


def _tokens(words: list[str]) -> list[tuple[int, str]]:
    """The words, each with its number; a word longer than a line is cut into pieces."""
    out = []
    for number, word in enumerate(words):
        for at in range(0, len(word), MAX_LINE):
            out.append((number, word[at : at + MAX_LINE]))
    return out


def _wrap(tokens: list[tuple[int, str]]) -> list[list[tuple[int, str]]]:
    """Tokens filled into lines of at most `MAX_LINE` characters."""
    lines: list[list[tuple[int, str]]] = []
    width = 0
    for token in tokens:
        if lines and width + 1 + len(token[1]) <= MAX_LINE:
            lines[-1].append(token)
            width += 1 + len(token[1])
        else:
            lines.append([token])
            width = len(token[1])
    return lines


def cues(segment: Segment, text: str, lead: int = 0) -> list[Cue]:
    """`text` (the segment's, as the format writes it, after `lead` words of a speaker's
    name) as cues of at most two lines of 42
    characters, sharing the segment's time; the first starts with the segment, the last ends
    with it, and each starts where its first word does (or where its share of the characters
    puts it)."""
    words = text.split()
    if not words:
        return [Cue(segment.start, segment.end, ("",))]
    lines = _wrap(_tokens(words))
    groups = [lines[i : i + MAX_LINES] for i in range(0, len(lines), MAX_LINES)]
    starts = _by_words(segment, words[lead:], groups, lead) or _by_characters(segment, groups)
    if starts is None:
        # Too short to show each cue for a millisecond: one cue, longer than the rule.
        groups, starts = [lines], [segment.start]
    ends = [*starts[1:], segment.end]
    return [
        Cue(start, end, tuple(" ".join(t for _, t in line) for line in group))
        for start, end, group in zip(starts, ends, groups, strict=True)
    ]


def _increasing(segment: Segment, starts: list[float]) -> list[float] | None:
    millis = [to_millis(s) for s in [*starts, segment.end]]
    return starts if all(a < b for a, b in zip(millis, millis[1:], strict=False)) else None


def _by_words(
    segment: Segment, words: list[str], groups: list[list[list[tuple[int, str]]]], lead: int
) -> list[float] | None:
    timed = [w for w in segment.words if w.text.strip()]
    if len(timed) != len(words):
        return None
    firsts = [max(0, group[0][0][0] - lead) for group in groups[1:]]
    starts = [segment.start] + [timed[first].start for first in firsts]
    return _increasing(segment, starts)


def _by_characters(
    segment: Segment, groups: list[list[list[tuple[int, str]]]]
) -> list[float] | None:
    sizes = [sum(len(t) + 1 for line in group for _, t in line) for group in groups]
    total, before, starts = sum(sizes), 0, []
    for size in sizes:
        starts.append(segment.start + (segment.end - segment.start) * before / total)
        before += size
    return _increasing(segment, starts)


def _vtt_escape(text: str) -> str:
    # Escaping "<" and ">" also makes "-->" impossible inside a cue.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _directed(text: str, transcript: Transcript) -> str:
    return RLM + text if transcript.right_to_left else text


def webvtt(transcript: Transcript, kind: str = "captions") -> str:
    """WebVTT with its kind and language in the header and `<v>` tags where the speaker is
    known. `kind` is `captions` for the transcript (the words as spoken) and `subtitles` for
    a translation."""
    lines = ["WEBVTT", f"Kind: {kind}", f"Language: {transcript.language}", ""]
    number = 0
    for segment in transcript.segments:
        speaker = _vtt_escape(one_line(segment.speaker)) if segment.speaker else ""
        for cue in cues(segment, one_line(segment.text)):
            number += 1
            text = "\n".join(_directed(_vtt_escape(line), transcript) for line in cue.lines)
            if speaker:
                text = f"<v {speaker}>{text}</v>"
            lines += [str(number), f"{clock(cue.start)} --> {clock(cue.end)}", text, ""]
    return "\n".join(lines)


def _speaking(segment: Segment) -> tuple[str, int]:
    """The segment's text without markup, the speaker as a `Name:` prefix where known, and
    the number of words the prefix takes."""
    text = one_line(strip_markup(one_line(segment.text)))
    if not segment.speaker:
        return text, 0
    prefix = one_line(strip_markup(one_line(segment.speaker))) + ":"
    return f"{prefix} {text}", len(prefix.split())


def srt(transcript: Transcript) -> str:
    """SubRip, the format most video editors and players read; speakers as a prefix."""
    blocks = []
    number = 0
    for segment in transcript.segments:
        for cue in cues(segment, *_speaking(segment)):
            number += 1
            text = "\n".join(_directed(line, transcript) for line in cue.lines)
            blocks.append(
                f"{number}\n{clock(cue.start, ',')} --> {clock(cue.end, ',')}\n{text}\n"
            )
    return "\n".join(blocks)


def plain_text(transcript: Transcript) -> str:
    """One line per segment, with the speaker where known: for reading and for search."""
    return "".join(_speaking(segment)[0] + "\n" for segment in transcript.segments)


def _seconds(value: float) -> float:
    return to_millis(value) / 1000


def _segment_json(index: int, segment: Segment) -> dict[str, Any]:
    return {
        "index": index,
        "start": _seconds(segment.start),
        "end": _seconds(segment.end),
        "speaker": clean(segment.speaker) if segment.speaker else segment.speaker,
        "text": one_line(segment.text),
        "review_state": segment.review_state,
        "approved_by": segment.approved_by,
        "words": [
            {
                "start": _seconds(word.start),
                "end": _seconds(word.end),
                "text": clean(word.text).strip(),
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
