"""Withdrawal after the workers have written: transcripts, segments and per-segment machine
drafts go too.

The intake tests withdraw before any transcript exists, so they cannot tell whether withdrawal
erases what the workers add later. Here the worker's own tasks run in this process and write a
transcript, its segments and a machine draft; then the submitter withdraws with the receipt.

The one stand-in is the speech engine: a scripted engine returns a fixed Persian transcript.
The real model cannot be used for this: espeak-ng's Persian is not recognised as Persian, and a
model run would make this a slow test when what it guards is the erasure, not the recognition
(tests/workers covers the model).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from intake.config import Config
from intake.models import (
    Event,
    Identity,
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
from tests import audio_fixtures as fx
from tests.support import csrf_token, receipt_code, submit
from workers import drafts, transcription
from workers.celery_app import make_worker_app
from workers.engine import Segment as SpokenSegment
from workers.engine import SpanDraft, TranscriptResult, Word


class ScriptedEngine:
    """Answers every request with the same two Persian segments, after reading the audio it
    was given (so the stored access copy is really opened and decrypted)."""

    def __init__(self) -> None:
        self.tasks: list[str] = []

    def draft_spans(
        self, source: Any, spans: list[tuple[float, float]], **_: Any
    ) -> list[SpanDraft]:
        assert source.read(), "the worker handed over an empty access copy"
        self.tasks.append("translate")
        # Confident drafts of a sentence's length: the worker keeps them (draft_quality).
        return [SpanDraft(f"hello {i}", -0.2, 1.1, 0.01) for i, _span in enumerate(spans)]

    def transcribe(self, source: Any, *, task: str = "transcribe", **_: Any) -> TranscriptResult:
        assert source.read(), "the worker handed over an empty access copy"
        self.tasks.append(task)
        words = [Word(0.0, 0.5, " سلام", 0.9), Word(0.6, 1.0, " پدرم", 0.8)]
        return TranscriptResult(
            language="fa",
            language_probability=0.9,
            duration_s=1.0,
            task=task,
            segments=[
                SpokenSegment(0.0, 0.5, "سلام", -0.2, 0.01, words[:1]),
                SpokenSegment(0.6, 1.0, "پدرم", -0.3, 0.02, words[1:]),
            ],
        )


def _count(app: Flask, model: type) -> int:
    with app.extensions["testimony"].db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _job_id(app: Flask, kind: JobKind) -> int:
    with app.extensions["testimony"].db.session() as s:
        return int(s.scalars(select(Job.id).where(Job.kind == kind)).one())


def _approve_transcript(app: Flask) -> None:
    # As two reviewers leave it: every segment approved, the transcript approved, the draft
    # job queued (review.approve does this through translation.queue_drafts).
    with app.extensions["testimony"].db.session() as s:
        testimony = s.scalars(select(Testimony)).one()
        lifecycle.transition(s, testimony, TestimonyState.in_review, "account:1")
        for seg in s.scalars(select(Segment)):
            seg.review_state = ReviewState.approved
        lifecycle.transition(s, testimony, TestimonyState.transcript_approved, "account:2")
        translation.queue_drafts(s, testimony)


def _run(config: Config, task: Callable[[int], None], job_id: int) -> None:
    # As in a worker: the worker's own app, whose Celery tasks push its app context.
    worker_app, _celery = make_worker_app(config)
    try:
        task(job_id)
    finally:
        worker_app.extensions["testimony"].db.dispose()


def test_withdrawal_erases_transcripts_segments_and_drafts(
    app: Flask, client: FlaskClient, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = ScriptedEngine()
    monkeypatch.setattr(transcription, "engine_for", lambda _svc: engine)
    response = submit(client, [(fx.tone_wav(1.0), "a.wav")], language="fa", name="Parvaneh")
    assert response.status_code == 200
    code = receipt_code(response)

    _run(config, transcription.run_transcription, _job_id(app, JobKind.transcribe))
    _approve_transcript(app)
    _run(config, drafts.run_translation_draft, _job_id(app, JobKind.translate_draft))
    assert engine.tasks == ["transcribe", "translate"]
    # The control: the workers really wrote what withdrawal has to erase.
    assert _count(app, Transcript) == 1
    assert _count(app, Segment) == 2
    assert _count(app, SegmentDraft) == 2
    assert _count(app, Identity) == 1

    token = csrf_token(client, "/receipt")
    withdrawn = client.post(
        "/receipt/withdraw", data={"csrf_token": token, "code": code, "confirm": "y"}
    )
    assert withdrawn.status_code == 200

    assert _count(app, Transcript) == 0
    assert _count(app, Segment) == 0
    assert _count(app, SegmentDraft) == 0
    assert _count(app, Identity) == 0
    with app.extensions["testimony"].db.session() as s:
        tombstone = s.scalars(select(Testimony)).one()
        assert tombstone.state == TestimonyState.withdrawn
        assert tombstone.wrapped_key is None and tombstone.withdrawn_at is not None
        assert tombstone.pseudonym.startswith("T-")
        actions = s.scalars(select(Event.action).order_by(Event.id)).all()
        assert actions[-1] == "consent_withdrawn"
        assert "transcript_stored" in actions and "machine_draft_stored" in actions
        statuses = s.scalars(select(Job.status)).all()
        assert sorted(statuses) == [JobStatus.done, JobStatus.done]


def test_withdrawal_cancels_the_records_jobs_and_marks_its_consent_withdrawn(
    app: Flask, client: FlaskClient
) -> None:
    # Right after sending: the transcription job is queued, and the consent is in force.
    response = submit(client, [(fx.tone_wav(1.0), "a.wav")], language="fa")
    assert response.status_code == 200
    code = receipt_code(response)
    other = submit(app.test_client(), [(fx.tone_wav(1.0), "b.wav")], language="fa")
    assert other.status_code == 200
    with app.extensions["testimony"].db.session() as s:
        queued = s.scalars(select(Job.status)).all()
        assert queued and set(queued) == {JobStatus.queued}
    token = csrf_token(client, "/receipt")
    withdrawn = client.post(
        "/receipt/withdraw", data={"csrf_token": token, "code": code, "confirm": "y"}
    )
    assert withdrawn.status_code == 200
    with app.extensions["testimony"].db.session() as s:
        gone, kept = s.scalars(select(Testimony).order_by(Testimony.id)).all()
        assert gone.state == TestimonyState.withdrawn
        assert gone.consent is not None and gone.consent.withdrawn_at == gone.withdrawn_at
        assert kept.consent is not None and kept.consent.withdrawn_at is None
        mine = s.scalars(select(Job.status).where(Job.testimony_id == gone.id)).all()
        assert mine and set(mine) == {JobStatus.cancelled}
        theirs = s.scalars(select(Job.status).where(Job.testimony_id == kept.id)).all()
        assert theirs and set(theirs) == {JobStatus.queued}
        event = s.scalars(
            select(Event).where(Event.testimony_id == gone.id).order_by(Event.id.desc())
        ).first()
        assert event is not None and event.action == "consent_withdrawn"
        assert event.detail == {"jobs_cancelled": len(mine)}
