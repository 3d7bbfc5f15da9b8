"""The redaction proof: before an access copy leaves, show that what was marked is gone.

A reviewer's mark promises that a name is not in the published audio. Two things can break that
promise without anyone noticing: the span silenced is not where the word is (word times from
another text, an alignment that cut a word short), or the silencing itself did not happen. So
each access copy is checked after it is made, by the worker that made it:

* level: every marked span, widened by the configured margin exactly as it was silenced,
  measures at or below `redaction_proof_threshold_dbfs` (RMS, dBFS) in the copy, or, where the
  archive replaces spans by a tone, is that steady tone and nothing else (what is left after
  taking the tone out measures below the threshold);
* listening: a window of `redaction_proof_window_s` seconds either side of each mark is
  transcribed again with the model (`Listener`), and the marked term, Persian-normalised
  (`intake.review.normalise`), is looked for in what it heard, counting near misses by edit distance
  ("Evan" for "Evin"), since the model misspelling a name it still hears is a leak.

The result is stored per file (`RedactionProof`): times, levels and verdicts per span, the
SHA-256 of the copy it checked, and never a word (the terms are read from the sealed segments
while checking, and forgotten). `proof_for` answers for a record whether its current copies
are proven, the one function the export's hold-back reads; `proof_json` is what the access bag
carries as `redaction-proof.json`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.audio import ACCESS_SAMPLE_RATE
from intake.config import Config
from intake.crypto import Keyring
from intake.events import Action, Actor
from intake.models import (
    AccessCopy,
    AudioFile,
    RedactionProof,
    Segment,
    Testimony,
    Transcript,
    utcnow,
)
from intake.records import audit
from intake.redaction import Mark, decoded_blocks
from intake.review import access_copies, normalise, redaction_marks, transcripts
from intake.storage import Store

#: Transcribes 16 kHz mono float32 samples in a language: what the model hears there.
Listener = Callable[[np.ndarray, str], str]

#: The level written for digital silence (an RMS of zero has no logarithm).
FLOOR_DBFS = -120.0

REASONS = {
    "not_silent": "a marked span of the access audio is not silent",
    "still_heard": "a marked word is still heard in the access audio",
    "no_proof": "the access audio has not been checked yet",
}


@dataclass(frozen=True)
class SpanCheck:
    """One marked span as checked: where (seconds, margin included), how loud, and verdicts."""

    mark: int
    start: float
    end: float
    level_dbfs: float
    silent: bool
    heard: bool

    def as_json(self) -> dict[str, Any]:
        """The stored and exported form: numbers and verdicts only."""
        return {
            "mark": self.mark,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "level_dbfs": round(self.level_dbfs, 1),
            "silent": self.silent,
            "heard": self.heard,
        }


@dataclass(frozen=True)
class Proof:
    """A record's proof: passed or not, why not, and each file's spans."""

    passed: bool
    reason: str
    spans: tuple[dict[str, Any], ...]
    copies: tuple[str, ...]
    threshold_dbfs: float
    checked_at: datetime | None

    @property
    def message(self) -> str:
        """The reason in words ("" when passed)."""
        return REASONS.get(self.reason, self.reason) if self.reason else ""


def level_dbfs(samples: np.ndarray) -> float:
    """RMS level of int16 samples, in dB relative to full scale (FLOOR_DBFS for silence)."""
    if samples.size == 0:
        return FLOOR_DBFS
    values = samples.astype(np.float64) / 32768.0
    rms = math.sqrt(float(np.mean(values * values)))
    return max(FLOOR_DBFS, 20 * math.log10(rms)) if rms > 0 else FLOOR_DBFS


def without_tone(samples: np.ndarray, tone_hz: float) -> np.ndarray:
    """The samples with the best-fitting steady tone of `tone_hz` taken out (least squares):
    a span replaced by the tone leaves only rounding behind."""
    if samples.size == 0 or tone_hz <= 0:
        return samples
    t = np.arange(samples.size) / ACCESS_SAMPLE_RATE
    basis = np.stack([np.sin(2 * np.pi * tone_hz * t), np.cos(2 * np.pi * tone_hz * t)], axis=1)
    values = samples.astype(np.float64)
    fit, *_ = np.linalg.lstsq(basis, values, rcond=None)
    return np.round(values - basis @ fit).astype(np.int16)


def _distance(a: str, b: str) -> int:
    """Levenshtein distance between two short strings."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def allowed_distance(term: str) -> int:
    """How many letters a hearing may differ by and still count as the term: none for a term
    of three letters or fewer (too many words are that close), one up to seven, then two."""
    n = len(term.replace(" ", ""))
    return 0 if n <= 3 else 1 if n <= 7 else 2


def _letters(text: str) -> list[str]:
    words = normalise.normalise(text).split()
    return [w for w in ("".join(c for c in w if c.isalnum()) for w in words) if w]


def heard_in(heard: str, term: str) -> bool:
    """Whether `term` (a marked span) is in `heard` (a transcription), after Persian
    normalisation and allowing near misses: every run of as many heard words as the term has
    is compared with it, letters only."""
    wanted = _letters(term)
    if not wanted:
        return False
    target = "".join(wanted)
    words = _letters(heard)
    limit = allowed_distance(target)
    size = len(wanted)
    for n in {size, max(1, size - 1), size + 1}:
        for i in range(0, max(0, len(words) - n) + 1):
            if _distance("".join(words[i : i + n]), target) <= limit:
                return True
    return False


def _read(source: Any, windows: Sequence[tuple[float, float]]) -> list[np.ndarray]:
    """The int16 samples of each window (seconds) of a FLAC access copy, in one pass."""
    bounds = [(round(a * ACCESS_SAMPLE_RATE), round(b * ACCESS_SAMPLE_RATE)) for a, b in windows]
    parts: list[list[np.ndarray]] = [[] for _ in bounds]
    at = 0
    for block in decoded_blocks(source):
        n = block.shape[0]
        for index, (lo, hi) in enumerate(bounds):
            a, b = max(lo, at), min(hi, at + n)
            if a < b:
                parts[index].append(block[a - at : b - at])
        at += n
    return [np.concatenate(p) if p else np.zeros(0, dtype=np.int16) for p in parts]


def check_file(
    source: Any,
    marks: Sequence[Mark],
    mark_ids: Sequence[int],
    terms: Sequence[Sequence[str]],
    language: str,
    duration_s: float,
    config: Config,
    listen: Listener,
) -> list[SpanCheck]:
    """Check one access copy (`source`, a readable FLAC file object) against its marks, each
    with its id and the terms to listen for, in order."""
    margin = config.redaction_margin_s
    spans = [(max(0.0, m.start_s - margin), min(duration_s, m.end_s + margin)) for m in marks]
    pad = config.redaction_proof_window_s
    windows = [(max(0.0, a - pad), min(duration_s, b + pad)) for a, b in spans]
    samples = _read(source, [*spans, *windows])
    checks = []
    # Left out at each end: where a span's rounding meets the speech around it, and where a
    # voice disguise's resynthesis (windows of a few pitch periods) smears sound into the
    # silence. Never more than half the margin, so the marked words are always measured.
    edge = round(min(0.02, margin / 2) * ACCESS_SAMPLE_RATE)
    for i, (mark_id, term, (a, b)) in enumerate(zip(mark_ids, terms, spans, strict=True)):
        inside = (
            samples[i][edge : samples[i].size - edge] if samples[i].size > 2 * edge else samples[i]
        )
        if config.redaction_tone_hz > 0:
            inside = without_tone(inside, config.redaction_tone_hz)
        level = level_dbfs(inside)
        window = samples[len(spans) + i].astype(np.float32) / 32768.0
        text = listen(window, language) if window.size else ""
        heard = any(heard_in(text, t) for t in term)
        del text
        checks.append(
            SpanCheck(mark_id, a, b, level, level <= config.redaction_proof_threshold_dbfs, heard)
        )
    return checks


def _verdict(checks: Sequence[SpanCheck]) -> tuple[bool, str]:
    if any(not c.silent for c in checks):
        return False, "not_silent"
    if any(c.heard for c in checks):
        return False, "still_heard"
    return True, ""


def prove(
    session: Session,
    keyring: Keyring,
    store: Store,
    config: Config,
    testimony_id: int,
    listen: Listener,
    model_name: str,
    actor: Actor | str = Actor.worker,
) -> list[RedactionProof]:
    """Check every access copy of the testimony (made from the current marks) and store the
    result per file, in the caller's transaction; run it right after the copies are made.
    Safe to run twice: each run replaces the file's proof."""
    testimony = session.get(Testimony, testimony_id)
    if testimony is None:
        raise LookupError(f"no testimony {testimony_id}")
    key = transcripts.testimony_key(keyring, testimony)
    marks = access_copies.marks_for(session, testimony_id)
    ids = {
        (m.segment_id, m.char_start, m.char_end): m.id
        for m in redaction_marks.marks_for(session, testimony_id)
    }
    made = []
    for audio in session.scalars(
        select(AudioFile).where(AudioFile.testimony_id == testimony_id).order_by(AudioFile.position)
    ):
        copy = session.scalar(select(AccessCopy).where(AccessCopy.audio_file_id == audio.id))
        if copy is None:
            continue
        transcript = session.scalar(select(Transcript).where(Transcript.audio_file_id == audio.id))
        segment_ids = set(
            session.scalars(select(Segment.id).where(Segment.transcript_id == transcript.id))
            if transcript
            else []
        )
        own = [m for m in marks if m.segment_id in segment_ids]
        terms = [_terms(session, key, m) for m in own]
        mark_ids = [ids[(m.segment_id, m.char_start, m.char_end)] for m in own]
        file_key = transcripts.audio_key(keyring, testimony, audio)
        with store.open(file_key, testimony.storage_id, copy.audio_name) as source:
            checks = check_file(
                source,
                own,
                mark_ids,
                terms,
                transcript.language if transcript else "en",
                audio.duration_s,
                config,
                listen,
            )
        del terms
        passed, reason = _verdict(checks)
        row = session.scalar(select(RedactionProof).where(RedactionProof.audio_file_id == audio.id))
        if row is None:
            row = RedactionProof(testimony_id=testimony_id, audio_file_id=audio.id)
            session.add(row)
        row.copy_sha256 = copy.copy_sha256
        row.passed, row.reason = passed, reason
        row.spans = [c.as_json() for c in checks]
        row.threshold_dbfs = config.redaction_proof_threshold_dbfs
        row.model_name = model_name
        row.created_at = _now()
        made.append(row)
    session.flush()
    for row in made:
        audit.record_event(
            session,
            testimony_id,
            actor,
            Action.redaction_proved,
            detail={
                "audio_file": row.audio_file_id,
                "copy_sha256": row.copy_sha256,
                "passed": row.passed,
                "reason": row.reason,
                "spans": len(row.spans),
            },
        )
    return made


def _now() -> datetime:
    return utcnow()


def _terms(session: Session, key: bytes, mark: Mark) -> list[str]:
    """What to listen for at a mark: the marked words as approved, and the words the machine
    first heard there (its misrecognition, "heaven" for "Evin", is as telling to a listener)."""
    segment = session.get(Segment, mark.segment_id)
    assert segment is not None
    content = transcripts.unseal_segment(key, segment)
    terms = [content.text[mark.char_start : mark.char_end]]
    heard = [
        str(w[2]).strip()
        for w in content.words
        if mark.start_s <= (float(w[0]) + float(w[1])) / 2 <= mark.end_s
    ]
    if heard:
        terms.append(" ".join(heard))
    return terms


def proof_for(session: Session, testimony_id: int) -> Proof | None:
    """The record's redaction proof over its current access copies, or None while a copy is
    missing, older than the marks, or not yet checked. Reads no content."""
    marks = access_copies.marks_for(session, testimony_id)
    files = session.scalars(
        select(AudioFile).where(AudioFile.testimony_id == testimony_id).order_by(AudioFile.position)
    ).all()
    if not files:
        return None
    spans: list[dict[str, Any]] = []
    copies: list[str] = []
    verdicts: list[tuple[bool, str]] = []
    threshold = 0.0
    checked: datetime | None = None
    for audio in files:
        copy = session.scalar(select(AccessCopy).where(AccessCopy.audio_file_id == audio.id))
        row = session.scalar(select(RedactionProof).where(RedactionProof.audio_file_id == audio.id))
        if copy is None or row is None or row.copy_sha256 != copy.copy_sha256:
            return None
        segment_ids = set(
            session.scalars(
                select(Segment.id)
                .join(Transcript, Transcript.id == Segment.transcript_id)
                .where(Transcript.audio_file_id == audio.id)
            )
        )
        own = [m for m in marks if m.segment_id in segment_ids]
        if copy.marks_sha256 != access_copies.marks_digest(own) or len(row.spans) != len(own):
            return None
        spans.extend(row.spans)
        copies.append(copy.copy_sha256)
        verdicts.append((row.passed, row.reason))
        threshold = row.threshold_dbfs
        checked = max(checked, row.created_at) if checked else row.created_at
    failed = [reason for passed, reason in verdicts if not passed]
    return Proof(
        passed=not failed,
        reason=failed[0] if failed else "",
        spans=tuple(spans),
        copies=tuple(copies),
        threshold_dbfs=threshold,
        checked_at=checked,
    )


def proof_json(proof: Proof, config: Config) -> str:
    """The proof as the access bag carries it (`redaction-proof.json`): levels, times and
    verdicts, the copy's SHA-256, the method; no words. Stable for equal proofs."""
    value = {
        "passed": proof.passed,
        "reason": proof.reason or None,
        "method": {
            "level": "RMS of each marked span widened by the margin, in dBFS"
            + (", after removing the replacement tone" if config.redaction_tone_hz > 0 else ""),
            "threshold_dbfs": proof.threshold_dbfs,
            "margin_s": config.redaction_margin_s,
            "listening": "each mark's surroundings transcribed again; the marked words, "
            "Persian-normalised, must not be heard, near misses included",
            "window_s": config.redaction_proof_window_s,
        },
        "access_audio_sha256": list(proof.copies),
        "checked_at": proof.checked_at.isoformat() if proof.checked_at else None,
        "spans": [{k: v for k, v in span.items() if k != "mark"} for span in proof.spans],
    }
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
