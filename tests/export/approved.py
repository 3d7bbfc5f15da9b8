"""Approved records in a real database: submitted through the public form, transcribed as the
worker stores a transcript, every segment approved by a reviewer other than the editor, and
moved on to `approved` as the translation review will."""

from __future__ import annotations

import io
import wave
from collections.abc import Sequence
from typing import Any

from flask import Flask
from sqlalchemy import select

from intake.events import Actor, staff_ref
from intake.models import (
    RedactionCategory,
    RedactionMark,
    Segment,
    Testimony,
    TestimonyState,
    Transcript,
)
from intake.records import lifecycle
from intake.review import access_copies, alignment, redaction_proof, review, transcripts
from tests import audio_fixtures as fx
from tests.staff_support import result_of
from tests.support import ALL_CONSENT, receipt_code, submit, worker_keyring

REVIEWER = staff_ref(7)
APPROVER = staff_ref(8)
TEXTS = ("In 1988 I was in Evin prison.", "After that summer, no news came.")


def approved_record(
    app: Flask,
    *,
    consent: dict[str, str] | None = None,
    seconds: float = 2.0,
    audio: bytes | None = None,
    texts: Sequence[str] = TEXTS,
    marked: Sequence[str] = (),
    codes: list[str] | None = None,
    recordings: int = 1,
    **fields: Any,
) -> str:
    """A record in `approved`; returns its pseudonym. Each word of `marked` is marked for
    redaction (category place) where it first occurs, before the transcript is approved.
    The receipt code is appended to `codes` when given. With `recordings`, the submitter sends
    that many files, each transcribed as `texts`."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    sent = [(audio or fx.tone_wav(seconds + n), f"{n}.wav") for n in range(recordings)]
    response = submit(client, sent, consent=consent or ALL_CONSENT, **fields)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    if codes is not None:
        codes.append(receipt_code(response))
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).order_by(Testimony.id.desc())).first()
        assert testimony is not None
        lifecycle.transition(s, testimony, TestimonyState.transcribing, Actor.worker)
        keys = worker_keyring(app)  # the public app holds no private key
        assert len(testimony.audio_files) == recordings
        for audio_file in testimony.audio_files:
            transcripts.add_transcript(
                s,
                keys,
                testimony,
                audio_file.id,
                None,
                result_of(texts),
                "test",
                Actor.worker,
            )
        transcripts.finish_if_complete(s, testimony, Actor.worker)
        segments = s.scalars(
            select(Segment)
            .join(Transcript)
            .where(Transcript.testimony_id == testimony.id)
            .order_by(Segment.position)
        ).all()
        every_text = list(texts) * recordings
        for word in marked:
            seg, text = next(
                (seg, t) for seg, t in zip(segments, every_text, strict=True) if word in t
            )
            at = text.index(word)
            s.add(
                RedactionMark(
                    testimony_id=testimony.id,
                    segment_id=seg.id,
                    char_start=at,
                    char_end=at + len(word),
                    start_s=seg.start_s,
                    end_s=seg.end_s,
                    category=RedactionCategory.place,
                    created_by=REVIEWER,
                )
            )
        s.flush()
        for seg in segments:
            review.approve(s, testimony, seg.id, seg.version, APPROVER)
        assert testimony.state == TestimonyState.transcript_approved
        # What the alignment job queued by the approval does for segments approved unchanged:
        # the machine's word times are the approved words' times (no model needed).
        alignment.align_unchanged(s, keys, testimony.id, "test")
        # What the redaction job queued by the approval does: the redacted access copy, and
        # its proof. The audio is a tone, in which the model hears no words, so the listener
        # here hears nothing; the real model listens in tests/workers/test_alignment_model.py.
        access_copies.make_access_copies(s, keys, svc.store, svc.config, testimony.id, Actor.worker)
        redaction_proof.prove(
            s, keys, svc.store, svc.config, testimony.id, hears_nothing, "test", Actor.worker
        )
        for state in (
            TestimonyState.in_translation,
            TestimonyState.translation_review,
            TestimonyState.approved,
        ):
            lifecycle.transition(s, testimony, state, APPROVER)
        return testimony.pseudonym


def hears_nothing(samples: object, language: str) -> str:
    """A listener for a tone: no words."""
    return ""


def noise_wav(seconds: float, rate: int = 16000) -> bytes:
    """White noise as a WAV file: it compresses badly, so its FLAC access copy is large."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(fx.pcm_noise(seconds, rate))
    return buf.getvalue()


def state_of(app: Flask, pseudonym: str) -> TestimonyState:
    """The record's state now."""
    with app.extensions["testimony"].db.session() as s:
        return s.scalars(select(Testimony.state).where(Testimony.pseudonym == pseudonym)).one()
