"""Tests for intake.audio: recognising uploads by content and making clean access copies."""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import pytest

from intake import audio
from intake.audio import AccessCopyInfo, AudioRejected, make_access_copy
from intake.crypto import EncryptedTempFile
from tests import audio_fixtures as fx

LIMIT_S = 60.0


class NamedBytesIO(io.BytesIO):
    """An in-memory upload that also has a file name, as a client would choose one."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(data)
        self.name = name


def copy(data: bytes, max_duration_s: float = LIMIT_S) -> tuple[AccessCopyInfo, bytes]:
    dest = io.BytesIO()
    info = make_access_copy(io.BytesIO(data), dest, max_duration_s=max_duration_s)
    assert dest.tell() == 0, "dest must be left at its start"
    return info, dest.getvalue()


def rejected(data: bytes | io.BytesIO, max_duration_s: float = LIMIT_S) -> AudioRejected:
    source = data if isinstance(data, io.BytesIO) else io.BytesIO(data)
    with pytest.raises(AudioRejected) as caught:
        make_access_copy(source, io.BytesIO(), max_duration_s=max_duration_s)
    return caught.value


def flac_blocks(data: bytes) -> list[tuple[int, bytes]]:
    """(block type, body) of every FLAC metadata block, in order."""
    assert data[:4] == b"fLaC"
    blocks, pos = [], 4
    while True:
        flags, length = data[pos], int.from_bytes(data[pos + 1 : pos + 4], "big")
        blocks.append((flags & 0x7F, data[pos + 4 : pos + 4 + length]))
        pos += 4 + length
        if flags & 0x80:
            return blocks


def streaminfo(data: bytes) -> tuple[int, int, int, int]:
    """(sample rate, channels, bits per sample, total samples) from the STREAMINFO block."""
    kind, body = flac_blocks(data)[0]
    assert kind == 0
    (packed,) = struct.unpack(">Q", body[10:18])
    rate, channels, bits = packed >> 44, ((packed >> 41) & 0x7) + 1, ((packed >> 36) & 0x1F) + 1
    return rate, channels, bits, packed & (2**36 - 1)


def decoded_samples(data: bytes) -> int:
    with av.open(io.BytesIO(data), mode="r") as container:
        return sum(int(frame.samples) for frame in container.decode(audio=0))


# --- accepted formats ------------------------------------------------------------------------

ACCEPTED: list[tuple[str, Callable[[], bytes], float, str, str]] = [
    ("wav", lambda: fx.tone_wav(1.5), 1.5, "wav", "pcm_s16le"),
    ("mp3", lambda: fx.tone_mp3(1.5), 1.5, "mp3", "mp3float"),
    ("ogg_opus", lambda: fx.tone_ogg_opus(1.5), 1.5, "ogg", "opus"),
    ("m4a_aac", lambda: fx.tone_m4a(1.5), 1.5, "mov,mp4,m4a,3gp,3g2,mj2", "aac"),
    ("webm_opus_mediarecorder", lambda: fx.tone_webm_opus(1.5), 1.5, "matroska,webm", "opus"),
    ("flac", lambda: fx.tone_flac(1.5), 1.5, "flac", "flac"),
    ("mp4_video_audio_second", lambda: fx.video_mp4(1.5), 1.5, "mov,mp4,m4a,3gp,3g2,mj2", "aac"),
    (
        "w64",
        lambda: fx.tone_encoded("w64", "pcm_s16le", 1.5, rate=22050),
        1.5,
        "w64",
        "pcm_s16le",
    ),
    ("adts_aac", lambda: fx.tone_encoded("adts", "aac", 1.5, rate=44100), 1.5, "aac", "aac"),
    (
        "aiff",
        lambda: fx.tone_encoded("aiff", "pcm_s16be", 1.5, rate=44100, channels=2),
        1.5,
        "aiff",
        "pcm_s16be",
    ),
    ("caf_alac", lambda: fx.tone_encoded("caf", "alac", 1.5, rate=48000), 1.5, "caf", "alac"),
    (
        "amr_nb",
        lambda: fx.tone_encoded("amr", "libopencore_amrnb", 1.5, rate=8000),
        1.5,
        "amr",
        "amrnb",
    ),
    (
        "asf_wma",
        lambda: fx.tone_encoded("asf", "wmav2", 1.5, rate=44100, channels=2, bit_rate=128000),
        1.5,
        "asf",
        "wmav2",
    ),
]


@pytest.mark.parametrize(
    ("make", "seconds", "source_format", "codec"),
    [case[1:] for case in ACCEPTED],
    ids=[case[0] for case in ACCEPTED],
)
def test_accepted_formats_become_16k_mono_flac(
    make: Callable[[], bytes], seconds: float, source_format: str, codec: str
) -> None:
    info, out = copy(make())

    assert info.source_format == source_format
    assert info.source_codec == codec
    assert info.duration_s == pytest.approx(seconds, abs=0.1)
    assert info.sample_rate >= 8000 and info.channels in (1, 2)
    rate, channels, bits, total = streaminfo(out)
    assert (rate, channels, bits) == (16000, 1, 16)
    assert total == pytest.approx(seconds * 16000, abs=0.1 * 16000)
    with av.open(io.BytesIO(out), mode="r") as container:
        assert container.format.name == audio.ACCESS_FORMAT
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "flac"
        assert (stream.sample_rate, stream.channels) == (16000, 1)
    assert decoded_samples(out) == total


def test_source_facts_are_reported() -> None:
    info, _ = copy(fx.tone_wav(1.0, rate=44100, channels=2))
    assert info == AccessCopyInfo(
        duration_s=1.0,
        source_format="wav",
        source_codec="pcm_s16le",
        sample_rate=44100,
        channels=2,
    )


def test_extension_is_ignored() -> None:
    """A WAV named .mp3 is still a WAV: the name never reaches FFmpeg's probing."""
    dest = io.BytesIO()
    info = make_access_copy(NamedBytesIO(fx.tone_wav(0.5), "x.mp3"), dest, max_duration_s=10)
    assert info.source_format == "wav"


def test_every_whitelisted_name_is_a_demuxer() -> None:
    """A misspelt name would silently shut out a format that uploads rely on."""
    assert set(audio.INPUT_FORMATS) <= av.formats_available
    for name in audio.INPUT_FORMATS:
        assert av.ContainerFormat(name, "r").is_input


def test_latin1_tags_do_not_break_a_good_wav() -> None:
    # PyAV decodes tags as strict UTF-8 at open unless told otherwise.
    data = fx.wav_with_info_tag(b"Entrevista \xe9t\xe9 \xff")
    with pytest.raises(UnicodeDecodeError):
        av.open(io.BytesIO(data)).close()
    info, _ = copy(data)
    assert info.duration_s == pytest.approx(1.0)


def test_variable_bitrate_estimate_is_not_taken_for_a_declared_duration() -> None:
    """FFmpeg guesses an ADTS file's length from its first packets; that is no claim."""
    data = fx.aac_adts_vbr(3.0, 2.0)
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.audio[0]
        assert stream.duration is not None and stream.time_base is not None
        estimate = float(stream.duration * stream.time_base)
    assert estimate > 20  # the guess this test is about: many times the real 5 s

    info, _ = copy(data)
    assert info.duration_s == pytest.approx(5.0, abs=0.1)


def test_rate_and_layout_changes_mid_stream_are_followed() -> None:
    """A new resampler takes over when the decoded frames change shape."""

    def frames() -> Iterator[av.AudioFrame]:
        for rate, layout, seconds in ((44100, "stereo", 1.0), (22050, "mono", 0.5)):
            channels = 2 if layout == "stereo" else 1
            pcm = fx.pcm_tone(seconds, rate, channels)
            frame = av.AudioFrame(format="s16", layout=layout, samples=len(pcm) // (2 * channels))
            frame.planes[0].update(pcm)
            frame.sample_rate = rate
            frame.time_base = Fraction(1, rate)
            yield frame

    dest = io.BytesIO()
    with av.open(dest, mode="w", format="flac") as output:
        decoded = audio._encode_all(frames(), output, max_s=10)
    assert decoded == pytest.approx(1.5)
    assert decoded_samples(dest.getvalue()) == pytest.approx(1.5 * 16000, abs=32)


# --- nothing of the source's metadata survives -----------------------------------------------

TAGGED: list[tuple[str, Callable[[], bytes]]] = [
    ("mp3_id3", lambda: fx.tone_mp3(1.0)),
    ("ogg_vorbis_comment", lambda: fx.tone_ogg_opus(1.0)),
    ("webm_tags", lambda: fx.tone_webm_opus(1.0)),
    ("m4a_atoms", lambda: fx.tone_m4a(1.0)),
    ("flac_vorbis_comment", lambda: fx.tone_flac(1.0)),
    ("mp4_video", lambda: fx.video_mp4(1.0)),
]


@pytest.mark.parametrize("make", [t[1] for t in TAGGED], ids=[t[0] for t in TAGGED])
def test_source_tags_never_reach_the_copy(make: Callable[[], bytes]) -> None:
    data = make()
    assert fx.CANARY.encode() in data  # the fixture really is tagged

    _, out = copy(data)

    assert fx.CANARY.encode() not in out
    with av.open(io.BytesIO(out), mode="r") as container:
        assert container.metadata == {}
        assert container.streams.audio[0].metadata == {}


def test_copy_has_no_tag_block_and_no_vendor_string() -> None:
    _, out = copy(fx.tone_mp3(1.0))

    kinds = [kind for kind, _ in flac_blocks(out)]
    assert kinds[0] == 0  # STREAMINFO
    assert set(kinds[1:]) <= {1}  # only PADDING: the VORBIS_COMMENT was blanked
    assert all(body == bytes(len(body)) for kind, body in flac_blocks(out) if kind == 1)
    lowered = out.lower()
    for word in (b"ffmpeg", b"lavf", b"lavc", b"encoder", b"lame"):
        assert word not in lowered


def test_muxer_options_alone_leave_only_a_bare_vendor_string() -> None:
    """Before the comment block is blanked, bit-exact mode has already dropped the encoder
    tag and the version: the muxer's own block says only "ffmpeg", with no comments."""

    def comment_block(options: dict[str, str]) -> bytes:
        silence = av.AudioFrame(format="s16", layout="mono", samples=1600)
        silence.planes[0].update(bytes(silence.planes[0].buffer_size))
        silence.sample_rate = 16000
        dest = io.BytesIO()
        with av.open(dest, mode="w", format="flac", container_options=options) as output:
            audio._encode_all(iter([silence]), output, max_s=1)
        return next(body for kind, body in flac_blocks(dest.getvalue()) if kind == 4)

    assert b"encoder=Lavf" in comment_block({})  # the control: what the default adds
    block = comment_block(audio._MUXER_OPTIONS)
    (vendor_len,) = struct.unpack("<I", block[:4])
    assert block[4 : 4 + vendor_len] == b"ffmpeg"
    assert block[4 + vendor_len :] == struct.pack("<I", 0)  # no comments at all


def test_copy_is_deterministic() -> None:
    """Bit-exact mode: the same audio always gives the same bytes (no dates, no versions)."""
    data = fx.tone_ogg_opus(1.0)
    assert copy(data)[1] == copy(data)[1]


# --- FFmpeg may not open anything but the upload ---------------------------------------------


def test_hls_playlist_is_not_audio(tmp_path: Path) -> None:
    segment = tmp_path / "segment.wav"
    segment.write_bytes(fx.tone_wav(1.0))
    for playlist in (fx.hls_playlist(), fx.hls_playlist(str(segment))):
        assert rejected(playlist).reason == "not_audio"
        assert rejected(NamedBytesIO(playlist, "playlist.m3u8")).reason == "not_audio"


def test_hls_would_open_what_it_names_without_the_whitelists(tmp_path: Path) -> None:
    """Why the whitelists matter: given an .m3u8 name, FFmpeg runs HLS and opens segments."""
    segment = tmp_path / "segment.wav"
    segment.write_bytes(fx.tone_wav(1.0))
    opened: list[str] = []

    def record(url: str, flags: int, options: dict[str, str]) -> Any:
        opened.append(url)
        raise PermissionError(url)

    playlist = NamedBytesIO(fx.hls_playlist(str(segment)), "playlist.m3u8")
    with pytest.raises(PermissionError):
        av.open(playlist, io_open=record)
    assert opened == [str(segment)]

    playlist.seek(0)
    with pytest.raises(av.error.FFmpegError):  # "format not on whitelist"
        av.open(playlist, container_options=audio._DEMUXER_OPTIONS, io_open=record)
    assert opened == [str(segment)]


def test_ffconcat_is_not_audio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "other.wav").write_bytes(fx.tone_wav(1.0))
    monkeypatch.chdir(tmp_path)
    for script in (fx.ffconcat(), fx.ffconcat("other.wav"), fx.ffconcat(str(tmp_path / "a"))):
        assert rejected(script).reason == "not_audio"


def test_ffconcat_would_read_another_file_without_the_whitelists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why the whitelists matter: FFmpeg's concat demuxer reads a local file it is told to."""
    (tmp_path / "other.wav").write_bytes(fx.tone_wav(1.0))
    monkeypatch.chdir(tmp_path)
    with av.open(io.BytesIO(fx.ffconcat("other.wav")), mode="r") as container:
        assert container.format.name == "concat"
        assert sum(int(frame.samples) for frame in container.decode(audio=0)) == 48000


def test_protocol_whitelist_alone_stops_nested_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the concat demuxer let through on purpose, `protocol_whitelist` still holds."""
    (tmp_path / "other.wav").write_bytes(fx.tone_wav(1.0))
    monkeypatch.chdir(tmp_path)
    concat_allowed = {"format_whitelist": audio._DEMUXER_OPTIONS["format_whitelist"] + ",concat"}

    with av.open(io.BytesIO(fx.ffconcat("other.wav")), container_options=concat_allowed) as c:
        assert c.format.name == "concat"  # the control: this really opens other.wav
    locked = {**concat_allowed, "protocol_whitelist": audio._DEMUXER_OPTIONS["protocol_whitelist"]}
    with pytest.raises(av.error.FFmpegError):
        av.open(io.BytesIO(fx.ffconcat("other.wav")), container_options=locked)


def test_nested_open_hook_alone_stops_hls(tmp_path: Path) -> None:
    """With HLS let through on purpose and no protocol whitelist, the hook still refuses.

    (The hook only sees opens made through the upload's own format context, as HLS and DASH
    make them; concat opens a nested context, which FFmpeg gives the protocol whitelist but
    not the hook - see the test above.)
    """
    segment = tmp_path / "segment.wav"
    segment.write_bytes(fx.tone_wav(1.0))
    hls_allowed = {"format_whitelist": audio._DEMUXER_OPTIONS["format_whitelist"] + ",hls"}
    with pytest.raises(PermissionError):
        av.open(
            NamedBytesIO(fx.hls_playlist(str(segment)), "playlist.m3u8"),
            container_options=hls_allowed,
            io_open=audio._refuse_nested_open,
        )


# --- rejections ------------------------------------------------------------------------------


def test_empty_upload() -> None:
    assert rejected(b"").reason == "empty"


@pytest.mark.parametrize("name", ["testimony.mp3", "a.wav", "b.m4a", "c.webm", "noname"])
def test_text_is_not_audio_whatever_its_name(name: str) -> None:
    assert rejected(NamedBytesIO(fx.text_bytes(), name)).reason == "not_audio"


@pytest.mark.parametrize(
    "make",
    [fx.fake_pdf, fx.fake_zip, fx.text_bytes, lambda: os.urandom(4096)],
    ids=["pdf", "zip", "text", "random"],
)
def test_non_audio_files(make: Callable[[], bytes]) -> None:
    assert rejected(make()).reason == "not_audio"


def test_video_without_audio_is_not_audio() -> None:
    error = rejected(fx.video_mp4(1.0, with_audio=False))
    assert error.reason == "not_audio"
    assert "no audio stream" in error.detail


def test_truncated_mp3_is_damaged() -> None:
    """The Xing/Info frame states the full frame count; half of the frames are missing."""
    error = rejected(fx.truncated(fx.tone_mp3(6.0), 0.5))
    assert error.reason == "damaged"
    assert "declares 6.0 s" in error.detail


def test_wav_header_claiming_hours_over_one_second_is_damaged() -> None:
    # FFmpeg itself caps the data size to the file size and would call this 1 s of audio.
    error = rejected(fx.wav_header_claiming(2.0), max_duration_s=3 * 3600)
    assert error.reason == "damaged"
    assert "declares 7200.0 s but holds 1.0 s" in error.detail


def test_wav_header_claiming_more_than_the_limit_is_too_long() -> None:
    error = rejected(fx.wav_header_claiming(10.0), max_duration_s=3 * 3600)
    assert error.reason == "too_long"
    assert "declares 36000.0 s" in error.detail


def test_declared_duration_over_the_limit_is_refused_before_decoding() -> None:
    error = rejected(fx.tone_wav(3.0), max_duration_s=2.0)
    assert error.reason == "too_long"
    assert "declares 3.0 s" in error.detail


def test_undeclared_duration_over_the_limit_stops_decoding() -> None:
    """MediaRecorder's WebM states no duration; the decoded samples are what count."""
    error = rejected(fx.tone_webm_opus(3.0), max_duration_s=1.0)
    assert error.reason == "too_long"
    assert "while decoding" in error.detail


def test_decoding_error_part_way_is_damaged() -> None:
    error = rejected(fx.zeroed(fx.tone_mp3(4.0), 0.3, 0.45))
    assert error.reason == "damaged"
    assert "decoding failed" in error.detail


def test_header_without_samples_is_damaged() -> None:
    header_only = fx.wav_header(channels=1, sample_rate=16000, data_bytes=0, riff_bytes=36)
    error = rejected(header_only)
    assert error.reason == "damaged"
    assert "no samples" in error.detail


def test_zero_channels() -> None:
    error = rejected(fx.wav_with(channels=0))
    assert error.reason == "no_channels"


@pytest.mark.parametrize("rate", [0, 7, 999, 384001, 10_000_000, 0xFFFFFFFF])
def test_absurd_sample_rates(rate: int) -> None:
    assert rejected(fx.wav_with(sample_rate=rate)).reason == "bad_sample_rate"


@pytest.mark.parametrize("rate", [1000, 384000])
def test_sample_rate_limits_are_inclusive(rate: int) -> None:
    info, out = copy(fx.wav_with(sample_rate=rate))
    assert info.sample_rate == rate
    assert info.duration_s == pytest.approx(16000 / rate)
    assert streaminfo(out)[0] == 16000


@pytest.mark.parametrize(
    ("header", "reason", "detail"),
    [
        ({"channels": 0}, "no_channels", "audio stream declares 0 channels"),
        ({"sample_rate": 7}, "bad_sample_rate", "audio stream declares 7 Hz"),
        ({"sample_rate": 10_000_000}, "bad_sample_rate", "audio stream declares 10000000 Hz"),
        ({"sample_rate": 0}, "not_audio", "Invalid data"),
        ({"sample_rate": 0xFFFFFFFF}, "not_audio", "Invalid data"),
    ],
)
def test_what_ffmpeg_makes_of_crafted_wav_headers(
    monkeypatch: pytest.MonkeyPatch, header: dict[str, int], reason: str, detail: str
) -> None:
    """Without the raw WAV header check, FFmpeg's view decides: it opens 0 channels and any
    positive rate as given, and refuses to open a rate of 0 or one over 2**31."""
    monkeypatch.setattr(audio, "_read_riff_fmt", lambda source: None)
    error = rejected(fx.wav_with(**header))
    assert error.reason == reason
    assert detail in error.detail


def test_unknown_reason_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        AudioRejected("corrupt")


def test_dest_must_be_empty() -> None:
    dest = io.BytesIO(b"old")
    with pytest.raises(ValueError):
        make_access_copy(io.BytesIO(fx.tone_wav(0.5)), dest, max_duration_s=10)


# --- encrypted files in, encrypted files out -------------------------------------------------


def test_encrypted_temp_file_to_encrypted_temp_file(tmp_path: Path) -> None:
    with EncryptedTempFile(tmp_path) as source, EncryptedTempFile(tmp_path) as dest:
        source.write(fx.tone_mp3(2.0))
        source.seek(0)

        info = make_access_copy(source, dest, max_duration_s=LIMIT_S)

        assert info.duration_s == pytest.approx(2.0, abs=0.1)
        assert not source.closed  # the caller still stores the original from it
        assert dest.tell() == 0
        plain = dest.read()
        assert plain[:4] == b"fLaC"
        assert streaminfo(plain)[:3] == (16000, 1, 16)
        on_disk = _raw_bytes(dest)
        assert len(on_disk) == len(plain)
        assert b"fLaC" not in on_disk
        assert plain[8:42] not in on_disk  # STREAMINFO, as a longer plaintext marker
        assert b"ID3" not in _raw_bytes(source)


def test_rejection_leaves_the_source_usable(tmp_path: Path) -> None:
    with EncryptedTempFile(tmp_path) as source, EncryptedTempFile(tmp_path) as dest:
        source.write(fx.fake_pdf())
        source.seek(0)
        with pytest.raises(AudioRejected):
            make_access_copy(source, dest, max_duration_s=LIMIT_S)
        source.seek(0)
        assert source.read() == fx.fake_pdf()


def _raw_bytes(temp: EncryptedTempFile) -> bytes:
    """What an EncryptedTempFile has on disk (ciphertext), read through its file handle."""
    handle = temp._fh
    handle.flush()
    handle.seek(0)
    return handle.read()
