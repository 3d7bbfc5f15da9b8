"""Narrowing consent from the status page: only narrowing, each version kept, each change an
event; and the form's own rules for publication with the name and the anonymised audio."""

from __future__ import annotations

from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from intake.models import (
    Consent,
    ConsentVersion,
    Event,
    Job,
    JobKind,
    JobStatus,
    Testimony,
    TestimonyState,
)
from intake.public.consent import NarrowingRefused, narrow
from tests import audio_fixtures as fx
from tests.support import ALL_CONSENT, csrf_token, receipt_code, submit


def _narrow(client: FlaskClient, code: str, **fields: str) -> tuple[int, str]:
    token = csrf_token(client, "/receipt")
    response = client.post("/receipt/consent", data={"csrf_token": token, "code": code, **fields})
    return response.status_code, response.get_data(as_text=True)


def _consent(app: Flask) -> Consent:
    with app.extensions["testimony"].db.session() as s:
        return s.scalars(select(Consent)).one()


def _named(client: FlaskClient) -> str:
    consent = {**ALL_CONSENT, "publish_named": "y", "publish_anonymised_audio": "y"}
    response = submit(client, [(fx.tone_wav(1.0), "a.wav")], consent=consent, name="Someone")
    assert response.status_code == 200, response.get_data(as_text=True)
    return receipt_code(response)


def test_withdrawing_publication_with_the_name_keeps_the_rest(
    app: Flask, client: FlaskClient
) -> None:
    code = _named(client)
    status, html = _narrow(client, code, withdraw_publish_named="y")
    assert status == 200, html
    assert "narrowed" in html
    now = _consent(app)
    assert not now.publish_named
    assert now.archive and now.transcribe and now.translate and now.publish_anonymised
    assert now.version == 2 and now.changed_at is not None
    with app.extensions["testimony"].db.session() as s:
        earlier = s.scalars(select(ConsentVersion)).one()
        assert earlier.version == 1 and earlier.publish_named
        assert earlier.wording_sha256 == now.wording_sha256
        event = s.scalars(select(Event).where(Event.action == "consent_narrowed")).one()
        assert event.detail == {"version": 2, "withdrawn": ["publish_named"]}
        assert s.scalars(select(Testimony)).one().wrapped_key is not None


def test_withdrawing_translation_cancels_its_drafts(app: Flask, client: FlaskClient) -> None:
    code = _named(client)
    with app.extensions["testimony"].db.session() as s:
        testimony = s.scalars(select(Testimony)).one()
        s.add(Job(testimony_id=testimony.id, kind=JobKind.translate_draft, status=JobStatus.queued))
        s.commit()
    status, html = _narrow(client, code, withdraw_translate="y")
    assert status == 200, html
    assert not _consent(app).translate
    with app.extensions["testimony"].db.session() as s:
        drafts = s.scalars(select(Job).where(Job.kind == JobKind.translate_draft)).all()
        assert [j.status for j in drafts] == [JobStatus.cancelled]
        transcribe = s.scalars(select(Job).where(Job.kind == JobKind.transcribe)).all()
        assert transcribe and all(j.status == JobStatus.queued for j in transcribe)


def test_withdrawing_anonymised_text_takes_its_audio_too(app: Flask, client: FlaskClient) -> None:
    code = _named(client)
    status, html = _narrow(client, code, withdraw_publish_anonymised="y")
    assert status == 200, html
    now = _consent(app)
    assert not now.publish_anonymised and not now.publish_anonymised_audio


def test_the_page_cannot_widen_consent(app: Flask, client: FlaskClient) -> None:
    code = receipt_code(
        submit(client, [(fx.tone_wav(1.0), "a.wav")], consent={"archive": "y"}, name="X")
    )
    # Fields that widen do not exist on the form; posting them anyway changes nothing.
    status, html = _narrow(client, code, publish_named="y", translate="y", transcribe="y")
    assert status == 400
    assert "Nothing was changed" in html
    now = _consent(app)
    assert now.archive and not now.publish_named and not now.translate and not now.transcribe
    assert now.version == 1


def test_embargo_only_moves_later(app: Flask, client: FlaskClient) -> None:
    code = receipt_code(submit(client, [(fx.tone_wav(1.0), "a.wav")], embargo_until="2031-01-02"))
    status, html = _narrow(client, code, embargo_until="2030-01-01")
    assert status == 400 and "only be moved later" in html
    assert _consent(app).embargo_until == date(2031, 1, 2)
    # The same date again is no change: refused alike, no new version.
    status, html = _narrow(client, code, embargo_until="2031-01-02")
    assert status == 400 and "only be moved later" in html
    with app.extensions["testimony"].db.session() as s:
        assert s.scalars(select(ConsentVersion)).all() == []
    status, html = _narrow(client, code, embargo_until="2032-05-06")
    assert status == 200, html
    assert _consent(app).embargo_until == date(2032, 5, 6)
    assert "6 May 2032" in html


def test_nothing_ticked_writes_no_version(app: Flask, client: FlaskClient) -> None:
    code = _named(client)
    status, _html = _narrow(client, code)
    assert status == 400
    with app.extensions["testimony"].db.session() as s:
        assert s.scalars(select(ConsentVersion)).all() == []
        assert s.scalars(select(Event).where(Event.action == "consent_narrowed")).all() == []


def test_wrong_code_cannot_narrow(app: Flask, client: FlaskClient) -> None:
    _named(client)
    status, _html = _narrow(client, "1234567812345678", withdraw_publish_named="y")
    assert status == 400
    assert _consent(app).publish_named


def test_publication_with_name_needs_a_name(app: Flask, client: FlaskClient) -> None:
    response = submit(
        client, [(fx.tone_wav(1.0), "a.wav")], consent={**ALL_CONSENT, "publish_named": "y"}
    )
    assert response.status_code == 400
    assert "fill in your name" in response.get_data(as_text=True)
    with app.extensions["testimony"].db.session() as s:
        assert s.scalars(select(Testimony)).all() == []


def test_anonymised_audio_is_a_consent_of_its_own(app: Flask, client: FlaskClient) -> None:
    consent = {"archive": "y", "publish_anonymised_audio": "y"}
    refused = submit(client, [(fx.tone_wav(1.0), "a.wav")], consent=consent)
    assert refused.status_code == 400
    assert "only with the anonymised text" in refused.get_data(as_text=True)
    submit(client, [(fx.tone_wav(1.0), "a.wav")])
    assert not _consent(app).publish_anonymised_audio
    html = client.get("/").get_data(as_text=True)
    assert 'id="consent-publish_anonymised_audio"' in html
    assert "voice disguised" in html and "no audio" in html


def test_named_publication_sits_apart_with_a_voice_warning(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    named = html.split('id="named-publication"')[1].split("</fieldset>")[0]
    assert 'id="consent-publish_named"' in named
    assert "voice identifies you" in named
    consents = html.split("What may the archive do")[1].split("</fieldset>")[0]
    assert "publish_named" not in consents


def test_keeping_and_transcribing_are_withdrawn_only_whole(app: Flask, client: FlaskClient) -> None:
    _named(client)
    with app.extensions["testimony"].db.session() as s:
        testimony = s.scalars(select(Testimony)).one()
        for use in ("archive", "transcribe", "embargo_until"):
            with pytest.raises(NarrowingRefused) as refused:
                narrow(s, testimony, {use})
            assert refused.value.reason == "not_narrowable"
    assert _consent(app).archive and _consent(app).transcribe


def test_a_withdrawn_testimony_cannot_be_narrowed_further(app: Flask, client: FlaskClient) -> None:
    """Withdrawal is the end of the record's consent: nothing is narrowed after it, even
    where the consent row is still there to be read."""
    receipt_code(submit(client, [(fx.tone_wav(1.0), "a.wav")]))
    with app.extensions["testimony"].db.session() as s:
        t = s.scalars(select(Testimony)).one()
        assert t.consent is not None and t.consent.translate
        t.state = TestimonyState.withdrawn
        with pytest.raises(NarrowingRefused) as refused:
            narrow(s, t, {"translate"})
        assert refused.value.reason == "withdrawn"
        assert t.consent.translate and t.consent.version == 1
        assert s.scalars(select(ConsentVersion)).all() == []
