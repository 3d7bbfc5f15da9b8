"""Helpers for the staff app's tests: ready accounts, sign-in through the real forms with a
TOTP code computed by pyotp, and a testimony with a stored machine transcript."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from intake.crypto import Keyring
from intake.events import Actor
from intake.models import Role, Segment, StaffAccount, Testimony, TestimonyState, Transcript
from intake.records import accounts, lifecycle
from intake.review import transcripts
from tests import audio_fixtures as fx
from tests.support import csrf_token, submit

PASSWORD = "a long enough sentence to remember"
_SECRET = re.compile(r'id="totp-secret" dir="ltr">([A-Z2-7]+)<')


@dataclass(frozen=True)
class Staff:
    """A ready account: email, password and TOTP secret."""

    email: str
    password: str
    secret: str
    id: int


def ready_account(app: Flask, email: str, roles: Sequence[Role]) -> Staff:
    """An account whose password is chosen and whose second factor is set up."""
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        account, once = accounts.create(s, email, roles)
        accounts.change_password(account, once, PASSWORD)
        secret = accounts.totp_secret(svc.keyring, account)
        account.totp_confirmed = True
        account_id = account.id
    return Staff(email, PASSWORD, secret, account_id)


def code_for(secret: str, step_offset: int = 0) -> str:
    """The TOTP code of the current (or a neighbouring) 30 s step."""
    return pyotp.TOTP(secret).at(time.time() + 30 * step_offset)


def staff_client(app: Flask) -> FlaskClient:
    """A test client of the staff app reading English."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def sign_in(client: FlaskClient, staff: Staff, step_offset: int = 0) -> None:
    """Sign in through the forms: password, then the one-time code."""
    token = csrf_token(client, "/staff/sign-in")
    r = client.post(
        "/staff/sign-in",
        data={"csrf_token": token, "email": staff.email, "password": staff.password},
    )
    assert r.status_code == 302 and r.location.endswith("/staff/sign-in/code"), r.status_code
    token = csrf_token(client, "/staff/sign-in/code")
    r = client.post(
        "/staff/sign-in/code",
        data={"csrf_token": token, "code": code_for(staff.secret, step_offset)},
    )
    assert r.status_code == 302 and "/sign-in" not in r.location, r.get_data(as_text=True)


def secret_on_page(html: str) -> str:
    """The TOTP secret shown as text on the set-up page."""
    match = _SECRET.search(html)
    assert match, "no TOTP secret on the page"
    return match.group(1)


@dataclass
class FakeWord:
    """A word as the engine gives it."""

    start: float
    end: float
    word: str
    probability: float


@dataclass
class FakeSegment:
    """A segment as the engine gives it."""

    start: float
    end: float
    text: str
    words: list[FakeWord]
    avg_logprob: float = -0.3
    no_speech_prob: float = 0.01


@dataclass
class FakeResult:
    """The engine's result for one file. Only the model is left out (its tests cover it)."""

    segments: list[FakeSegment] = field(default_factory=list)
    language: str = "en"
    language_probability: float | None = 0.99
    duration_s: float = 2.0


def result_of(texts: Sequence[str], low_word: str | None = None) -> FakeResult:
    """A result with one segment per text, 0.5 s each; `low_word` gets probability 0.2."""
    segments = []
    for i, text in enumerate(texts):
        words = [
            FakeWord(i * 0.5, i * 0.5 + 0.4, " " + w, 0.2 if w == low_word else 0.95)
            for w in text.split()
        ]
        segments.append(FakeSegment(i * 0.5, i * 0.5 + 0.5, text, words))
    return FakeResult(segments=segments)


def transcribed_testimony(
    public_app: Flask, texts: Sequence[str], low_word: str | None = None, **fields: str
) -> str:
    """Submit a short recording through the public form (with any other `fields`, such as
    removal_notes) and store a transcript of it, as the worker does; returns the pseudonym of
    the testimony, now `transcribed`."""
    client = public_app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    response = submit(client, [(fx.tone_wav(2.0), "a.wav")], **fields)
    assert response.status_code == 200, response.status_code
    svc = public_app.extensions["testimony"]
    # The worker's keys: the public app holds no private key.
    worker_keys = Keyring.load(archive=svc.config.archive_keys, private=True, create=False)
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).order_by(Testimony.id.desc())).first()
        assert testimony is not None
        lifecycle.transition(s, testimony, TestimonyState.transcribing, Actor.worker)
        stored = transcripts.add_transcript(
            s,
            worker_keys,
            testimony,
            testimony.audio_files[0].id,
            None,
            result_of(texts, low_word),
            "test",
            Actor.worker,
        )
        assert stored is not None
        transcripts.finish_if_complete(s, testimony, Actor.worker)
        assert testimony.state == TestimonyState.transcribed
        return testimony.pseudonym


def segments_of(app: Flask, pseudonym: str) -> list[Segment]:
    """The testimony's segments in order."""
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


def account(app: Flask, account_id: int) -> StaffAccount:
    """A fresh copy of an account row."""
    with app.extensions["testimony"].db.session() as s:
        found = s.get(StaffAccount, account_id)
        assert found is not None
        return found
