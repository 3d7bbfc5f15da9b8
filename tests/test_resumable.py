"""Resumable uploads (tus 1.0) on the public app, through the Flask test client: creation,
appending at the right offset only, the offset after a break, checksums, termination, the size
limit as bytes arrive, expiry by the upkeep sweep, and a form completed with a finished upload
whose stored original is, byte for byte, the file sent."""

from __future__ import annotations

import base64
import hashlib
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from intake import create_app, sealing
from intake.config import Config
from intake.models import AudioFile, Testimony
from intake.public import resumable
from tests import audio_fixtures as fx
from tests.support import ALL_CONSENT, csrf_token, form_token, post_multipart, worker_keyring
from workers import upkeep


class Form:
    """One intake page's tokens, as the page's script sends them with every tus request."""

    def __init__(self, client: FlaskClient) -> None:
        html = client.get("/").get_data(as_text=True)
        self.client = client
        self.token = form_token(html)
        self.csrf = csrf_token(client)

    def headers(self, **extra: str) -> dict[str, str]:
        found = {"Tus-Resumable": "1.0.0", "Form-Token": self.token, "X-CSRFToken": self.csrf}
        found.update({k.replace("_", "-"): v for k, v in extra.items()})
        return found

    def create(self, length: int) -> Any:
        meta = "filename " + base64.b64encode("گفتگو.wav".encode()).decode()
        return self.client.post(
            "/uploads", headers=self.headers(Upload_Length=str(length), Upload_Metadata=meta)
        )

    def patch(self, where: str, offset: int, data: bytes, **extra: str) -> Any:
        return self.client.patch(
            where,
            data=data,
            headers=self.headers(
                Upload_Offset=str(offset),
                Content_Type="application/offset+octet-stream",
                **extra,
            ),
        )

    def head(self, where: str) -> Any:
        return self.client.head(where, headers=self.headers())


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and p.name != "lock"]


def _checksum(data: bytes) -> str:
    return "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_options_names_the_protocol_and_its_extensions(client: FlaskClient) -> None:
    answer = client.options("/uploads")
    assert answer.status_code == 204
    assert answer.headers["Tus-Version"] == "1.0.0"
    assert set(answer.headers["Tus-Extension"].split(",")) == {
        "creation",
        "expiration",
        "termination",
        "checksum",
    }
    assert answer.headers["Tus-Checksum-Algorithm"] == "sha256"


def test_an_upload_resumes_at_the_offset_the_server_reports(
    client: FlaskClient, config: Config
) -> None:
    form = Form(client)
    data = fx.tone_wav(2.0, rate=16000, channels=1)
    created = form.create(len(data))
    assert created.status_code == 201
    where = created.headers["Location"]
    assert form.head(where).headers["Upload-Offset"] == "0"
    assert form.head(where).headers["Upload-Length"] == str(len(data))
    assert "GMT" in form.head(where).headers["Upload-Expires"]
    assert form.patch(where, 0, data[:1000]).status_code == 204
    assert form.head(where).headers["Upload-Offset"] == "1000"
    # The page thinks it sent more than arrived: the wrong offset is refused, nothing kept.
    wrong = form.patch(where, 1500, data[1500:3000])
    assert wrong.status_code == 409
    assert wrong.headers["Upload-Offset"] == "1000"
    assert form.head(where).headers["Upload-Offset"] == "1000"
    # What is kept is encrypted: the folder holds none of the sent bytes in the clear.
    for path in _files_under(config.spool_path):
        assert data[44:1000] not in path.read_bytes()
    done = form.patch(where, 1000, data[1000:])
    assert done.status_code == 204
    assert done.headers["Upload-Offset"] == str(len(data))
    # Finished: kept with the form as a checked recording; the parts are gone.
    names = sorted(p.name for p in _files_under(config.spool_path))
    assert names == ["kept-audio-01.flac", "kept-info-01.json", "kept-original-01.bin"]
    assert form.head(where).headers["Upload-Offset"] == str(len(data))


def test_a_request_without_the_form_token_opens_nothing(client: FlaskClient) -> None:
    form = Form(client)
    where = form.create(100).headers["Location"]
    other = Form(client)
    assert other.head(where).status_code == 404
    no_token = {k: v for k, v in form.headers().items() if k != "Form-Token"}
    assert client.head(where, headers=no_token).status_code == 400
    old = form.headers()
    old["Tus-Resumable"] = "0.2.2"
    assert client.head(where, headers=old).status_code == 412


def test_a_checksum_mismatch_keeps_nothing_of_the_request(client: FlaskClient) -> None:
    form = Form(client)
    data = fx.tone_wav(1.0, rate=16000, channels=1)
    where = form.create(len(data)).headers["Location"]
    bad = form.patch(where, 0, data[:500], Upload_Checksum=_checksum(data[:499]))
    assert bad.status_code == 460
    assert form.head(where).headers["Upload-Offset"] == "0"
    good = form.patch(where, 0, data[:500], Upload_Checksum=_checksum(data[:500]))
    assert good.status_code == 204
    assert form.head(where).headers["Upload-Offset"] == "500"
    other = form.patch(where, 500, data[500:600], Upload_Checksum="md5 AAAA")
    assert other.status_code == 400


def test_termination_removes_the_upload_and_its_bytes(client: FlaskClient, config: Config) -> None:
    form = Form(client)
    where = form.create(5000).headers["Location"]
    form.patch(where, 0, b"x" * 3000)
    assert any(p.name.startswith("upload-part") for p in _files_under(config.spool_path))
    assert client.delete(where, headers=form.headers()).status_code == 204
    assert _files_under(config.spool_path) == []
    assert form.head(where).status_code == 404


def test_the_size_limit_applies_at_creation_and_as_bytes_arrive(
    client: FlaskClient, config: Config, app: Flask
) -> None:
    form = Form(client)
    limit = config.max_upload_bytes
    too_big = form.create(limit + 1)
    assert too_big.status_code == 413
    assert "larger than this archive accepts" in too_big.get_data(as_text=True)
    where = form.create(1000).headers["Location"]
    assert form.patch(where, 0, b"y" * 600).status_code == 204
    # More bytes than announced: refused at the first byte too many, nothing of it kept.
    over = form.patch(where, 600, b"y" * 500)
    assert over.status_code == 413
    assert form.head(where).headers["Upload-Offset"] == "600"
    parts = [p for p in _files_under(config.spool_path) if p.name.startswith("upload-part")]
    assert len(parts) == 1


def test_a_refused_recording_leaves_nothing(client: FlaskClient, config: Config) -> None:
    form = Form(client)
    data = fx.fake_pdf()
    where = form.create(len(data)).headers["Location"]
    refused = form.patch(where, 0, data)
    assert refused.status_code == 422
    assert "not a recording we can read" in refused.get_data(as_text=True)
    assert _files_under(config.spool_path) == []
    assert form.head(where).status_code == 404


def test_an_abandoned_upload_expires_with_the_sweep(
    app: Flask, client: FlaskClient, config: Config
) -> None:
    form = Form(client)
    where = form.create(5000).headers["Location"]
    form.patch(where, 0, b"z" * 2000)
    svc = app.extensions["testimony"]
    assert upkeep.run_once(svc)["spools"] == 0
    assert _files_under(config.spool_path) != []
    old = time.time() - config.form_keep_s - 60
    for folder in config.spool_path.iterdir():
        os.utime(folder, (old, old))
    assert upkeep.run_once(svc)["spools"] == 1
    assert _files_under(config.spool_path) == []
    assert form.head(where).status_code == 404


def _stored_original(app: Flask) -> tuple[AudioFile, bytes]:
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony)).one()
        row = s.scalars(select(AudioFile)).one()
        assert testimony.wrapped_key is not None and row.original_name is not None
        key = sealing.audio_key(worker_keyring(app), testimony.wrapped_key, row.sealed_key)
        with svc.store.open(key, testimony.storage_id, row.original_name) as reader:
            return row, bytes(reader.read())


def test_a_form_naming_a_finished_upload_stores_exactly_its_bytes(
    app: Flask, client: FlaskClient, config: Config
) -> None:
    form = Form(client)
    data = fx.tone_wav(3.0, rate=16000, channels=1)
    where = form.create(len(data)).headers["Location"]
    for start in range(0, len(data), 30000):
        assert form.patch(where, start, data[start : start + 30000]).status_code == 204
    fields = {
        "csrf_token": form.csrf,
        "form_token": form.token,
        "language": "en",
        "uploads": where,
        **ALL_CONSENT,
    }
    sent = post_multipart(client, "/submit", fields)
    assert sent.status_code == 303
    row, original = _stored_original(app)
    assert original == data
    assert row.original_sha256 == hashlib.sha256(data).hexdigest()
    assert _files_under(config.spool_path) == []
    # The form is sent: its token opens no further upload.
    assert form.create(100).status_code == 403


def test_a_form_naming_an_unfinished_upload_is_refused(client: FlaskClient) -> None:
    form = Form(client)
    where = form.create(5000).headers["Location"]
    form.patch(where, 0, b"w" * 100)
    fields = {
        "csrf_token": form.csrf,
        "form_token": form.token,
        "language": "en",
        "uploads": where,
        **ALL_CONSENT,
    }
    refused = post_multipart(client, "/submit", fields)
    assert refused.status_code == 400
    assert "did not finish uploading" in refused.get_data(as_text=True)


def test_malformed_metadata_checksums_and_bodies_are_refused(client: FlaskClient) -> None:
    form = Form(client)
    name = base64.b64encode(b"a.wav").decode()
    twice = client.post(
        "/uploads",
        headers=form.headers(
            Upload_Length="100", Upload_Metadata=f"filename {name},filename {name}"
        ),
    )
    assert twice.status_code == 400
    where = form.create(1000).headers["Location"]
    # A sha256 checksum must carry a whole digest: a shorter one is malformed, nothing kept.
    short = "sha256 " + base64.b64encode(hashlib.sha256(b"y" * 100).digest()[:16]).decode()
    assert form.patch(where, 0, b"y" * 100, Upload_Checksum=short).status_code == 400
    assert form.head(where).headers["Upload-Offset"] == "0"
    plain = form.client.patch(
        where,
        data=b"y" * 100,
        headers=form.headers(Upload_Offset="0", Content_Type="application/octet-stream"),
    )
    assert plain.status_code == 415
    assert form.head(where).headers["Upload-Offset"] == "0"
    # Only sha256 is offered: another name is refused, even before a digest that would match.
    md5 = "md5 " + base64.b64encode(hashlib.sha256(b"y" * 100).digest()).decode()
    assert form.patch(where, 0, b"y" * 100, Upload_Checksum=md5).status_code == 400
    assert form.head(where).headers["Upload-Offset"] == "0"
    assert form.patch(where, 0, b"y" * 100).status_code == 204


def test_an_upload_is_reached_by_its_whole_id_at_its_own_offset_only(
    client: FlaskClient, config: Config
) -> None:
    form = Form(client)
    data = fx.tone_wav(1.0, rate=16000, channels=1)
    where = form.create(len(data)).headers["Location"]
    assert form.patch(where, 0, data[:1000]).status_code == 204
    # A part of the id, or the id with more, names no upload.
    assert form.head(where[:-1]).status_code == 404
    assert form.head(where[:-8]).status_code == 404
    assert form.client.delete(where[:-1], headers=form.headers()).status_code == 404
    upload_id = where.rsplit("/", 1)[-1]
    named = f"{where[:-1]} {where} /uploads/{upload_id.upper()} {upload_id}0"
    assert resumable.read_names(named) == [upload_id]
    # An offset behind the upload's is refused as one ahead of it is: nothing written twice.
    behind = form.patch(where, 500, data[500:1500])
    assert behind.status_code == 409
    assert behind.headers["Upload-Offset"] == "1000"
    assert form.head(where).headers["Upload-Offset"] == "1000"
    # A checksum refused leaves no part of the request behind.
    assert form.patch(where, 1000, data[1000:], Upload_Checksum=_checksum(b"")).status_code == 460
    parts = [p for p in _files_under(config.spool_path) if p.name.startswith("upload-part")]
    assert len(parts) == 1
    assert form.patch(where, 1000, data[1000:]).status_code == 204
    # Finished: a late PATCH learns that everything arrived, and changes nothing.
    late = form.patch(where, 0, data[:1000])
    assert late.status_code == 409
    assert late.headers["Upload-Offset"] == str(len(data))
    assert form.head(where).headers["Upload-Offset"] == str(len(data))


def test_an_upload_of_exactly_the_limit_is_accepted(client: FlaskClient, config: Config) -> None:
    form = Form(client)
    assert form.create(config.max_upload_bytes).status_code == 201
    assert form.create(config.max_upload_bytes + 1).status_code == 413
    with pytest.raises(resumable.UploadError):
        resumable.create(config, form.token, -1)
    # One byte more than the upload announced is refused, and nothing of the request kept.
    where = form.create(1000).headers["Location"]
    assert form.patch(where, 0, b"y" * 600).status_code == 204
    assert form.patch(where, 600, b"y" * 401).status_code == 413
    assert form.head(where).headers["Upload-Offset"] == "600"


def test_a_form_holds_at_most_the_files_one_submission_may_have(migrated: Config) -> None:
    # Finished files and uploads under way count together; the same recording twice is one.
    app = create_app(replace(migrated, max_files_per_submission=2))
    try:
        client = app.test_client()
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        form = Form(client)
        data = fx.tone_wav(1.0, rate=16000, channels=1)
        first = form.create(len(data)).headers["Location"]
        assert form.patch(first, 0, data).status_code == 204
        again = form.create(len(data)).headers["Location"]
        assert form.patch(again, 0, data).status_code == 204  # the same file: kept once
        kept = sorted(p.name for p in _files_under(app.extensions["testimony"].config.spool_path))
        assert kept == ["kept-audio-01.flac", "kept-info-01.json", "kept-original-01.bin"]
        under_way = form.create(100)
        assert under_way.status_code == 201
        assert form.create(100).status_code == 413  # one kept and one under way: full
        assert (
            client.delete(under_way.headers["Location"], headers=form.headers()).status_code == 204
        )
        assert form.create(100).status_code == 201
    finally:
        app.extensions["testimony"].db.dispose()


@pytest.mark.parametrize("reason", ["unfinished_upload"])
def test_the_new_message_is_translated(reason: str) -> None:
    po = Path(__file__).parents[1] / "translations/fa/LC_MESSAGES/messages.po"
    assert "did not finish uploading" in po.read_text(encoding="utf-8")
