"""Each of the two locks on FFmpeg's script demuxers holds on its own.

An ffconcat script names another file for FFmpeg to read. The upload check stops it twice: the
format allowlist never lets the concat demuxer run, and the protocol allowlist lets no demuxer
open a second file. With both, dropping either one changes nothing visible, so each test here
relaxes the other lock on purpose and checks that the remaining one still refuses; and a
control with both relaxed shows that the script would otherwise really be read.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from intake import audio
from intake.audio import AccessCopyInfo, AudioRejected, make_access_copy
from tests import audio_fixtures as fx

# Enough for the concat demuxer to read a local file named in the script.
OPEN_PROTOCOLS = "file,pipe,concat,crypto,data"


def _copy(data: bytes) -> AccessCopyInfo:
    return make_access_copy(io.BytesIO(data), io.BytesIO(), max_duration_s=60.0)


@pytest.fixture
def script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """An ffconcat script naming a real recording next to it."""
    (tmp_path / "other.wav").write_bytes(fx.tone_wav(1.0))
    monkeypatch.chdir(tmp_path)
    return fx.ffconcat("other.wav")


def _relax(monkeypatch: pytest.MonkeyPatch, *, formats: bool, protocols: bool) -> None:
    options = audio._DEMUXER_OPTIONS  # the options the check hands to FFmpeg
    if formats:
        monkeypatch.setitem(options, "format_whitelist", options["format_whitelist"] + ",concat")
    if protocols:
        monkeypatch.setitem(options, "protocol_whitelist", OPEN_PROTOCOLS)


def test_control_without_both_locks_the_script_reads_another_file(
    script: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    _relax(monkeypatch, formats=True, protocols=True)
    info = _copy(script)
    assert info.source_format == "concat" and info.duration_s == pytest.approx(1.0)


def test_format_allowlist_alone_refuses_ffconcat(
    script: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "concat" not in audio.INPUT_FORMATS
    _relax(monkeypatch, formats=False, protocols=True)
    with pytest.raises(AudioRejected) as refused:
        _copy(script)
    assert refused.value.reason == "not_audio"


def test_protocol_allowlist_alone_refuses_ffconcat(
    script: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    _relax(monkeypatch, formats=True, protocols=False)
    with pytest.raises(AudioRejected) as refused:
        _copy(script)
    assert refused.value.reason == "not_audio"
