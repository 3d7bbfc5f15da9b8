"""Export throughput and memory: N approved records of 10 minutes each, one export.

Builds a throwaway instance (SQLite unless --database-url is given), makes one 10-minute FLAC
access copy from a generated tone (speech-band frequencies that change every second, so FLAC
cannot shrink it to nothing), and stores N testimonies with it, each with a transcript of
60 ten-second segments, every segment approved, moved to `approved` through the real
lifecycle. Then it runs the export (`intake.export.runs.perform`, the code the command and the
task run), sampling this process's resident memory every 20 ms, and prints records per
second, megabytes of bags per second and the peak memory growth, with the growth measured at
N/4, N/2 and N records so that a flat line shows memory does not grow with the records.

    .venv/bin/python benchmarks/export.py [--records 100] [--minutes 10] [--database-url URL]
"""

from __future__ import annotations

import argparse
import io
import logging
import math
import secrets
import shutil
import tempfile
import threading
import time
import wave
from array import array
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil
from sqlalchemy import select

from intake import create_app, schema, sealing
from intake.audio import make_access_copy
from intake.events import Action, Actor, staff_ref
from intake.export import runs
from intake.models import (
    AccessCopy,
    AudioFile,
    Consent,
    Language,
    ReviewState,
    Segment,
    Testimony,
    TestimonyState,
    Transcript,
)
from intake.public import consent, pseudonyms
from intake.records import lifecycle
from intake.records.audit import record_event
from intake.review import access_copies, transcripts
from intake.services import Services

RATE = 16000
APPROVER = staff_ref(2)


def tone_wav(seconds: float) -> bytes:
    """Mono 16 kHz WAV whose pitch changes every second."""
    samples = array("h")
    for second in range(int(seconds)):
        freq = 180 + (second * 37) % 600
        step = 2 * math.pi * freq / RATE
        samples.extend(int(9000 * math.sin(step * i)) for i in range(RATE))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.tobytes())
    return buf.getvalue()


@dataclass
class FakeWord:
    start: float
    end: float
    word: str
    probability: float = 0.9


@dataclass
class FakeSegment:
    start: float
    end: float
    text: str
    words: list[FakeWord]
    avg_logprob: float = -0.3
    no_speech_prob: float = 0.01


@dataclass
class FakeResult:
    duration_s: float
    segments: list[FakeSegment] = field(default_factory=list)
    language: str = "fa"
    language_probability: float | None = 0.99


def transcript_of(seconds: float) -> FakeResult:
    """Ten-second segments of Persian text with word times."""
    words = [
        "من",
        "در",
        "سال",
        "۱۳۶۷",
        "در",
        "زندان",
        "اوین",
        "بودم",
        "و",
        "هیچ",
        "خبری",
        "از",
        "خانواده",
        "نداشتیم",
    ]
    segments = []
    for start in range(0, int(seconds), 10):
        step = 9.5 / len(words)
        segments.append(
            FakeSegment(
                start,
                start + 9.5,
                " ".join(words),
                [
                    FakeWord(start + i * step, start + (i + 1) * step, w)
                    for i, w in enumerate(words)
                ],
            )
        )
    return FakeResult(seconds, segments)


def add_record(svc: Services, flac: Path, seconds: float) -> None:
    """One approved testimony with the access copy `flac` and an approved transcript."""
    key, wrapped = sealing.new_testimony_key(svc.keyring)
    with svc.db.session() as s:
        testimony = Testimony(
            pseudonym=pseudonyms.new_pseudonym(),
            storage_id=pseudonyms.new_storage_id(),
            state=TestimonyState.received,
            language=Language.fa,
            wrapped_key=wrapped,
            # A receipt nobody holds: these records are never looked up by code.
            receipt_digest=secrets.token_bytes(32),
        )
        s.add(testimony)
        s.flush()
        s.add(
            Consent(
                testimony_id=testimony.id,
                wording_version=consent.WORDING_VERSION,
                wording_locale="fa",
                wording_sha256=consent.wording_sha256("fa"),
                archive=False,
                transcribe=True,
                translate=False,
                publish_anonymised=True,
                publish_named=False,
            )
        )
        with flac.open("rb") as source:
            size = svc.store.write(key, testimony.storage_id, "audio-01.flac", source)
        audio = AudioFile(
            testimony_id=testimony.id,
            position=1,
            access_name="audio-01.flac",
            duration_s=seconds,
            source_format="wav",
            source_codec="pcm_s16le",
            sample_rate=RATE,
            channels=1,
            size_bytes=size,
        )
        s.add(audio)
        s.flush()
        # No redaction marks: the redacted access copy is the access copy itself.
        s.add(
            AccessCopy(
                testimony_id=testimony.id,
                audio_file_id=audio.id,
                audio_name=audio.access_name,
                source_sha256="0" * 64,
                copy_sha256="0" * 64,
                marks_sha256=access_copies.marks_digest([]),
                marks=0,
                removed_s=0.0,
                disguised=False,
                sealed_text=b"",
            )
        )
        record_event(s, testimony.id, Actor.submitter, Action.received)
        lifecycle.transition(s, testimony, TestimonyState.queued, Actor.system)
        lifecycle.transition(s, testimony, TestimonyState.transcribing, Actor.worker)
        transcripts.add_transcript(
            s, svc.keyring, testimony, audio.id, None, transcript_of(seconds), "bench", Actor.worker
        )
        transcripts.finish_if_complete(s, testimony, Actor.worker)
        s.flush()
        # Approved as review leaves them (the review's own events are not what is measured).
        for seg in s.scalars(
            select(Segment).join(Transcript).where(Transcript.testimony_id == testimony.id)
        ):
            seg.review_state = ReviewState.approved
            seg.approved_by = APPROVER
        for state in list(TestimonyState)[
            list(TestimonyState).index(TestimonyState.in_review) : list(TestimonyState).index(
                TestimonyState.approved
            )
            + 1
        ]:
            lifecycle.transition(s, testimony, state, APPROVER)


class Sampler(threading.Thread):
    """This process's resident memory every 20 ms; the peak since the last `mark`."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    logging.getLogger("bagit").setLevel(logging.WARNING)
    seconds = args.minutes * 60
    folder = Path(tempfile.mkdtemp(prefix="export-bench-"))
    try:
        from intake.config import Config

        inst = folder / "instance"
        inst.mkdir()
        cfg = Config(instance_path=inst, database_url=args.database_url, testing=True)
        schema.upgrade(cfg.database_url)
        app = create_app(cfg, "worker")
        svc: Services = app.extensions["testimony"]
        flac = folder / "access.flac"
        started = time.perf_counter()
        with flac.open("w+b") as dest:
            make_access_copy(io.BytesIO(tone_wav(seconds)), dest, max_duration_s=seconds + 5)
        for _ in range(args.records):
            add_record(svc, flac, seconds)
        setup_s = time.perf_counter() - started
        print(
            f"set up {args.records} records of {args.minutes:g} min "
            f"({flac.stat().st_size / 1e6:.1f} MB of FLAC each) in {setup_s:.1f} s"
        )

        with svc.db.session() as s:
            run_id = runs.start(s, out_dir=folder / "out", requested_by=APPROVER).id
        sampler = Sampler()
        base = sampler.proc.memory_info().rss
        sampler.start()
        checkpoints: dict[int, float] = {}
        marks = {max(1, args.records // 4), max(1, args.records // 2), args.records}

        def progress(done: int, total: int, pseudonym: str, step: int) -> None:
            if step == len(runs.STEPS) and done in marks:
                checkpoints[done] = (sampler.peak - base) / 2**20

        started = time.perf_counter()
        outcome = runs.perform(svc, run_id, datetime.now(UTC).date(), progress)
        elapsed = time.perf_counter() - started
        sampler.stop.set()
        sampler.join()
        written = sum(p.stat().st_size for p in (folder / "out").rglob("*") if p.is_file())
        exported = len(outcome["exported"])
        print(
            f"exported {exported} records in {elapsed:.1f} s: {exported / elapsed:.2f} records/s, "
            f"{written / 1e6 / elapsed:.0f} MB/s of bags ({written / 1e6:.0f} MB)"
        )
        print(
            "peak memory growth (MiB) after "
            + ", ".join(f"{n} records: {checkpoints.get(n, 0):.1f}" for n in sorted(marks))
        )
        print(f"peak resident memory: {sampler.peak / 2**20:.0f} MiB")
        svc.db.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
