"""Chain of custody: the hash of each file as the submitter sent it, recorded at intake, and
the stored original and access copy shown to be the bytes those hashes name."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from intake import sealing
from intake.events import Action
from intake.models import AudioFile, Event, Testimony
from intake.public import submissions
from intake.public.uploads import HashingSpool
from tests import audio_fixtures as fx
from tests.support import csrf_token, post_multipart, receipt_code, submit, worker_keyring


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_spool_hashes_the_bytes_in_the_order_they_arrive(tmp_path: Path) -> None:
    spool = HashingSpool(tmp_path)
    try:
        for block in (b"RIFF", b"....", b"WAVE"):
            spool.write(block)
        assert spool.sha256 == sha256(b"RIFF....WAVE")
        spool.seek(0)
        spool.read()  # reading changes nothing
        assert spool.sha256 == sha256(b"RIFF....WAVE")
        spool.seek(4)
        spool.write(b"xxxx")  # a write elsewhere: the running hash no longer describes it
        assert spool.sha256 is None
    finally:
        spool.close()


def _stored(app: Flask, testimony: Testimony, row: AudioFile, name: str) -> bytes:
    # Opened as a worker does: each file has a key of its own, and the public app holds no
    # private key.
    services = app.extensions["testimony"]
    assert testimony.wrapped_key is not None
    key = sealing.audio_key(worker_keyring(app), testimony.wrapped_key, row.sealed_key)
    with services.store.open(key, testimony.storage_id, name) as reader:
        return bytes(reader.read())


def test_intake_records_the_hash_of_the_bytes_sent_and_the_store_keeps_them(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = [fx.tone_wav(1.0), fx.tone_mp3(1.0)]
    hashed_after_arrival: list[object] = []
    real = submissions.sha256_of

    def spy(stream: io.RawIOBase) -> str:
        hashed_after_arrival.append(stream)
        return real(stream)

    monkeypatch.setattr(submissions, "sha256_of", spy)
    response = submit(client, [(sent[0], "a.wav"), (sent[1], "b.mp3")])
    assert response.status_code == 200
    # The originals' hashes came from the spool as the bytes arrived; only the access copies
    # were hashed afterwards.
    assert not any(isinstance(stream, HashingSpool) for stream in hashed_after_arrival)

    with app.extensions["testimony"].db.session() as s:
        testimony = s.scalars(select(Testimony)).one()
        files = sorted(testimony.audio_files, key=lambda f: f.position)
        assert [f.original_sha256 for f in files] == [sha256(data) for data in sent]
        for row, data in zip(files, sent, strict=True):
            assert row.original_name is not None
            original = _stored(app, testimony, row, row.original_name)
            assert original == data and sha256(original) == row.original_sha256
            assert sha256(_stored(app, testimony, row, row.access_name)) == row.access_sha256
        received = s.scalars(select(Event).where(Event.action == Action.received)).one()
        assert received.detail is not None
        assert received.detail["custody"] == [
            {
                "audio_file": row.id,
                "original_sha256": sha256(data),
                "access_sha256": row.access_sha256,
                "access_made_from": sha256(data),
            }
            for row, data in zip(files, sent, strict=True)
        ]


def test_added_audio_records_its_hashes_in_its_event(app: Flask, client: FlaskClient) -> None:
    code = receipt_code(submit(client, [(fx.tone_wav(1.0), "a.wav")]))
    added = fx.tone_ogg_opus(1.0)
    data = {
        "csrf_token": csrf_token(client, "/receipt"),
        "code": code,
        "audio": [(io.BytesIO(added), "b.ogg")],
    }
    assert post_multipart(client, "/receipt/add", data).status_code == 200
    with app.extensions["testimony"].db.session() as s:
        row = s.scalars(select(AudioFile).where(AudioFile.position == 2)).one()
        assert row.original_sha256 == sha256(added)
        event = s.scalars(select(Event).where(Event.action == Action.audio_added)).one()
        assert event.detail is not None
        assert event.detail["custody"] == [
            {
                "audio_file": row.id,
                "original_sha256": sha256(added),
                "access_sha256": row.access_sha256,
                "access_made_from": sha256(added),
            }
        ]


def test_a_file_kept_with_a_form_keeps_its_hashes(app: Flask, client: FlaskClient) -> None:
    """A form sent back for an error keeps the file; the hash recorded is still the one
    taken as it first arrived."""
    sent = fx.tone_wav(1.0)
    first = submit(client, [(sent, "a.wav")], consent={})  # no consent: the form comes back
    assert first.status_code == 400
    html = first.get_data(as_text=True)
    from tests.support import ALL_CONSENT, form_token

    fields = {
        "csrf_token": csrf_token(client),
        "form_token": form_token(html),
        "language": "en",
        **ALL_CONSENT,
    }
    again = post_multipart(client, "/submit", fields, follow_redirects=True)
    assert again.status_code == 200, again.get_data(as_text=True)
    with app.extensions["testimony"].db.session() as s:
        row = s.scalars(select(AudioFile)).one()
        assert row.original_sha256 == sha256(sent)
        assert row.access_sha256 is not None and len(row.access_sha256) == 64
