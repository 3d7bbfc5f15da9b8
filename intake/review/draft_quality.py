"""Whether a machine translation draft is worth offering to a translator.

A small Whisper model asked to translate short Persian speech often returns fluent English that
has nothing to do with what was said ("I will see you in the next video."). Offered with a
one-click Accept, a tired translator takes it. So a draft is offered only where every measure
says it is likely useful:

- its language agrees with the target (English drafts are written in Latin letters);
- its length is in proportion to the source segment's (a sentence for a sentence);
- Whisper's own mean token log-probability is high enough and its compression ratio low
  enough (a model that repeats itself compresses well);
- a back-check: a source with numbers (a year, a date) gets a draft with numbers, and the
  draft is not one of the stock phrases Whisper was trained on from video subtitles.

The thresholds were set on the Persian reference clips (docs/transcription.md, figures from
benchmarks/draft_quality.py): with them the bundled base model offers no draft there, while a
large model's confident, well-proportioned drafts pass. Pure functions: the worker calls
`judge` before storing a draft, the benchmark calls it on its measures.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

#: Mean token log-probability a draft must reach. Whisper's own fallback uses -1.0; the base
#: model's drafts of the 18 Persian reference clips, all nonsense, scored -1.59 to -0.79
#: (docs/transcription.md), so -0.6 keeps a margin above the best of them.
MIN_AVG_LOGPROB = -0.6
#: Whisper's own limit for a repetitive decoding.
MAX_COMPRESSION_RATIO = 2.4
#: A draft is not offered when the model thinks nothing was said.
MAX_NO_SPEECH_PROB = 0.6
#: Draft characters per source character, Persian to English (English runs about 1.1-1.4
#: times as long as Persian for the same sentence).
MIN_LENGTH_RATIO = 0.6
MAX_LENGTH_RATIO = 2.5
#: Share of a draft's letters that must be in the target's script.
MIN_SCRIPT_SHARE = 0.9

#: Phrases from the subtitles of online videos that Whisper produces when it does not
#: understand; seen in the base model's drafts of Persian speech.
STOCK_PHRASES = (
    "next video",
    "this video",
    "thank you for watching",
    "thanks for watching",
    "subscribe",
    "like and share",
    "see you next time",
    "see you in the next",
    "please like",
    "subtitles by",
    "amara.org",
)

_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class Measures:
    """A draft and the model's own figures for it (`workers.engine.SpanDraft`)."""

    text: str
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float


@dataclass(frozen=True)
class Verdict:
    """Whether the draft is offered, and every reason it is not (stable codes)."""

    offered: bool
    reasons: tuple[str, ...]
    script_share: float
    length_ratio: float


def _letters(text: str) -> list[str]:
    return [ch for ch in text if unicodedata.category(ch).startswith("L")]


def script_share(text: str, target_language: str) -> float:
    """The share of the text's letters written in the target language's script."""
    letters = _letters(text)
    if not letters:
        return 0.0
    if target_language == "en":
        hits = sum(1 for ch in letters if "LATIN" in unicodedata.name(ch, ""))
    else:
        hits = sum(1 for ch in letters if "ARABIC" in unicodedata.name(ch, ""))
    return hits / len(letters)


def length_ratio(text: str, source_text: str) -> float:
    """Draft letters per source letter (0 when the source has none)."""
    source = len(_letters(source_text))
    return len(_letters(text)) / source if source else 0.0


def numbers_of(text: str) -> set[str]:
    """The numbers written in a text, in any digits, as Latin digit strings."""
    return {n.lstrip("0") or "0" for n in _NUMBER.findall(text.translate(_DIGITS))}


def judge(measures: Measures, source_text: str, target_language: str = "en") -> Verdict:
    """Whether to offer the draft beside this source segment, with the reasons if not."""
    text = measures.text.strip()
    share = script_share(text, target_language)
    ratio = length_ratio(text, source_text)
    if not text:
        return Verdict(False, ("empty",), share, ratio)
    reasons: list[str] = []
    if share < MIN_SCRIPT_SHARE:
        reasons.append("language")
    if not MIN_LENGTH_RATIO <= ratio <= MAX_LENGTH_RATIO:
        reasons.append("length")
    if measures.avg_logprob < MIN_AVG_LOGPROB:
        reasons.append("logprob")
    if measures.compression_ratio > MAX_COMPRESSION_RATIO:
        reasons.append("repetition")
    if measures.no_speech_prob > MAX_NO_SPEECH_PROB:
        reasons.append("no_speech")
    lowered = text.casefold()
    if any(phrase in lowered for phrase in STOCK_PHRASES):
        reasons.append("stock_phrase")
    # Years and dates may change calendar in translation (1367 -> 1988), so the check asks
    # only that a source with numbers gets a draft with numbers.
    if numbers_of(source_text) and not numbers_of(text):
        reasons.append("numbers")
    return Verdict(not reasons, tuple(reasons), share, ratio)
