"""Helpers for the translation tests: a testimony whose Persian transcript is approved, as two
reviewers would leave it, and glossary terms."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Flask
from sqlalchemy import select

from intake.events import Action, Actor
from intake.models import ReviewState, Segment, Testimony, TestimonyState, Transcript
from intake.records import lifecycle
from intake.review import glossary, transcripts, translation
from tests import audio_fixtures as fx
from tests.staff_support import FakeResult, result_of
from tests.support import submit, worker_keyring

REVIEWER = "account:9999"


def approved_testimony(
    public_app: Flask,
    texts: Sequence[str],
    language: str = "fa",
    audio: bytes | None = None,
    result: FakeResult | None = None,
    consent: dict[str, str] | None = None,
) -> str:
    """Submit a recording, store a transcript of `texts` in `language`, approve every segment
    and the transcript (queueing the draft job as review does); returns the pseudonym."""
    client = public_app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    response = submit(
        client, [(audio or fx.tone_wav(2.0), "a.wav")], consent=consent, language=language
    )
    assert response.status_code == 200, response.status_code
    svc = public_app.extensions["testimony"]
    spoken = result or result_of(texts)
    spoken.language = language
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).order_by(Testimony.id.desc())).first()
        assert testimony is not None
        lifecycle.transition(s, testimony, TestimonyState.transcribing, Actor.worker)
        stored = transcripts.add_transcript(
            s,
            worker_keyring(public_app),
            testimony,
            testimony.audio_files[0].id,
            None,
            spoken,
            "test",
            Actor.worker,
        )
        assert stored is not None
        transcripts.finish_if_complete(s, testimony, Actor.worker)
        lifecycle.transition(s, testimony, TestimonyState.in_review, REVIEWER)
        for seg in s.scalars(select(Segment).where(Segment.transcript_id == stored.id)):
            seg.review_state = ReviewState.approved
            seg.approved_by = REVIEWER
        lifecycle.transition(
            s,
            testimony,
            TestimonyState.transcript_approved,
            REVIEWER,
            Action.transcript_approved,
        )
        translation.queue_drafts(s, testimony)
        return testimony.pseudonym


def source_segments(app: Flask, pseudonym: str) -> list[Segment]:
    """The testimony's transcript segments in order."""
    with app.extensions["testimony"].db.session() as s:
        return list(
            s.scalars(
                select(Segment)
                .join(Transcript, Transcript.id == Segment.transcript_id)
                .join(Testimony, Testimony.id == Transcript.testimony_id)
                .where(Testimony.pseudonym == pseudonym)
                .order_by(Segment.position)
            )
        )


def add_terms(app: Flask, rows: Sequence[tuple[str, str, str]]) -> None:
    """Add (Persian, English, category) terms to the glossary."""
    with app.extensions["testimony"].db.session() as s:
        for fa, en, category in rows:
            glossary.add(s, fa, en, category, "", "account:1")
