"""Records to export, built in memory: a bilingual Persian testimony with an English translation.

The audio is a real FLAC access copy made by the project's own audio code from generated
speech-like tones, so the bag carries what a real export carries, without any shared data.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import BinaryIO

from intake.audio import make_access_copy
from intake.export.record import (
    ConsentTerms,
    ExportRecord,
    HistoryEvent,
    Segment,
    Transcript,
    Word,
)
from tests.audio_fixtures import tone_wav

PERSIAN = [
    "من در سال ۱۳۶۷ در زندان اوین بودم.",
    "Evin را هرگز فراموش نمی‌کنم، حتی امروز.",
    "[PERSON] را در راهرو دیدم & صدایش را شنیدم <آخرین بار>.",
    "بعد از آن تابستان، هیچ خبری از او نرسید.",
]
ENGLISH = [
    "In 1988 I was in Evin prison.",
    "I will never forget Evin, even today.",
    "I saw [PERSON] in the corridor & heard his voice <the last time>.",
    "After that summer, no news of him ever came.",
]
TIMES = [(0.0, 4.2), (4.6, 61.3), (62.0, 125.5), (131.25, 190.0)]


def words_of(text: str, start: float, end: float) -> tuple[Word, ...]:
    """Evenly spaced word times across a segment, as the model gives them."""
    parts = text.split()
    step = (end - start) / len(parts)
    return tuple(
        Word(start + i * step, start + (i + 1) * step, part, 0.9) for i, part in enumerate(parts)
    )


def transcript(language: str, texts: list[str], speakers: bool = True) -> Transcript:
    """Approved segments at `TIMES`, the first two with speakers."""
    segments = []
    for i, (text, (start, end)) in enumerate(zip(texts, TIMES, strict=True)):
        segments.append(
            Segment(
                start=start,
                end=end,
                text=text,
                speaker=("Witness" if i % 2 else "Interviewer") if speakers and i < 3 else None,
                words=words_of(text, start, end) if i != 2 else (),
                approved_by="S-REV2",
            )
        )
    return Transcript(language=language, segments=tuple(segments), approved_by="S-ARCH1")


def audio_file(folder: Path, seconds: float = 3.0) -> Path:
    """A FLAC access copy made by `intake.audio` from a generated WAV."""
    path = folder / "access.flac"
    with path.open("w+b") as dest:
        make_access_copy(io.BytesIO(tone_wav(seconds)), dest, max_duration_s=60.0)
    return path


def opener(path: Path) -> Callable[[], BinaryIO]:
    """Opens `path` afresh on each call, as the export expects."""
    return lambda: path.open("rb")


def make_record(
    audio: Path,
    *,
    pseudonym: str = "T-7K3M-Q9XD",
    record_id: int = 42,
    state: str = "approved",
    consent: ConsentTerms | None = None,
) -> ExportRecord:
    """A Persian testimony with an English translation, approved and fully consented."""
    received = datetime(2026, 3, 20, 9, 30, tzinfo=UTC)
    return ExportRecord(
        record_id=record_id,
        pseudonym=pseudonym,
        state=state,
        language="fa",
        duration=190.0,
        received_at=received,
        approved_at=datetime(2026, 5, 2, 14, 0, tzinfo=UTC),
        consent=consent
        or ConsentTerms(
            archive=True,
            transcribe=True,
            translate=True,
            publish_anonymised=True,
            publish_named=False,
            wording_version="2026-11-25",
        ),
        transcript=transcript("fa", PERSIAN),
        translation=transcript("en", ENGLISH),
        events=(
            HistoryEvent(received, "public", "submitted", None, "received", {"files": 1},
                         "a1" * 32, None),
            HistoryEvent(datetime(2026, 5, 2, 14, 0, tzinfo=UTC), "S-ARCH1", "state:approved",
                         "translation_review", "approved", None, "b2" * 32, "a1" * 32),
        ),
        audio=opener(audio),
    )


def consent(**changes: object) -> ConsentTerms:
    """Full consent with some uses changed."""
    values: dict[str, object] = {
        "archive": True,
        "transcribe": True,
        "translate": True,
        "publish_anonymised": True,
        "publish_named": False,
        "embargo_until": None,
    }
    values.update(changes)
    return ConsentTerms(**values)  # type: ignore[arg-type]


TODAY = date(2026, 6, 1)
