"""What an upload may cost the archive: the duration left to a submission, the store's room,
and file names, which are ignored rather than refused."""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from intake import audio, create_app, crypto
from intake.cli import main
from intake.config import Config
from intake.models import AudioFile, Identity, Job, Testimony
from intake.storage import Store, StoreFull
from tests import audio_fixtures as fx
from tests.support import csrf_token, post_multipart, receipt_code, submit

MARK = "zqxmark"
PERSIAN_WINDOWS_NAME = (
    "ضبط صدا - شهادت مادرم دربارهٔ اعدام برادرم در زندان گوهردشت در تابستان ۱۳۶۷ "
    "و آنچه خانواده\u200cها در خاوران دیدند - قسمت اولِ (نسخهٔ نهایی ویرایش\u200cشده).m4a"
)


def _count(app: Flask, model: type) -> int:
    with app.extensions["testimony"].db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def _assert_nothing_left(app: Flask, config: Config) -> None:
    for model in (Testimony, AudioFile, Identity, Job):
        assert _count(app, model) == 0, model
    assert _files_under(config.storage_path) == []
    assert _files_under(config.temp_path) == []


@pytest.fixture
def make_app(migrated: Config) -> Iterator[tuple[Config, Flask, FlaskClient]]:
    """The web app with some settings changed for one test (call it once)."""
    made: list[Flask] = []

    def build(**overrides: object) -> tuple[Config, Flask, FlaskClient]:
        config = migrated.with_overrides(**overrides)
        application = create_app(config)
        made.append(application)
        client = application.test_client()
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        return config, application, client

    yield build  # type: ignore[misc]
    for application in made:
        application.extensions["testimony"].db.dispose()


# --------------------------------------------------------------------------------------------
# File names


NAMES = [
    ("dotdot", f"../../{MARK}.wav", MARK),
    ("rtl_override", f"{MARK}\u202egpj.wav", MARK),
    ("long_name", MARK + "a" * 1000 + ".wav", MARK),
    ("nul", f"{MARK}\x00.wav", MARK),
    ("persian_windows", PERSIAN_WINDOWS_NAME, PERSIAN_WINDOWS_NAME[:40]),
]


@pytest.mark.parametrize(("case", "name", "needle"), NAMES, ids=[n[0] for n in NAMES])
def test_any_file_name_is_accepted_and_stored_nowhere(
    app: Flask, client: FlaskClient, config: Config, case: str, name: str, needle: str
) -> None:
    assert case != "persian_windows" or len(name) == 150
    response = submit(client, [(fx.tone_wav(1.0), name)])
    assert response.status_code == 200, response.get_data(as_text=True)
    assert _count(app, AudioFile) == 1
    needles = [needle.encode(), needle.encode("utf-16-le")]
    for path in _files_under(config.instance_path):  # the SQLite database included
        blob = path.read_bytes()
        assert not any(n in blob for n in needles), f"the file name is in {path}"
    if not config.database_url.startswith("sqlite"):
        with app.extensions["testimony"].db.engine.connect() as conn:
            for table in ("testimony", "audio_file", "event", "job"):
                for row in conn.execute(text(f"SELECT * FROM {table}")):  # noqa: S608
                    assert needle not in repr(row)


# --------------------------------------------------------------------------------------------
# Duration: each file may use only what the files before it left


def _long_silence(seconds: float) -> bytes:
    """Hours of AAC silence in a few hundred kilobytes, with no stated duration.

    ADTS frames stand alone, so ten seconds of encoded silence repeated is one long stream;
    ADTS states no length, so only decoding finds out how long it is.
    """
    ten_s = fx.encode_pcm("adts", "aac", bytes(10 * 44100 * 2), rate=44100, vbr_quality=236)
    return ten_s * round(seconds / 10)


def _cpu_of_copy(data: bytes, limit_s: float) -> float:
    start = time.process_time()
    with contextlib.suppress(audio.AudioRejected):
        audio.make_access_copy(io.BytesIO(data), io.BytesIO(), max_duration_s=limit_s)
    return time.process_time() - start


def test_file_after_one_that_used_most_of_the_limit_stops_at_once(
    make_app: object,
) -> None:
    config, app, client = make_app(max_duration_s=300.0)  # type: ignore[operator]
    # Both are small uploads, so that decoding, not receiving, is what the CPU time measures.
    first = _long_silence(290.0)
    silence = _long_silence(3600.0)
    # What the two files cost when each is decoded to the submission's whole limit, as they
    # were before: the silence alone decodes 300 s before it is found too long.
    first_cpu = _cpu_of_copy(first, config.max_duration_s)
    silence_cpu = _cpu_of_copy(silence, config.max_duration_s)
    start = time.process_time()
    response = submit(client, [(first, "a.wav"), (silence, "b.aac")])
    spent = time.process_time() - start
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "File 2:" in page and "longer than this archive" in page
    # Only the 10 s left may be decoded from the silence: far below its full decoding.
    assert spent < first_cpu + 0.5 * silence_cpu, (spent, first_cpu, silence_cpu)
    _assert_nothing_left(app, config)


def test_many_files_of_silence_cost_little(make_app: object) -> None:
    config, app, client = make_app(max_duration_s=300.0)  # type: ignore[operator]
    # Each alone is under the limit; two together are not.
    # Five different files: the same file sent twice is kept once (a reload), not refused.
    files = [_long_silence(250.0 + 10 * n) for n in range(5)]
    reference = _cpu_of_copy(files[0], config.max_duration_s)
    start = time.process_time()
    response = submit(client, [(data, f"{n}.aac") for n, data in enumerate(files)])
    spent = time.process_time() - start
    assert response.status_code == 400
    # Every file is checked so that the form reports all its errors in one round, but each
    # later file may only decode the 50 s left after the first: 250 + 4 x 50 = 450 s in all
    # (under two references), where each of the five used to be decoded whole (1250 s, five).
    assert spent < 3 * reference, (spent, reference)
    assert "File 2:" in response.get_data(as_text=True)
    _assert_nothing_left(app, config)


def test_added_audio_counts_what_the_testimony_already_holds(make_app: object) -> None:
    config, app, client = make_app(max_duration_s=60.0)  # type: ignore[operator]
    code = receipt_code(submit(client, [(fx.tone_wav(50.0, rate=8000, channels=1), "a.wav")]))
    before = sorted(_files_under(config.storage_path))
    token = csrf_token(client, "/receipt")
    # Alone it is well under the limit; with the 50 s already held it is over.
    added = fx.tone_wav(20.0, rate=8000, channels=1)
    data = {"csrf_token": token, "code": code, "audio": [(io.BytesIO(added), "b.wav")]}
    response = post_multipart(client, "/receipt/add", data)
    assert response.status_code == 400
    assert "longer than this archive" in response.get_data(as_text=True)
    assert sorted(_files_under(config.storage_path)) == before
    assert _count(app, AudioFile) == 1


def test_added_audio_counts_the_files_the_testimony_already_holds(make_app: object) -> None:
    config, app, client = make_app(max_files_per_submission=2)  # type: ignore[operator]
    code = receipt_code(submit(client, [(fx.tone_wav(1.0, rate=8000, channels=1), "a.wav")]))
    token = csrf_token(client, "/receipt")
    # Two more alone would be within the limit; with the one already held they are not.
    two = [(io.BytesIO(fx.tone_wav(1.0, rate=8000, channels=1)), f"{n}.wav") for n in "bc"]
    response = post_multipart(
        client, "/receipt/add", {"csrf_token": token, "code": code, "audio": two}
    )
    assert response.status_code == 400
    assert "Too many files" in response.get_data(as_text=True)
    assert _count(app, AudioFile) == 1
    one = [(io.BytesIO(fx.tone_wav(1.0, rate=8000, channels=1)), "b.wav")]
    response = post_multipart(
        client, "/receipt/add", {"csrf_token": token, "code": code, "audio": one}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert _count(app, AudioFile) == 2


# --------------------------------------------------------------------------------------------
# The store's room


def test_upload_larger_than_the_room_left_is_refused_before_it_is_read(
    make_app: object,
) -> None:
    config, app, client = make_app(store_quota_bytes=100_000)  # type: ignore[operator]
    # 192 kB of WAV: the body alone does not fit. Without archive consent only the small
    # access copy would be stored, so only the check on the body refuses it.
    response = submit(client, [(fx.tone_wav(1.0), "a.wav")], consent={"transcribe": "y"})
    assert response.status_code == 507
    assert "cannot take new recordings" in response.get_data(as_text=True)
    _assert_nothing_left(app, config)


def test_store_full_is_said_in_persian(make_app: object) -> None:
    config, app, client = make_app(store_quota_bytes=1000)  # type: ignore[operator]
    client.get("/language/fa?next=/")
    response = submit(client, [(fx.tone_wav(1.0), "a.wav")])
    assert response.status_code == 507
    assert "بایگانی در حال حاضر نمی‌تواند" in response.get_data(as_text=True)
    _assert_nothing_left(app, config)


def test_files_that_do_not_fit_once_decoded_are_refused(make_app: object) -> None:
    wav = fx.tone_wav(1.0)
    # The body fits; the original plus its access copy do not.
    config, app, client = make_app(store_quota_bytes=len(wav) + 4000)  # type: ignore[operator]
    response = submit(client, [(wav, "a.wav")])
    assert response.status_code == 400
    assert "cannot take new recordings" in response.get_data(as_text=True)
    _assert_nothing_left(app, config)


def test_reserve_of_free_space_refuses_uploads(make_app: object, tmp_path: Path) -> None:
    stats = os.statvfs(tmp_path)
    free = stats.f_bavail * stats.f_frsize
    config, app, client = make_app(  # type: ignore[operator]
        store_reserve_bytes=free + 1024**3
    )
    response = submit(client, [(fx.tone_wav(1.0), "a.wav")])
    assert response.status_code == 507
    _assert_nothing_left(app, config)


def test_write_stops_at_the_quota_and_leaves_nothing(tmp_path: Path) -> None:
    store, key = Store(tmp_path, quota_bytes=3 * 1024**2), crypto.new_data_key()
    store.write(key, "abc123", "audio-01.flac", io.BytesIO(b"x" * 1024**2))
    with pytest.raises(StoreFull):
        store.write(key, "abc123", "audio-02.flac", io.BytesIO(b"y" * 3 * 1024**2))
    assert [p.name for p in _files_under(tmp_path)] == ["audio-01.flac"]
    store.ensure_room(1024**2)
    with pytest.raises(StoreFull):
        store.ensure_room(3 * 1024**2)


def test_write_keeps_the_disk_reserve(tmp_path: Path) -> None:
    stats = os.statvfs(tmp_path)
    # Leave room for about half a block above the reserve: the first block already eats it.
    reserve = stats.f_bavail * stats.f_frsize - 512 * 1024
    store = Store(tmp_path, reserve_bytes=reserve)
    with pytest.raises(StoreFull):
        store.write(crypto.new_data_key(), "abc123", "audio-01.flac", io.BytesIO(b"z" * 1024**2))
    assert _files_under(tmp_path) == []


def test_status_reports_the_store_and_warns_when_full(
    app: Flask, client: FlaskClient, config: Config
) -> None:
    assert submit(client, [(fx.tone_wav(1.0), "a.wav")]).status_code == 200
    used = sum(p.stat().st_size for p in _files_under(config.storage_path))
    env = {
        "TESTIMONY_INSTANCE_PATH": str(config.instance_path),
        "TESTIMONY_DATABASE_URL": config.database_url,
        "TESTIMONY_BROKER_URL": config.broker_url,
        "TESTIMONY_STORE_QUOTA_BYTES": str(used),
    }
    result = CliRunner().invoke(main, ["status"], env=env)
    assert result.exit_code == 0, result.output
    assert "Store: used" in result.output and "WARNING: the store is full" in result.output
    env["TESTIMONY_STORE_QUOTA_BYTES"] = str(int(used / 0.95))
    report = CliRunner().invoke(main, ["status", "--json"], env=env)
    assert f'"used_bytes": {used}' in report.output
    assert "over 90% of its quota" in report.output
    env["TESTIMONY_STORE_QUOTA_BYTES"] = str(used * 4)
    calm = CliRunner().invoke(main, ["status"], env=env)
    assert "Store: used" in calm.output and "WARNING" not in calm.output
