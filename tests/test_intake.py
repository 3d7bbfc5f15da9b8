"""Public intake through the web app: the happy path, every kind of bad input, and what is
(and is not) written anywhere."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from intake.config import Config
from intake.models import AudioFile, Consent, Event, Identity, Job, Testimony, TestimonyState
from tests import audio_fixtures as fx
from tests.support import csrf_token, post_multipart, receipt_code, submit


def _count(app: Flask, model: type) -> int:
    with app.extensions["testimony"].db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def _assert_nothing_left(app: Flask, config: Config) -> None:
    assert _count(app, Testimony) == 0
    assert _count(app, AudioFile) == 0
    assert _count(app, Identity) == 0
    assert _count(app, Job) == 0
    assert _files_under(config.storage_path) == []  # type: ignore[arg-type]
    assert _files_under(config.temp_path) == []


def test_submission_stores_encrypted_record_and_queues_job(
    app: Flask, client: FlaskClient, config: Config
) -> None:
    response = submit(client, [(fx.tone_wav(2.0), "a.wav"), (fx.tone_mp3(1.5), "b.mp3")])
    assert response.status_code == 200, response.get_data(as_text=True)
    code = receipt_code(response)
    assert len(code) == 16 and code.isdigit()
    assert response.headers["Cache-Control"] == "no-store"
    with app.extensions["testimony"].db.session() as s:
        t = s.scalars(select(Testimony)).one()
        assert t.state == TestimonyState.queued
        assert t.pseudonym.startswith("T-")
        assert code.encode() not in t.receipt_digest
        assert [round(f.duration_s, 1) for f in t.audio_files] == [2.0, 1.5]
        assert all(f.original_name for f in t.audio_files)  # archive consent: original kept
        consent = s.scalars(select(Consent)).one()
        assert consent.transcribe and consent.archive and not consent.publish_named
        assert consent.wording_version and len(consent.wording_sha256) == 64
        jobs = s.scalars(select(Job)).all()
        assert len(jobs) == 2 and all(j.published_at is not None for j in jobs)
        actions = [e.action for e in s.scalars(select(Event).order_by(Event.id))]
        assert actions == ["received", "transcription_queued"]
    stored = _files_under(config.storage_path)
    assert len(stored) == 4


def test_without_transcription_consent_no_job_and_no_original(
    app: Flask, client: FlaskClient
) -> None:
    response = submit(
        client, [(fx.tone_wav(1.0), "a.wav")], consent={"publish_named": "y"}, name="Someone"
    )
    assert response.status_code == 200
    with app.extensions["testimony"].db.session() as s:
        t = s.scalars(select(Testimony)).one()
        assert t.state == TestimonyState.received
        assert t.audio_files[0].original_name is None
    assert _count(app, Job) == 0


def test_canary_is_nowhere_in_plaintext(app: Flask, client: FlaskClient, config: Config) -> None:
    canary = fx.CANARY
    mp3 = fx.tone_mp3(1.0)
    assert canary.encode() in mp3
    response = submit(
        client,
        [(mp3, "a.mp3")],
        name=canary,
        contact=f"{canary}@example.org",
        removal_notes=f"remove {canary}",
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    needles = [canary.encode(), canary.encode("utf-16-le")]
    scanned = 0
    for path in _files_under(config.instance_path):
        blob = path.read_bytes()
        scanned += 1
        for needle in needles:
            assert needle not in blob, f"canary found in {path}"
    assert scanned >= 3
    if not config.database_url.startswith("sqlite"):
        with app.extensions["testimony"].db.engine.connect() as conn:
            from sqlalchemy import text

            for table in ("testimony", "identity", "consent", "audio_file", "event", "job"):
                for row in conn.execute(text(f"SELECT * FROM {table}")):  # noqa: S608
                    assert canary not in repr(row)


def test_identity_is_sealed_apart(app: Flask, client: FlaskClient) -> None:
    submit(client, [(fx.tone_wav(1.0), "a.wav")], name="Parvaneh", contact="+98 912")
    with app.extensions["testimony"].db.session() as s:
        identity = s.scalars(select(Identity)).one()
        t = s.scalars(select(Testimony)).one()
        assert identity.wrapped_key != t.wrapped_key
        assert b"Parvaneh" not in identity.sealed


BAD_FILES = [
    ("empty", b"", "a.mp3", "The file is empty."),
    ("text", fx.text_bytes(), "a.mp3", "not a recording we can read"),
    ("pdf", fx.fake_pdf(), "a.mp3", "not a recording we can read"),
    ("zip", fx.fake_zip(), "a.mp3", "not a recording we can read"),
    ("truncated_mp3", fx.truncated(fx.tone_mp3(6.0), 0.4), "a.mp3", "damaged or incomplete"),
    ("wav_claims_hours", fx.wav_header_claiming(3.0), "a.wav", "longer than this archive"),
    ("zero_channels", fx.wav_with(channels=0), "a.wav", "contains no audio channels"),
    ("absurd_rate", fx.wav_with(sample_rate=7), "a.wav", "audio format is not supported"),
    ("hls", fx.hls_playlist(), "a.mp3", "not a recording we can read"),
]


@pytest.mark.parametrize(
    ("case", "content", "filename", "message"), BAD_FILES, ids=[c[0] for c in BAD_FILES]
)
def test_bad_file_is_refused_and_leaves_nothing(
    app: Flask,
    client: FlaskClient,
    config: Config,
    case: str,
    content: bytes,
    filename: str,
    message: str,
) -> None:
    response = submit(client, [(content, filename)])
    assert response.status_code == 400, case
    assert message in response.get_data(as_text=True)
    _assert_nothing_left(app, config)


def test_bad_second_file_refuses_whole_submission(
    app: Flask, client: FlaskClient, config: Config
) -> None:
    response = submit(client, [(fx.tone_wav(1.0), "a.wav"), (fx.fake_pdf(), "b.mp3")])
    assert response.status_code == 400
    assert "File 2:" in response.get_data(as_text=True)
    _assert_nothing_left(app, config)


def test_file_over_size_limit_gets_413_and_leaves_nothing(
    app: Flask, client: FlaskClient, config: Config
) -> None:
    big = fx.tone_wav(1.0) + os.urandom(config.max_upload_bytes)
    response = submit(client, [(big, "big.wav")])
    assert response.status_code == 413
    assert "larger than this archive accepts" in response.get_data(as_text=True)
    _assert_nothing_left(app, config)


def test_over_duration_limit_is_refused(app: Flask, client: FlaskClient, config: Config) -> None:
    long_wav = fx.tone_wav(config.max_duration_s + 5, rate=8000, channels=1)
    response = submit(client, [(long_wav, "long.wav")])
    assert response.status_code == 400
    assert "longer than this archive" in response.get_data(as_text=True)
    _assert_nothing_left(app, config)


def test_no_consent_is_refused(app: Flask, client: FlaskClient, config: Config) -> None:
    response = submit(client, [(fx.tone_wav(1.0), "a.wav")], consent={})
    assert response.status_code == 400
    assert "at least one use" in response.get_data(as_text=True)
    _assert_nothing_left(app, config)


def test_translation_without_transcription_is_refused(
    app: Flask, client: FlaskClient, config: Config
) -> None:
    response = submit(client, [(fx.tone_wav(1.0), "a.wav")], consent={"translate": "y"})
    assert response.status_code == 400
    assert "needs a transcript" in response.get_data(as_text=True)
    _assert_nothing_left(app, config)


def test_no_file_is_refused(app: Flask, client: FlaskClient, config: Config) -> None:
    response = submit(client, [])
    assert response.status_code == 400
    assert "choose at least one audio file" in response.get_data(as_text=True)
    _assert_nothing_left(app, config)


def test_html_in_fields_is_escaped_not_run(app: Flask, client: FlaskClient) -> None:
    script = "<script>alert(1)</script>"
    response = submit(client, [(fx.text_bytes(), "a.mp3")], name=script, removal_notes=script)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert script not in html
    assert "&lt;script&gt;" in html  # the visitor's own text comes back, inert


def test_missing_csrf_token_is_refused(app: Flask, client: FlaskClient, config: Config) -> None:
    import io

    response = client.post(
        "/submit",
        data={"language": "en", "archive": "y", "audio": (io.BytesIO(fx.tone_wav(1.0)), "a.wav")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
    _assert_nothing_left(app, config)


def test_security_headers(client: FlaskClient) -> None:
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    html = response.get_data(as_text=True)
    assert "<script>" not in html and "style=" not in html
    assert "http://" not in html and "https://" not in html


def test_session_cookie_flags(app: Flask, client: FlaskClient) -> None:
    response = client.get("/")
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_persian_interface_is_rtl_with_persian_digits(client: FlaskClient) -> None:
    client.get("/language/fa?next=/")
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="fa" dir="rtl">' in html
    response = submit(client, [(fx.tone_wav(1.0), "a.wav")])
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    shown = page.split('id="receipt-code"')[1].split("<")[0]
    assert any(ch in shown for ch in "۰۱۲۳۴۵۶۷۸۹")
    assert not any(ch in shown for ch in "0123456789")


def test_english_interface_is_ltr(client: FlaskClient) -> None:
    client.get("/language/en?next=/")
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in html


def test_language_switch_is_not_an_open_redirect(client: FlaskClient) -> None:
    response = client.get("/language/en?next=//evil.example/")
    assert response.headers["Location"] == "/"


def test_receipt_shows_status_and_solar_hijri_date(app: Flask, client: FlaskClient) -> None:
    client.get("/language/fa?next=/")
    code = receipt_code(submit(client, [(fx.tone_wav(1.0), "a.wav")]))
    persian_code = code.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    token = csrf_token(client, "/receipt")
    response = client.post("/receipt", data={"csrf_token": token, "code": persian_code})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    import jdatetime

    year = jdatetime.date.today().year
    assert str(year).translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")) in html


def test_add_audio_with_receipt(app: Flask, client: FlaskClient) -> None:
    code = receipt_code(submit(client, [(fx.tone_wav(1.0), "a.wav")]))
    import io

    token = csrf_token(client, "/receipt")
    response = post_multipart(
        client,
        "/receipt/add",
        {
            "csrf_token": token,
            "code": code,
            "audio": [(io.BytesIO(fx.tone_ogg_opus(1.0)), "b.ogg")],
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "was added" in response.get_data(as_text=True)
    assert _count(app, AudioFile) == 2
    assert _count(app, Job) == 2


def test_withdraw_destroys_content_and_keeps_tombstone(
    app: Flask, client: FlaskClient, config: Config
) -> None:
    code = receipt_code(submit(client, [(fx.tone_wav(1.0), "a.wav")], name="Someone"))
    token = csrf_token(client, "/receipt")
    refused = client.post("/receipt/withdraw", data={"csrf_token": token, "code": code})
    assert refused.status_code == 400  # the confirmation box was not ticked
    assert _count(app, Identity) == 1
    response = client.post(
        "/receipt/withdraw", data={"csrf_token": token, "code": code, "confirm": "y"}
    )
    assert response.status_code == 200
    with app.extensions["testimony"].db.session() as s:
        t = s.scalars(select(Testimony)).one()
        assert t.state == TestimonyState.withdrawn
        assert t.wrapped_key is None and t.withdrawn_at is not None
        assert all(j.status.value == "cancelled" for j in s.scalars(select(Job)))
    assert _count(app, Identity) == 0
    assert _files_under(config.storage_path) == []  # type: ignore[arg-type]
    status = client.post("/receipt", data={"csrf_token": token, "code": code})
    assert "Withdrawn" in status.get_data(as_text=True)


def test_no_address_or_user_agent_is_written(
    app: Flask, client: FlaskClient, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    marker_ip = "203.0.113.77"
    marker_ua = "UA-MARKER-Mozilla/5.0-9f2c"
    caplog.set_level("DEBUG")
    client.environ_base.update({"REMOTE_ADDR": marker_ip, "HTTP_USER_AGENT": marker_ua})
    response = submit(client, [(fx.tone_wav(1.0), "a.wav")])
    assert response.status_code == 200
    for text in (caplog.text,):
        assert marker_ip not in text and marker_ua not in text
    for path in _files_under(config.instance_path):
        blob = path.read_bytes()
        assert marker_ip.encode() not in blob and marker_ua.encode() not in blob


def test_large_body_is_read_in_large_blocks(app: Flask, client: FlaskClient) -> None:
    wav = fx.tone_wav(12.0)  # 2.3 MB: over the 1 MiB block of the LargeReads middleware
    assert len(wav) > 2 * 1024 * 1024
    response = submit(client, [(wav, "long.wav")])
    assert response.status_code == 200
    with app.extensions["testimony"].db.session() as s:
        assert round(s.scalars(select(AudioFile)).one().duration_s, 1) == 12.0


def test_failed_store_write_while_adding_audio_leaves_no_new_file(
    app: Flask, client: FlaskClient, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = receipt_code(submit(client, [(fx.tone_wav(1.0), "a.wav")]))
    before = sorted(_files_under(config.storage_path))
    store = app.extensions["testimony"].store
    real_write = store.write
    calls = []

    def write_then_fail(*args: object, **kwargs: object) -> int:
        # The disk fills up after the first new file: the one seam is the store's write.
        calls.append(args)
        if len(calls) > 1:
            raise OSError("no space left on device")
        return real_write(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "write", write_then_fail)
    token = csrf_token(client, "/receipt")
    data = {"csrf_token": token, "code": code, "audio": [(io.BytesIO(fx.tone_wav(1.0)), "b.wav")]}
    with pytest.raises(OSError):
        post_multipart(client, "/receipt/add", data)
    assert len(calls) == 2
    assert sorted(_files_under(config.storage_path)) == before
    assert _count(app, AudioFile) == 1


@pytest.mark.parametrize(("consent", "jobs"), [({"archive": "y"}, 0), (None, 2)])
def test_audio_added_later_is_transcribed_only_with_transcription_consent(
    app: Flask, client: FlaskClient, consent: dict[str, str] | None, jobs: int
) -> None:
    """Nothing beyond what was consented is done: a file added with the receipt code joins a
    testimony whose submitter did not agree to transcription, and no job is queued for it."""
    code = receipt_code(submit(client, [(fx.tone_wav(1.0), "a.wav")], consent=consent))
    token = csrf_token(client, "/receipt")
    response = post_multipart(
        client,
        "/receipt/add",
        {"csrf_token": token, "code": code, "audio": [(io.BytesIO(fx.tone_wav(1.0)), "b.wav")]},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert _count(app, AudioFile) == 2
    assert _count(app, Job) == jobs
    with app.extensions["testimony"].db.session() as s:
        actions = [e.action for e in s.scalars(select(Event))]
    assert ("transcription_queued" in actions) == bool(jobs)
