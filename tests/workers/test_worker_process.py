"""A real worker process on the real broker, with the real model.

These start `testimony worker` as a separate process (its own session, so `kill -9` takes the
whole process group as a power cut would), talk to the same database and broker as the web
app, and wait for the database to show the outcome.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from intake import sealing
from intake.config import Config
from intake.crypto import Keyring
from intake.events import Action
from intake.models import (
    AudioFile,
    Event,
    Job,
    JobKind,
    JobStatus,
    ReviewState,
    Segment,
    SegmentDraft,
    Testimony,
    TestimonyState,
    Transcript,
)
from intake.records import lifecycle
from intake.review import translation
from intake.services import Services
from tests.conftest import espeak_wav
from tests.support import submit

pytestmark = [pytest.mark.worker, pytest.mark.model]

SENTENCE = (
    "The prisoners were taken from the courtyard at dawn. "
    "My brother wrote a letter to our mother before the summer ended."
)


class WorkerProcess:
    """`testimony worker` in its own process group, logging to a file."""

    def __init__(self, config: Config, log: Path, extra_env: dict[str, str] | None = None):
        self.config = config
        self.log = log
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        c = self.config
        env = dict(os.environ)
        env.update(
            {
                "TESTIMONY_INSTANCE_PATH": str(c.instance_path),
                "TESTIMONY_DATABASE_URL": c.database_url,
                "TESTIMONY_BROKER_URL": c.broker_url,
                "TESTIMONY_MODEL_CACHE_DIR": str(c.model_cache_dir),
                "TESTIMONY_JOB_LEASE_S": str(c.job_lease_s),
                "TESTIMONY_JOB_MAX_ATTEMPTS": str(c.job_max_attempts),
                "TESTIMONY_JOB_RETRY_BASE_S": str(c.job_retry_base_s),
                "TESTIMONY_UPKEEP_INTERVAL_S": str(c.upkeep_interval_s),
                "TESTIMONY_WHISPER_WINDOW_S": str(c.whisper_window_s),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self) -> WorkerProcess:
        exe = Path(sys.executable).with_name("testimony")
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [str(exe), "worker", "--concurrency", "1"],
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def kill_hard(self) -> None:
        """SIGKILL the whole process group: no cleanup, no ack, like a power cut."""
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill_hard()
        self.proc = None


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def wait_for(check: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}\n--- worker log ---\n{tail}")


def _state(app: Flask) -> TestimonyState:
    with app.extensions["testimony"].db.session() as s:
        return s.scalars(select(Testimony.state)).one()


def _worker_keys(svc: Services) -> Keyring:
    """The worker's keys, to read what it stored: the public app holds no private key."""
    return Keyring.load(archive=svc.config.archive_keys, private=True, create=False)


def _spoken(tmp_path: Path, repeat: int = 1) -> bytes:
    wav = espeak_wav(tmp_path / "speech.wav", " ".join([SENTENCE] * repeat))
    return wav.read_bytes()


def _texts(app: Flask) -> list[str]:
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony)).one()
        key = sealing.testimony_key(_worker_keys(svc), testimony.wrapped_key)
        segments = s.scalars(
            select(Segment).join(Transcript).order_by(Transcript.id, Segment.position)
        ).all()
        return [
            sealing.open_segment(key, seg.transcript_id, seg.position, seg.sealed)["text"]
            for seg in segments
        ]


def test_worker_transcribes_english_speech(
    app: Flask,
    client: FlaskClient,
    config: Config,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    log = tmp_path / "worker.log"
    workers.append(WorkerProcess(config, log).start())
    response = submit(client, [(_spoken(tmp_path), "speech.wav")], language="en")
    assert response.status_code == 200
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        svc.publish(s.scalars(select(Job)).one())  # a second delivery of the same job
    wait_for(lambda: _state(app) == TestimonyState.transcribed, 240, "transcribed", log)
    time.sleep(3)  # let the duplicate message be consumed too
    text = " ".join(_texts(app)).lower()
    for word in ("prisoners", "courtyard", "brother", "letter", "mother"):
        assert word in text, text
    with svc.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Transcript)) == 1
        seg = s.scalars(select(Segment)).first()
        assert seg is not None and seg.end_s > seg.start_s and seg.avg_logprob <= 0
        assert seg.min_word_probability is not None
        transcript = s.scalars(select(Transcript)).one()
        assert transcript.language == "en"
        job = s.scalars(select(Job)).one()
        assert job.status == JobStatus.done and job.attempts == 1
        assert s.scalars(select(Testimony.progress)).one() == 1.0


def test_worker_killed_mid_job_is_recovered_exactly_once(
    app: Flask,
    client: FlaskClient,
    config: Config,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    log = tmp_path / "worker.log"
    response = submit(client, [(_spoken(tmp_path, repeat=6), "speech.wav")], language="en")
    assert response.status_code == 200
    first = WorkerProcess(config, log).start()
    workers.append(first)
    db = app.extensions["testimony"].db

    def running() -> bool:
        with db.session() as s:
            return s.scalars(select(Job.status)).one() == JobStatus.running

    wait_for(running, 120, "the first worker to claim the job", log)
    time.sleep(1.0)
    first.kill_hard()
    with db.session() as s:
        job = s.scalars(select(Job)).one()
        # Killed in the middle: nothing was written, the job is still held by the dead worker.
        assert job.status == JobStatus.running
        assert s.scalar(select(func.count()).select_from(Transcript)) == 0
    workers.append(WorkerProcess(config, log).start())
    wait_for(lambda: _state(app) == TestimonyState.transcribed, 300, "recovery", log)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Transcript)) == 1
        job = s.scalars(select(Job)).one()
        assert job.status == JobStatus.done and job.attempts == 2


def test_file_that_breaks_the_decoder_ends_in_needs_attention(
    app: Flask,
    client: FlaskClient,
    config: Config,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    log = tmp_path / "worker.log"
    response = submit(client, [(_spoken(tmp_path), "speech.wav")], language="en")
    assert response.status_code == 200
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony)).one()
        audio = s.scalars(select(AudioFile)).one()
        key = sealing.audio_key(_worker_keys(svc), testimony.wrapped_key, audio.sealed_key)
        # Replace the stored access copy with well-encrypted bytes that are not audio: the
        # store opens it fine, the decoder fails on it every time.
        svc.store.delete(testimony.storage_id, audio.access_name)
        svc.store.write(
            key, testimony.storage_id, audio.access_name, io.BytesIO(os.urandom(50_000))
        )
    workers.append(WorkerProcess(config, log).start())
    wait_for(lambda: _state(app) == TestimonyState.needs_attention, 180, "needs_attention", log)
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony)).one()
        job = s.scalars(select(Job)).one()
        assert job.status == JobStatus.failed
        assert job.attempts == config.job_max_attempts
        assert testimony.attention_reason and f"job {job.id}" in testimony.attention_reason
        assert s.scalar(select(func.count()).select_from(Transcript)) == 0


def test_approved_persian_transcript_gets_one_draft_per_review_segment(
    app: Flask,
    client: FlaskClient,
    config: Config,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    # espeak-ng's Persian is not recognised by the base model, so the audio is English speech
    # declared as Persian: what is tested is the alignment (one draft per approved review
    # segment, under the same segment ids, sealed and labelled), not translation quality.
    log = tmp_path / "worker.log"
    workers.append(WorkerProcess(config, log).start())
    # About 46 s of speech: at least two 30 s chunks, so several review segments whatever the
    # model makes of English speech declared as Persian.
    response = submit(client, [(_spoken(tmp_path, 6), "speech.wav")], language="fa")
    assert response.status_code == 200
    svc = app.extensions["testimony"]
    wait_for(lambda: _state(app) == TestimonyState.transcribed, 300, "the transcript", log)
    with svc.db.session() as s:
        assert s.scalars(select(Job.kind)).all() == [JobKind.transcribe]  # no draft yet
        testimony = s.scalars(select(Testimony)).one()
        lifecycle.transition(s, testimony, TestimonyState.in_review, "account:1")
        for seg in s.scalars(select(Segment)):
            seg.review_state = ReviewState.approved
        lifecycle.transition(s, testimony, TestimonyState.transcript_approved, "account:2")
        translation.queue_drafts(s, testimony)  # as review.approve does

    def drafted() -> bool:
        with svc.db.session() as s:
            job = s.scalars(select(Job).where(Job.kind == JobKind.translate_draft)).one()
            return job.status == JobStatus.done

    wait_for(drafted, 300, "the machine drafts", log)
    with svc.db.session() as s:
        transcript = s.scalars(select(Transcript)).one()
        assert transcript.language == "fa"
        segment_ids = sorted(s.scalars(select(Segment.id)))
        assert len(segment_ids) >= 2, "the sentence should give several review segments"
        drafts = s.scalars(select(SegmentDraft).order_by(SegmentDraft.segment_id)).all()
        drafted = [d.segment_id for d in drafts]
        # Aligned: each draft sits under a review segment's own id, one at most per segment.
        assert len(set(drafted)) == len(drafted) and set(drafted) <= set(segment_ids)
        # A span for which the model writes nothing, or a draft `intake.review.draft_quality`
        # finds unlikely to be useful, gets no draft (the page then offers none). How many pass
        # depends on what the model makes of English speech declared as Persian (7 of 11 on one
        # run, 0 of 2 on another), so what is asserted is that every approved segment was
        # judged once: the drafts stored plus those withheld, as the job's event counts them.
        event = s.scalars(
            select(Event).where(Event.action == Action.machine_draft_stored)
        ).one()
        assert event.detail["segments"] == len(drafted)
        assert event.detail["segments"] + event.detail["withheld"] == len(segment_ids), (
            event.detail,
            segment_ids,
        )
        testimony = s.scalars(select(Testimony)).one()
        assert testimony.state == TestimonyState.transcript_approved  # a draft approves nothing
        key = sealing.testimony_key(_worker_keys(svc), testimony.wrapped_key)
        for d in drafts:
            assert d.target_language == "en"
            assert sealing.open_segment_draft(key, testimony.id, d.segment_id, d.sealed).strip()
