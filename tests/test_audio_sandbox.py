"""The confined process that parses uploads: the same copies as in the web process, limits
that refuse a file cleanly, and nothing of the app's secrets in its reach."""

from __future__ import annotations

import ctypes
import hashlib
import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from intake import audio, audio_sandbox
from intake.audio_sandbox import Limits
from intake.config import Config
from intake.crypto import EncryptedTempFile, Keyring
from intake.db import Database
from intake.models import AudioFile, Language, Testimony
from intake.public import submissions
from intake.public.consent import ConsentChoices
from intake.storage import Store
from tests import audio_fixtures as fx

ROOMY = Limits(cpu_s=60, memory_bytes=1024**3, wall_s=60.0)


def sandboxed(
    tmp_path: Path, data: bytes, limits: Limits = ROOMY, max_duration_s: float = 60.0
) -> tuple[audio.AccessCopyInfo, bytes]:
    dest = EncryptedTempFile(tmp_path)
    try:
        info = audio_sandbox.make_access_copy(
            io.BytesIO(data), dest, max_duration_s=max_duration_s, limits=limits, temp_dir=tmp_path
        )
        return info, dest.read()
    finally:
        dest.close()


def in_process(data: bytes, max_duration_s: float = 60.0) -> tuple[audio.AccessCopyInfo, bytes]:
    dest = io.BytesIO()
    info = audio.make_access_copy(io.BytesIO(data), dest, max_duration_s=max_duration_s)
    return info, dest.getvalue()


def a_long_cheap_file() -> bytes:
    """25 minutes of AAC silence in 700 KB: about 2 CPU-seconds of decoding and encoding."""
    return fx.aac_adts_vbr(10.0, 0.0) * 150


@pytest.mark.parametrize(
    "make",
    [
        lambda: fx.tone_wav(2.0),
        lambda: fx.tone_mp3(2.0),
        lambda: fx.tone_webm_opus(1.0),
        lambda: fx.tone_m4a(1.0),
        lambda: fx.video_mp4(1.0),
        lambda: fx.wav_with_info_tag(fx.CANARY.encode()),
    ],
)
def test_the_child_makes_the_same_copy_as_the_library(
    tmp_path: Path, make: Callable[[], bytes]
) -> None:
    data = make()
    assert sandboxed(tmp_path, data) == in_process(data)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: b"", "empty"),
        (fx.text_bytes, "not_audio"),
        (fx.hls_playlist, "not_audio"),
        (fx.ffconcat, "not_audio"),
        (lambda: fx.truncated(fx.tone_mp3(3.0), 0.5), "damaged"),
        (lambda: fx.wav_header_claiming(2.0), "too_long"),
        (lambda: fx.wav_with(channels=0), "no_channels"),
        (lambda: fx.wav_with(sample_rate=999), "bad_sample_rate"),
    ],
)
def test_the_child_refuses_for_the_same_reasons(
    tmp_path: Path, make: Callable[[], bytes], reason: str
) -> None:
    with pytest.raises(audio.AudioRejected) as caught:
        sandboxed(tmp_path, make())
    assert caught.value.reason == reason


def test_a_file_past_the_cpu_limit_is_refused_as_damaged(tmp_path: Path) -> None:
    data = a_long_cheap_file()
    info, _copy = sandboxed(tmp_path, data, max_duration_s=3600.0)  # the control: it is fine
    assert info.duration_s > 1400
    with pytest.raises(audio.AudioRejected) as caught:
        sandboxed(tmp_path, data, Limits(1, ROOMY.memory_bytes, 60.0), max_duration_s=3600.0)
    assert caught.value.reason == "damaged"
    assert "SIGXCPU" in caught.value.detail or "SIGKILL" in caught.value.detail


def test_a_file_past_the_memory_limit_is_refused_as_damaged(tmp_path: Path) -> None:
    with pytest.raises(audio.AudioRejected) as caught:
        sandboxed(tmp_path, fx.tone_wav(2.0), Limits(60, 64 * 1024**2, 60.0))
    assert caught.value.reason == "damaged"
    assert "memory" in caught.value.detail


def test_a_file_past_the_wall_clock_limit_is_refused_and_the_child_killed(
    tmp_path: Path,
) -> None:
    before = _children()
    with pytest.raises(audio.AudioRejected) as caught:
        sandboxed(tmp_path, fx.tone_wav(2.0), Limits(60, ROOMY.memory_bytes, 0.05))
    assert caught.value.reason == "damaged"
    assert "took more than" in caught.value.detail
    assert _children() == before


def _children() -> set[int]:
    own = f"/proc/self/task/{os.getpid()}/children"
    return {int(pid) for pid in Path(own).read_text().split()}


def test_limits_refuse_a_submission_cleanly_and_store_nothing(
    migrated: Config, tmp_path: Path
) -> None:
    config = migrated.with_overrides(audio_cpu_limit_s=1, max_duration_s=3600.0)
    keyring = Keyring.load(
        archive=config.archive_keys, pepper=config.receipt_pepper_file, create=True
    )
    store = Store(config.storage_path)
    db = Database(config.database_url)
    sub = submissions.Submission(
        language=Language.en,
        choices=ConsentChoices(True, True, False, False, False, None),
        locale="en",
        name="",
        contact="",
        removal_notes="",
        uploads=[
            submissions.Upload(io.BytesIO(fx.tone_wav(1.0)), "a.wav"),
            submissions.Upload(io.BytesIO(a_long_cheap_file()), "b.aac"),
        ],
    )
    try:
        with db.session() as session, pytest.raises(submissions.SubmissionRejected) as caught:
            submissions.accept(session, store, keyring, config, sub)
        assert (caught.value.reason, caught.value.index) == ("damaged", 2)
        with db.session() as session:
            assert session.scalar(select(func.count()).select_from(Testimony)) == 0
            assert session.scalar(select(func.count()).select_from(AudioFile)) == 0
        assert store.storage_ids() == []
        assert list(config.temp_path.iterdir()) == []  # spools unlinked from the start
    finally:
        db.dispose()


def test_the_child_holds_no_secret_and_no_descriptor_of_ours(
    migrated: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = "postgresql://intake:CANARY-db-password@db/testimony"
    monkeypatch.setenv("TESTIMONY_DATABASE_URL", canary)
    monkeypatch.setenv("TESTIMONY_BROKER_URL", "redis://:CANARY-broker@redis/0")
    Keyring.load(archive=migrated.archive_keys, create=True)
    key_path = str(migrated.archive_keys.private)
    # A descriptor this process holds open and would let a child inherit.
    held = os.open(key_path, os.O_RDONLY)
    os.set_inheritable(held, True)
    try:
        report = audio_sandbox.probe(ROOMY, [key_path])
    finally:
        os.close(held)

    assert "CANARY" not in repr(report["environ"])
    # Python sets LC_CTYPE itself (PEP 538); nothing else comes through.
    assert set(report["environ"]) <= {"LC_CTYPE"}
    assert sorted(entry["fd"] for entry in report["fds"]) == [0, 1, 2]
    assert all(entry["target"].startswith("pipe:") for entry in report["fds"])
    limits = report["limits"]
    assert limits["RLIMIT_CPU"] == [60, 60]
    assert limits["RLIMIT_AS"] == [1024**3, 1024**3]
    assert limits["RLIMIT_CORE"] == [0, 0]
    with open(key_path, "rb") as mine:  # this process can read it...
        assert len(mine.read()) == 32
    if not _kernel_has_landlock():
        pytest.skip("this kernel has no Landlock: the key file is within the child's reach")
    assert report["landlock"] is True
    assert report["opened"] == {key_path: False}  # ...the child cannot


def _kernel_has_landlock() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.syscall(444, None, 0, 1)) >= 1  # landlock_create_ruleset(VERSION)


def test_the_child_sees_only_the_two_files_it_works_on(tmp_path: Path) -> None:
    """The copy works through exactly the descriptors passed: the same spool, the same copy,
    whatever the parent holds besides."""
    spool, dest = EncryptedTempFile(tmp_path), EncryptedTempFile(tmp_path)
    data = fx.tone_wav(1.0)
    spool.write(data)
    try:
        info = audio_sandbox.make_access_copy(
            spool, dest, max_duration_s=10.0, limits=ROOMY, temp_dir=tmp_path
        )
        assert spool.tell() == len(data) or spool.seek(0) == 0  # the parent's view is intact
        spool.seek(0)
        assert hashlib.sha256(spool.read()).digest() == hashlib.sha256(data).digest()
        assert (info, dest.read()) == in_process(data)
    finally:
        spool.close()
        dest.close()


@pytest.mark.parametrize(
    "answer",
    [
        [],
        {"rejected": "pwned"},
        {"info": {"duration_s": 1e9, "source_format": "wav", "source_codec": "x",
                  "sample_rate": 16000, "channels": 1}},
        {"info": {"duration_s": 1.0, "source_format": "wav", "source_codec": "x",
                  "sample_rate": 16000, "channels": 0}},
        {"info": {"duration_s": 1.0}},
    ],
)  # fmt: skip
def test_an_answer_a_taken_over_child_could_give_is_refused(answer: object) -> None:
    with pytest.raises(audio.AudioRejected) as caught:
        audio_sandbox._read_answer(answer, 60.0)
    assert caught.value.reason == "damaged"


_UNDER_GEVENT = """
from gevent import monkey

monkey.patch_all()

import io, sys, tempfile, time
from pathlib import Path

import gevent

from intake import audio_sandbox, crypto
from tests import audio_fixtures as fx

ticks = []


def tick():
    while True:
        ticks.append(time.monotonic())
        gevent.sleep(0.01)


folder = Path(tempfile.mkdtemp())
data = fx.tone_wav(20.0)
ticker = gevent.spawn(tick)
gevent.sleep(0.05)
dest = crypto.EncryptedTempFile(folder)
started = time.monotonic()
info = audio_sandbox.make_access_copy(
    io.BytesIO(data), dest, max_duration_s=60.0, temp_dir=folder,
    limits=audio_sandbox.Limits(60, 1024**3, 60.0),
)
ended = time.monotonic()
ticker.kill()
during = [t for t in ticks if started <= t <= ended]
gaps = [b - a for a, b in zip(during, during[1:])]
print(info.duration_s, ended - started, len(during), max(gaps))
"""


def test_under_gevent_the_loop_goes_on_while_a_file_is_parsed(tmp_path: Path) -> None:
    """The web server's way: from a greenlet, with gevent's subprocess."""
    done = subprocess.run(
        [sys.executable, "-c", _UNDER_GEVENT],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    assert done.returncode == 0, done.stderr
    duration, took, ticks, longest_gap = (float(x) for x in done.stdout.split())
    assert duration == 20.0
    # The other greenlet ran all along (the parse takes a few tenths of a second).
    assert ticks >= 5 and longest_gap < min(0.25, took / 2), done.stdout


def test_the_file_size_and_open_files_limits_bite_in_the_child() -> None:
    """Not only set: in the real child a write past the largest copy is refused (EFBIG, where
    without the limit a hostile file could fill the disk through the copy) and a descriptor
    past the 64th is refused (EMFILE)."""
    report = audio_sandbox.probe(ROOMY, [])
    file_bytes = audio_sandbox._child_limits(ROOMY, 1.0)["file_bytes"]  # noqa: SLF001
    assert report["limits"]["RLIMIT_FSIZE"] == [file_bytes, file_bytes]
    assert report["limits"]["RLIMIT_NOFILE"] == [64, 64]
    # The last byte allowed is written (in the probe), the next one is not.
    assert report["write_past_file_limit"] == "EFBIG"
    assert report["descriptors"] == {"highest": 63, "refused": "EMFILE"}
