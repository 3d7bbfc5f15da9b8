"""Turning reviewers' redaction marks into public text and audio: the pure parts.

The marks are read through one plain interface, `Mark`: a span of one segment's text (character
offsets into the segment's current text) and the time that span is spoken (the start of its
first word and the end of its last), with a category. Whatever table the review pages keep
their marks in, it is read into `Mark`s in one place (`intake.review.access_copies.marks_for`), and
everything here works from those.

Text: each marked span is replaced by its category, in the text's own language (`PLACEHOLDERS`):

    =========  ==========  ===========
    category   English     Persian
    =========  ==========  ===========
    person     [name]      [نام]
    place      [place]     [مکان]
    date       [date]      [تاریخ]
    other      [removed]   [حذف شده]
    =========  ==========  ===========

Overlapping or touching marks become one span; where their categories differ the span is
"other" ([removed]), which says least about what was there.

Audio: the access copy (FLAC, 16 kHz mono, see `intake.audio`) is decoded frame by frame and
the samples of every marked span, widened by a small margin on each side (word timestamps are
good to a few tens of milliseconds), are replaced by silence or by a steady tone. A tone tells
a listener that something was removed; silence sounds like a pause. Only one frame (and, with
voice disguise, one chunk of a few seconds) is in memory at a time, so an hour-long recording
costs the same memory as a minute.

Voice disguise: Praat's "Change gender" (PSOLA pitch change plus a formant shift, through
praat-parselmouth) applied to chunks of `chunk_s` seconds that overlap by `overlap_s` and are
cross-faded, so no chunk boundary clicks. Each chunk's pitch median is moved by the configured
number of semitones; the formants are scaled by the configured ratio. It runs after the
silencing, so a name can never come back through the disguise. A disguised voice can still be
recognised by someone who knows it well: the submitter's consent to publish anonymised audio is
asked for separately for that reason.
"""

from __future__ import annotations

import enum
import hashlib
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler

from intake.audio import ACCESS_SAMPLE_RATE, SeekableFile, write_access_flac


class Category(enum.StrEnum):
    """What a marked span is (SPEC.md section 5)."""

    person = "person"
    place = "place"
    date = "date"
    other = "other"


# The words that stand in for a removed span, per language of the text. Square brackets mark
# them as the archive's words, not the speaker's.
PLACEHOLDERS: dict[str, dict[Category, str]] = {
    "en": {
        Category.person: "[name]",
        Category.place: "[place]",
        Category.date: "[date]",
        Category.other: "[removed]",
    },
    "fa": {
        Category.person: "[نام]",
        Category.place: "[مکان]",
        Category.date: "[تاریخ]",
        Category.other: "[حذف شده]",
    },
}


@dataclass(frozen=True)
class Mark:
    """One redaction mark: characters `char_start`..`char_end` (end exclusive) of a segment's
    text, spoken from `start_s` to `end_s` (seconds from the start of the segment's file)."""

    segment_id: int
    char_start: int
    char_end: int
    start_s: float
    end_s: float
    category: Category


class MarkError(ValueError):
    """A mark that does not fit its text or its audio: better no copy than a leaking one."""


def placeholder(category: Category, language: str) -> str:
    """The word that replaces a span of `category` in a text in `language` (Persian for "fa",
    English for every other language, since the archive works in those two)."""
    return PLACEHOLDERS["fa" if language == "fa" else "en"][Category(category)]


def redact_text(text: str, marks: Iterable[Mark], language: str) -> str:
    """`text` with every marked span replaced by its category's placeholder.

    Raises MarkError for a mark outside the text or with its end before its start: the text
    changed since the mark was made, and guessing where the name went could leave it in.
    """
    spans: list[tuple[int, int, Category]] = []
    for mark in marks:
        if not 0 <= mark.char_start < mark.char_end <= len(text):
            raise MarkError(
                f"mark {mark.char_start}..{mark.char_end} does not fit a text of {len(text)}"
            )
        spans.append((mark.char_start, mark.char_end, Category(mark.category)))
    spans.sort()
    merged: list[list[Any]] = []
    for start, end, category in spans:
        if merged and start <= merged[-1][1]:
            last = merged[-1]
            last[1] = max(last[1], end)
            if last[2] != category:
                last[2] = Category.other
        else:
            merged.append([start, end, category])
    out: list[str] = []
    at = 0
    for start, end, category in merged:
        out.append(text[at:start])
        out.append(placeholder(category, language))
        at = end
    out.append(text[at:])
    return "".join(out)


def audio_spans(
    marks: Iterable[Mark], margin_s: float, duration_s: float | None = None
) -> list[tuple[float, float]]:
    """The stretches of audio to remove: each mark's time widened by `margin_s` on both sides,
    clipped to the recording, sorted and merged."""
    if margin_s < 0:
        raise ValueError("the margin cannot be negative")
    spans = []
    for mark in marks:
        if not (math.isfinite(mark.start_s) and math.isfinite(mark.end_s)) or (
            mark.end_s < mark.start_s
        ):
            raise MarkError(f"mark spoken from {mark.start_s} to {mark.end_s} makes no sense")
        start = max(0.0, mark.start_s - margin_s)
        end = mark.end_s + margin_s
        if duration_s is not None:
            end = min(end, duration_s)
        if end > start:
            spans.append((start, end))
    spans.sort()
    merged: list[tuple[float, float]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


@dataclass(frozen=True)
class AudioSettings:
    """How the access audio is made: the margin around each span, silence or a tone, and the
    voice disguise's amount."""

    margin_s: float = 0.15
    # 0 for silence; otherwise the frequency of the tone that replaces a span.
    tone_hz: float = 0.0
    tone_level: float = 0.1
    disguise_semitones: float = 4.0
    disguise_formant_ratio: float = 1.12
    chunk_s: float = 20.0
    overlap_s: float = 0.25


@dataclass(frozen=True)
class AudioResult:
    """What was made: its length, how much was removed, and the SHA-256 of the source read
    and of the copy written (each copy names what it was made from)."""

    samples: int
    removed_samples: int
    source_sha256: str
    copy_sha256: str

    @property
    def duration_s(self) -> float:
        """The copy's length in seconds."""
        return self.samples / ACCESS_SAMPLE_RATE


def sha256_of(source: SeekableFile, block: int = 1024 * 1024) -> str:
    """SHA-256 of a file object's bytes from the start, read in blocks; leaves it at 0."""
    digest = hashlib.sha256()
    source.seek(0)
    while chunk := source.read(block):
        digest.update(chunk)
    source.seek(0)
    return digest.hexdigest()


def _decoded_blocks(source: SeekableFile) -> Iterator[np.ndarray]:
    """The access copy's samples as int16 blocks (one decoded frame each)."""
    resampler = AudioResampler(format="s16", layout="mono", rate=ACCESS_SAMPLE_RATE)
    # The source is one of our own access copies, never an upload: only FLAC is accepted.
    with av.open(source, mode="r", format="flac") as container:
        stream = container.streams.audio[0]
        for packet in container.demux(stream):
            for frame in packet.decode():
                frame.pts = None
                for out in resampler.resample(frame):
                    yield out.to_ndarray().reshape(-1).astype(np.int16, copy=False)
        for out in resampler.resample(None):
            yield out.to_ndarray().reshape(-1).astype(np.int16, copy=False)


def decoded_blocks(source: SeekableFile) -> Iterator[np.ndarray]:
    """An access copy's (or a redacted copy's) samples as int16 blocks, one frame at a time:
    for whatever reads a copy back (`intake.review.redaction_proof`)."""
    return _decoded_blocks(source)


class _Counter:
    """Counts samples passing through and those replaced."""

    def __init__(self) -> None:
        self.samples = 0
        self.removed = 0


def _masked(
    blocks: Iterable[np.ndarray],
    spans: Sequence[tuple[float, float]],
    settings: AudioSettings,
    counter: _Counter,
) -> Iterator[np.ndarray]:
    """Replace the samples inside `spans` with silence or the tone, block by block."""
    rate = ACCESS_SAMPLE_RATE
    bounds = [(round(a * rate), round(b * rate)) for a, b in spans]
    at = 0
    for block in blocks:
        n = block.shape[0]
        out = block
        for lo, hi in bounds:
            a, b = max(lo, at), min(hi, at + n)
            if a >= b:
                continue
            if out is block:
                out = block.copy()
            if settings.tone_hz > 0:
                t = np.arange(a, b) / rate
                tone = settings.tone_level * np.sin(2 * np.pi * settings.tone_hz * t)
                out[a - at : b - at] = (tone * 32767).astype(np.int16)
            else:
                out[a - at : b - at] = 0
            counter.removed += b - a
        at += n
        counter.samples += n
        yield out


def _change_gender(samples: np.ndarray, settings: AudioSettings) -> np.ndarray:
    """One chunk through Praat's "Change gender": pitch median moved by the configured
    semitones, formants scaled; the same length back."""
    import parselmouth
    from parselmouth.praat import call

    sound = parselmouth.Sound(samples.astype(np.float64) / 32768.0, ACCESS_SAMPLE_RATE)
    pitch = sound.to_pitch(time_step=0.01, pitch_floor=75.0, pitch_ceiling=600.0)
    voiced = pitch.selected_array["frequency"]
    voiced = voiced[voiced > 0]
    # A chunk without voiced speech keeps its pitch (0 means "no change" to Praat) but still
    # has its formants moved.
    shift = 2 ** (settings.disguise_semitones / 12)
    target = float(np.median(voiced)) * shift if voiced.size else 0.0
    changed = call(
        sound, "Change gender", 75.0, 600.0, settings.disguise_formant_ratio, target, 1.0, 1.0
    )
    values = np.asarray(changed.values, dtype=np.float64).reshape(-1)
    if values.shape[0] < samples.shape[0]:
        values = np.pad(values, (0, samples.shape[0] - values.shape[0]))
    values = values[: samples.shape[0]]
    return np.clip(values * 32768.0, -32768, 32767).astype(np.int16)


def _disguised(blocks: Iterable[np.ndarray], settings: AudioSettings) -> Iterator[np.ndarray]:
    """Voice disguise over overlapping chunks, cross-faded: chunk k covers
    [kL, kL + L + O) and gives out [kL, kL + L), its first O samples faded in over the
    previous chunk's last O."""
    length = max(1, round(settings.chunk_s * ACCESS_SAMPLE_RATE))
    overlap = max(1, round(settings.overlap_s * ACCESS_SAMPLE_RATE))
    fade_in = np.linspace(0.0, 1.0, overlap, endpoint=False)
    pending = np.zeros(0, dtype=np.int16)
    tail: np.ndarray | None = None

    def blend(out: np.ndarray) -> np.ndarray:
        if tail is None:
            return out
        n = min(overlap, out.shape[0], tail.shape[0])
        mixed = out.astype(np.float64)
        mixed[:n] = tail[:n] * (1 - fade_in[:n]) + mixed[:n] * fade_in[:n]
        return np.clip(mixed, -32768, 32767).astype(np.int16)

    for block in blocks:
        pending = np.concatenate([pending, block])
        while pending.shape[0] >= length + overlap:
            out = blend(_change_gender(pending[: length + overlap], settings))
            yield out[:length]
            tail = out[length:].astype(np.float64)
            pending = pending[length:]
    if pending.shape[0]:
        yield blend(_change_gender(pending, settings))


def _frames(blocks: Iterable[np.ndarray]) -> Iterator[AudioFrame]:
    at = 0
    for block in blocks:
        if not block.shape[0]:
            continue
        frame = AudioFrame.from_ndarray(block.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = ACCESS_SAMPLE_RATE
        frame.time_base = Fraction(1, ACCESS_SAMPLE_RATE)
        frame.pts = at
        at += block.shape[0]
        yield frame


def redact_audio(
    source: SeekableFile,
    dest: SeekableFile,
    spans: Sequence[tuple[float, float]],
    settings: AudioSettings,
    *,
    disguise: bool = False,
) -> AudioResult:
    """Write into the empty `dest` the access copy `source` with `spans` removed (and the voice
    disguised when asked); both are seekable file objects, neither is closed."""
    source_sha256 = sha256_of(source)
    counter = _Counter()
    blocks: Iterable[np.ndarray] = _masked(_decoded_blocks(source), spans, settings, counter)
    if disguise:
        blocks = _disguised(blocks, settings)
    write_access_flac(_frames(blocks), dest)
    return AudioResult(
        samples=counter.samples,
        removed_samples=counter.removed,
        source_sha256=source_sha256,
        copy_sha256=sha256_of(dest),
    )
