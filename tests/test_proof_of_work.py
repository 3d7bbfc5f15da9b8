"""The intake form's proof of work: a solved puzzle keeps the ordinary turn, anything else is
accepted all the same but waits in the slower lane; with the setting off nothing changes."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from intake import create_app
from intake.config import Config
from intake.models import Job, Testimony
from intake.public import form_tokens, proof_of_work
from intake.public.proof_of_work import Answer, Verdict
from tests import audio_fixtures as fx
from tests.support import ALL_CONSENT, csrf_token, form_token, post_multipart

BITS = 8
DELAY_S = 3600.0
_CHALLENGE = re.compile(r'name="proof_challenge" id="proof-challenge" value="([^"]+)"')


@pytest.fixture
def pow_app(migrated: Config) -> Iterator[tuple[Flask, FlaskClient]]:
    """The public app with the proof of work on (8 bits: about 256 tries)."""
    config = migrated.with_overrides(proof_of_work_bits=BITS, unproven_delay_s=DELAY_S)
    application = create_app(config)
    client = application.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    yield application, client
    application.extensions["testimony"].db.dispose()


def _page(client: FlaskClient) -> dict[str, str]:
    html = client.get("/").get_data(as_text=True)
    found = _CHALLENGE.search(html)
    return {
        "csrf_token": csrf_token(client),
        "form_token": form_token(html),
        "challenge": found.group(1) if found else "",
    }


def _send(client: FlaskClient, page: dict[str, str], **proof: str) -> Any:
    data: dict[str, Any] = {
        "csrf_token": page["csrf_token"],
        "form_token": page["form_token"],
        "language": "en",
        **ALL_CONSENT,
        **proof,
        "audio": [(io.BytesIO(fx.tone_wav(2.0)), "a.wav")],
    }
    response = post_multipart(client, "/submit", data)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return response


def _extra_wait_s(app: Flask) -> float:
    """How much later than the fair order alone the newest testimony's job takes its turn."""
    with app.extensions["testimony"].db.session() as s:
        newest = s.scalars(select(Testimony).order_by(Testimony.id.desc())).first()
        assert newest is not None
        job = s.scalars(select(Job).where(Job.testimony_id == newest.id)).one()
        assert job.turn_at is not None and job.audio_s is not None
        return (job.turn_at - job.created_at).total_seconds() - job.audio_s


def _key(app: Flask) -> bytes:
    return proof_of_work.key_for(app.extensions["testimony"].keyring.session_key)


def test_a_solved_puzzle_keeps_the_ordinary_turn(pow_app: tuple[Flask, FlaskClient]) -> None:
    app, client = pow_app
    page = _page(client)
    assert page["challenge"].startswith(f"p1.{BITS}.")
    nonce = proof_of_work.solve(page["challenge"], BITS)
    _send(client, page, proof_challenge=page["challenge"], proof_nonce=nonce)
    assert abs(_extra_wait_s(app)) < 1.0


@pytest.mark.parametrize("nonce", ["", "wrong", "bad nonce"])
def test_no_proof_is_accepted_but_waits(pow_app: tuple[Flask, FlaskClient], nonce: str) -> None:
    """A form without a solution (no JavaScript: the hidden nonce stays empty), with a nonce
    that does not solve it, or with no proof fields at all: the testimony is stored, its
    transcription waits `unproven_delay_s` longer."""
    app, client = pow_app
    page = _page(client)
    if nonce == "wrong":
        nonce = str(int(proof_of_work.solve(page["challenge"], BITS)) + 1)
        while proof_of_work.leading_zero_bits(proof_of_work.work(page["challenge"], nonce)) >= BITS:
            nonce = str(int(nonce) + 1)
    fields = {} if nonce == "bad nonce" else {"proof_challenge": page["challenge"]}
    if nonce != "bad nonce":
        fields["proof_nonce"] = nonce
    _send(client, page, **fields)
    assert abs(_extra_wait_s(app) - DELAY_S) < 1.0


def test_an_expired_or_forged_challenge_counts_as_missing(
    pow_app: tuple[Flask, FlaskClient],
) -> None:
    app, client = pow_app
    key = _key(app)
    for make in (
        # Signed by this app for this form, but its hour is over.
        lambda digest: proof_of_work.issue(key, digest, BITS, -1.0),
        # Signed with another key.
        lambda digest: proof_of_work.issue(b"k" * 32, digest, BITS, 600.0),
        # Signed for fewer bits than asked: the bits are part of what is signed, so they
        # cannot be lowered by hand (nor may an old, easier challenge serve).
        lambda digest: proof_of_work.issue(key, digest, 1, 600.0),
        lambda digest: proof_of_work.issue(key, digest, BITS, 600.0).replace(
            f"p1.{BITS}.", "p1.1."
        ),
    ):
        page = _page(client)
        challenge = make(form_tokens.digest(page["form_token"]))
        nonce = proof_of_work.solve(challenge, BITS)
        _send(client, page, proof_challenge=challenge, proof_nonce=nonce)
        assert abs(_extra_wait_s(app) - DELAY_S) < 1.0, challenge


def test_a_solution_does_not_serve_a_second_form(pow_app: tuple[Flask, FlaskClient]) -> None:
    """The challenge is signed for its form: solved once, it cannot price a second testimony,
    and its own form creates one testimony at most."""
    app, client = pow_app
    first, second = _page(client), _page(client)
    nonce = proof_of_work.solve(first["challenge"], BITS)
    _send(client, second, proof_challenge=first["challenge"], proof_nonce=nonce)
    assert abs(_extra_wait_s(app) - DELAY_S) < 1.0
    _send(client, first, proof_challenge=first["challenge"], proof_nonce=nonce)
    assert abs(_extra_wait_s(app)) < 1.0
    _send(client, first, proof_challenge=first["challenge"], proof_nonce=nonce)
    with app.extensions["testimony"].db.session() as s:
        assert len(s.scalars(select(Testimony)).all()) == 2


def test_with_the_setting_off_the_form_has_no_puzzle(app: Flask, client: FlaskClient) -> None:
    page = _page(client)
    assert page["challenge"] == ""
    assert "proof_of_work.js" not in client.get("/").get_data(as_text=True)
    _send(client, page)
    assert abs(_extra_wait_s(app)) < 1.0


def test_check_judges_each_case() -> None:
    key, digest = b"s" * 32, form_tokens.digest(form_tokens.new_token())
    now = time.time()
    challenge = proof_of_work.issue(key, digest, BITS, 60.0, now)
    nonce = proof_of_work.solve(challenge, BITS)
    assert proof_of_work.check(key, digest, Answer(challenge, nonce), BITS, now) is Verdict.proven
    assert proof_of_work.check(key, digest, None, BITS, now) is Verdict.missing
    assert proof_of_work.check(key, digest, Answer(challenge, ""), BITS, now) is Verdict.missing
    other = form_tokens.digest(form_tokens.new_token())
    assert proof_of_work.check(key, other, Answer(challenge, nonce), BITS, now) is Verdict.forged
    later = now + 61
    assert proof_of_work.check(key, digest, Answer(challenge, nonce), BITS, later) is (
        Verdict.expired
    )
    assert proof_of_work.check(key, digest, Answer(challenge, nonce), BITS + 1, now) is (
        Verdict.too_easy
    )
    assert proof_of_work.check(key, digest, Answer(challenge + "x", nonce), BITS, now) is (
        Verdict.forged
    )
    bad = next(
        str(n)
        for n in range(1000)
        if proof_of_work.leading_zero_bits(proof_of_work.work(challenge, str(n))) < BITS
    )
    assert proof_of_work.check(key, digest, Answer(challenge, bad), BITS, now) is Verdict.wrong
    assert proof_of_work.leading_zero_bits(bytes([0, 0, 0x0F])) == 20
    assert proof_of_work.leading_zero_bits(bytes([0x80])) == 0
