"""Machine drafts are offered only where likely useful: a nonsense draft (low log-probability,
a length out of proportion, a stock phrase, the wrong script, numbers lost) is held back, a
good one is offered; through the real draft task, only the good one is stored, and accepting it
still leaves the translation `edited`."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from intake.config import Config
from intake.models import JobKind, ReviewState, Segment, SegmentDraft, Testimony
from intake.review import draft_quality, transcripts, translation
from intake.review.draft_quality import Measures, judge
from tests import audio_fixtures as fx
from tests.support import submit, worker_keyring
from tests.test_withdrawal import ScriptedEngine, _approve_transcript, _job_id, _run
from workers import drafts, transcription
from workers.engine import SpanDraft

SOURCE = "امروز هوا خیلی خوبه و من می‌خوام پیاده‌روی کنم."
GOOD = "The weather is very nice today and I want to go for a walk."


def test_a_confident_draft_of_the_right_length_is_offered() -> None:
    verdict = judge(Measures(GOOD, -0.25, 1.2, 0.02), SOURCE)
    assert verdict.offered and verdict.reasons == ()


@pytest.mark.parametrize(
    ("measures", "reason"),
    [
        # What the bundled base model said for this very sentence: English, fluent, unsure.
        (
            Measures(
                "I don't have to worry about it, but I'll take care of it", -1.248, 0.92, 0.01
            ),
            "logprob",
        ),
        (Measures("Let's go.", -0.2, 0.9, 0.01), "length"),
        (Measures(GOOD + " " + GOOD + " " + GOOD, -0.2, 1.3, 0.01), "length"),
        (
            Measures("I will see you in the next video, the weather is nice.", -0.2, 1.1, 0.01),
            "stock_phrase",
        ),
        (Measures("امروز هوا خیلی خوبه و من می‌خوام پیاده‌روی کنم", -0.2, 1.1, 0.01), "language"),
        (Measures(GOOD, -0.2, 2.9, 0.01), "repetition"),
        (Measures(GOOD, -0.2, 1.1, 0.9), "no_speech"),
        (Measures("", -0.1, 0.0, 0.0), "empty"),
    ],
)
def test_a_nonsense_draft_is_not_offered(measures: Measures, reason: str) -> None:
    verdict = judge(measures, SOURCE)
    assert not verdict.offered and reason in verdict.reasons


def test_a_source_with_a_year_needs_a_draft_with_a_number() -> None:
    source = "در سال ۱۳۶۷ در زندان اوین بودم و هیچ خبری نداشتیم."
    assert (
        "numbers"
        in judge(
            Measures("I was in Evin prison and we had no news.", -0.2, 1.1, 0.0), source
        ).reasons
    )
    assert judge(
        Measures("In 1367 I was in Evin prison, we had no news.", -0.2, 1.1, 0.0), source
    ).offered


def test_the_thresholds_sit_above_the_base_models_best_nonsense() -> None:
    # docs/transcription.md: the best of the base model's 18 nonsense drafts scored -0.787.
    assert draft_quality.MIN_AVG_LOGPROB > -0.787


class MixedEngine(ScriptedEngine):
    """One good draft, then the base model's kind of nonsense."""

    def draft_spans(
        self, source: Any, spans: list[tuple[float, float]], **_: Any
    ) -> list[SpanDraft]:
        assert source.read()
        self.tasks.append("translate")
        return [
            SpanDraft("Hello.", -0.2, 1.1, 0.01),
            SpanDraft("I will see you in the next video.", -1.4, 0.9, 0.01),
        ][: len(spans)]


def test_the_draft_task_stores_only_drafts_worth_offering(
    app: Flask, client: FlaskClient, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = MixedEngine()
    monkeypatch.setattr(transcription, "engine_for", lambda _svc: engine)
    response = submit(client, [(fx.tone_wav(1.0), "a.wav")], language="fa")
    assert response.status_code == 200
    _run(config, transcription.run_transcription, _job_id(app, JobKind.transcribe))
    _approve_transcript(app)
    _run(config, drafts.run_translation_draft, _job_id(app, JobKind.translate_draft))
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        first, second = s.scalars(select(Segment).order_by(Segment.position)).all()
        (stored,) = s.scalars(select(SegmentDraft)).all()
        assert stored.segment_id == first.id  # the nonsense for the second was never stored
        testimony = s.scalars(select(Testimony)).one()
        keys = worker_keyring(app)
        row = translation.accept_draft(
            s, keys, testimony, first.id, first.version, 0, "account:3", 2000
        )
        assert row.state == ReviewState.edited and row.from_draft
        assert transcripts.testimony_key(keys, testimony)
