"""Checking an uploaded recording and making its access copy.

An upload is recognised by its content alone: its name and declared type come from the
client and prove nothing. Whatever it was, the access copy is always the same thing: FLAC,
16 kHz, mono, 16-bit, with no metadata at all. That one format is lossless for speech, what
the transcription model wants, small enough to keep next to the original, and - because it is
rebuilt from decoded samples - it carries nothing over from the source file: no ID3 or Vorbis
tags, no MP4 atoms with a phone's model or a place, no embedded pictures.

Both files are file objects (in production `intake.crypto.EncryptedTempFile`), so neither the
upload nor the copy is ever written to disk in plaintext, and nothing is ever read whole into
memory: the work is done packet by packet, so a one-gigabyte, hour-and-a-half recording costs
a few megabytes of memory and a few seconds.

FFmpeg parses hostile input here. Its exposure is kept small on purpose:

* only demuxers for real audio and recording containers may run (``format_whitelist``); the
  playlist and script demuxers (HLS, DASH, concat, ...) that open *other* files or URLs named
  inside the upload can never be chosen;
* no demuxer may open anything beyond the upload: ``protocol_whitelist`` allows no protocol
  at all (FFmpeg hands it on to the nested contexts that concat-like demuxers open), and
  PyAV's nested-open hook refuses whatever is opened through the upload's own context (as
  HLS and DASH do), a second lock that does not depend on an option's spelling;
* the file object handed to FFmpeg has no name, so a client-chosen extension cannot steer
  format detection either.
"""

from __future__ import annotations

import io
import math
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO, Final, NoReturn, TypeAlias

import av
import av.error
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler
from av.audio.stream import AudioStream
from av.codec.context import Flags as CodecFlags
from av.container import InputContainer, OutputContainer

ACCESS_FORMAT: Final = "flac"
ACCESS_SAMPLE_RATE: Final = 16000

MIN_SAMPLE_RATE = 1000
MAX_SAMPLE_RATE = 384000

#: Any seekable binary file object: io.BytesIO, an open file, or intake.crypto.EncryptedTempFile
#: (an io.RawIOBase, which typing.BinaryIO does not cover).
SeekableFile: TypeAlias = BinaryIO | io.RawIOBase

REASONS = frozenset({"empty", "not_audio", "too_long", "damaged", "bad_sample_rate", "no_channels"})

# Demuxer names as FFmpeg's `format_whitelist` matches them: an entry allows a demuxer if it
# equals any of the demuxer's comma-separated names, so "mov" admits
# "mov,mp4,m4a,3gp,3g2,mj2" and "matroska" admits "matroska,webm". "amr" is the demuxer for
# .amr files (with their "#!AMR" header); the headerless "amrnb"/"amrwb" ones are left out,
# as raw frame guessers are the likeliest to mistake something else for audio.
INPUT_FORMATS: tuple[str, ...] = (
    "wav",
    "w64",
    "mp3",
    "ogg",
    "flac",
    "matroska",
    "mov",
    "aac",
    "aiff",
    "caf",
    "amr",
    "asf",
)

_DEMUXER_OPTIONS: dict[str, str] = {
    "format_whitelist": ",".join(INPUT_FORMATS),
    # "none" names no protocol, so a demuxer's every attempt to open a further file or URL
    # fails with "Protocol not on whitelist"; the upload itself comes through PyAV's own I/O
    # context, which is not a protocol and is unaffected.
    "protocol_whitelist": "none",
}

# Fewer, larger calls from FFmpeg into Python (and into the decryption of an
# EncryptedTempFile) than PyAV's default 32 KiB, while a seek still refills little.
_READ_BUFFER = 256 * 1024

_MUXER_OPTIONS: dict[str, str] = {
    # Bit-exact mode stops libavformat adding an "encoder=Lavf<version>" tag, and makes the
    # output depend on the audio alone.
    "fflags": "+bitexact",
    # No padding block: there is nothing to leave room for, since tags are never added later.
    "metadata_header_padding": "0",
}

_ENCODER_OPTIONS: dict[str, str] = {
    # 4096 samples (0.256 s) per FLAC frame instead of the default 1152 at 16 kHz: about 20 %
    # faster through PyAV, and about 1 % smaller.
    "frame_size": "4096",
}

# Containers whose header states the duration (sample counts, granule positions, Duration
# elements, ...). FFmpeg fills in a duration for every other format too, but there it is an
# estimate from the bitrate of the first packets, which for variable-bitrate audio can be far
# off and would make "damaged" fire on good files. WAV and MP3 are handled separately.
_STATED_DURATION_FORMATS = frozenset(
    {"w64", "ogg", "flac", "matroska,webm", "mov,mp4,m4a,3gp,3g2,mj2", "aiff", "caf", "asf"}
)

# A declared duration is only a claim, so "damaged" needs a clear shortfall: 10 % plus one
# second absorbs encoder priming and padding, Ogg pre-skip and rounding in headers.
_SHORTFALL_RATIO = 0.9
_SHORTFALL_SLACK_S = 1.0

_FLAC_STREAMINFO = 0
_FLAC_PADDING = 1
_FLAC_SEEKTABLE = 3
_FLAC_KEEP = frozenset({_FLAC_STREAMINFO, _FLAC_PADDING, _FLAC_SEEKTABLE})

# WAVE format tags whose data size converts to a duration by sample rate x block size alone:
# PCM, IEEE float, A-law, mu-law and WAVE_FORMAT_EXTENSIBLE.
_WAVE_PLAIN_TAGS = frozenset({0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE})
_RIFF_MAX_CHUNKS = 64

# How far past an ID3v2 tag to look for the first MPEG audio frame, and how far into that
# frame for a Xing/Info (LAME) or VBRI (Fraunhofer) header, which state the frame count.
_MP3_SYNC_WINDOW = 4096
_MP3_HEADER_WINDOW = 192
_MP3_COUNT_TAGS = (b"Xing", b"Info", b"VBRI")
_MP3_SYNC = re.compile(rb"\xff[\xe0-\xff]")


class AudioRejected(Exception):
    """The upload cannot become an access copy; `reason` says why, in a word the UI maps.

    `reason` is one of `REASONS`: 'empty', 'not_audio', 'too_long', 'damaged',
    'bad_sample_rate', 'no_channels'. `detail` is for logs and tests; it never contains
    anything from the file's tags.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown rejection reason {reason!r}")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class AccessCopyInfo:
    """What was learnt about the source while making its access copy."""

    duration_s: float
    """Measured from the decoded samples, not taken from any header."""
    source_format: str
    """FFmpeg's name for the container detected by content, e.g. 'wav' or 'matroska,webm'."""
    source_codec: str
    """FFmpeg's name for the decoder of the audio stream, e.g. 'pcm_s16le', 'mp3float'."""
    sample_rate: int
    """Of the source."""
    channels: int
    """Of the source."""


@dataclass(frozen=True)
class _RiffFmt:
    """The fields of a RIFF/WAVE header that FFmpeg either refuses outright or re-estimates."""

    format_tag: int
    channels: int
    sample_rate: int
    block_align: int
    data_bytes: int | None

    def declared_duration_s(self) -> float | None:
        if (
            self.data_bytes is None
            or self.format_tag not in _WAVE_PLAIN_TAGS
            or self.block_align <= 0
            or self.sample_rate <= 0
        ):
            return None
        return self.data_bytes / (self.block_align * self.sample_rate)


@dataclass(frozen=True)
class _Sniffed:
    """What the first bytes say that FFmpeg does not tell PyAV."""

    riff: _RiffFmt | None
    """The WAV header, if the file is RIFF/WAVE with a ``fmt `` chunk."""
    mp3_frame_count: bool
    """Whether the first MPEG audio frame carries a Xing, Info or VBRI header."""


class _ContentOnly:
    """Read-and-seek view of the upload, with no name and no `close`.

    PyAV uses a file object's ``name`` as the file name that FFmpeg's probing partly trusts
    (HLS, for one, is detected by an ``.m3u8`` name); and without a ``close`` PyAV cannot
    close the caller's file, whose key an `EncryptedTempFile` drops on close.
    """

    def __init__(self, raw: SeekableFile) -> None:
        self.read = raw.read
        self.seek = raw.seek
        self.tell = raw.tell

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True


def _refuse_nested_open(url: str, flags: int, options: dict[str, str]) -> NoReturn:
    """PyAV's hook for any file a demuxer wants to open besides the upload: refuse them all."""
    raise PermissionError("a demuxer tried to open another file or URL")


def make_access_copy(
    source: SeekableFile, dest: SeekableFile, *, max_duration_s: float
) -> AccessCopyInfo:
    """Recognise `source` by content, validate it, and write its access copy to `dest`.

    The copy is FLAC, 16 kHz, mono, 16-bit, with a STREAMINFO block (total samples, MD5) and
    otherwise only padding: no tags, no vendor string. On return `dest` is positioned at 0.

    `source` and `dest` must be seekable binary file objects (`SeekableFile`); `dest` must be
    empty, because the FLAC header is rewritten at absolute offset 8 at the end. Neither is
    closed. If AudioRejected is raised, `dest` holds a partial copy that the caller must
    discard.

    Rejections (`AudioRejected.reason`):

    * 'empty': no bytes at all;
    * 'not_audio': no whitelisted container recognises the content (text, PDF, ZIP, HLS
      playlists, ffconcat scripts, ...), or it has no audio stream, or no decoder for it;
    * 'no_channels' / 'bad_sample_rate': the header declares 0 channels, or a rate outside
      1 kHz..384 kHz (checked in FFmpeg's view of the stream and, for WAV, in the raw header
      first, since FFmpeg refuses to open some such files at all);
    * 'too_long': the declared duration, or the decoded duration as soon as it gets there,
      exceeds `max_duration_s`;
    * 'damaged': decoding fails part-way; or the decoded duration falls well short of the
      declared one (a truncated upload, a header that lies); or a stream that opened yields
      no samples at all - damaged rather than not_audio, because the container was audio.

    "Declared" means stated by the file: a WAV data size, an MP3 Xing/Info/VBRI frame count,
    or the duration field of the containers in `_STATED_DURATION_FORMATS`; FFmpeg's bitrate
    estimates for the other formats are ignored.
    """
    if max_duration_s <= 0:
        raise ValueError("max_duration_s must be positive")
    if dest.seek(0, io.SEEK_END) != 0:
        raise ValueError("dest must be empty")
    if source.seek(0, io.SEEK_END) == 0:
        raise AudioRejected("empty", "the upload has no bytes")
    sniffed = _sniff(source)
    if sniffed.riff is not None:
        _check_shape(sniffed.riff.channels, sniffed.riff.sample_rate, "WAV header")
    source.seek(0)

    try:
        container = av.open(
            _ContentOnly(source),
            mode="r",
            container_options=_DEMUXER_OPTIONS,
            buffer_size=_READ_BUFFER,
            io_open=_refuse_nested_open,
            # PyAV decodes every tag at open; tags are never used here, and one in Latin-1
            # (common in WAV LIST chunks) must not turn a good recording into a crash.
            metadata_errors="replace",
        )
    except (av.error.FFmpegError, PermissionError) as exc:
        raise AudioRejected("not_audio", f"no allowed container recognised it ({exc})") from exc

    with container:
        info = _transcode(container, sniffed, dest, max_duration_s)
    _blank_flac_metadata(dest)
    dest.seek(0)
    return info


def write_access_flac(frames: Iterator[AudioFrame], dest: SeekableFile) -> float:
    """Encode decoded `frames` into the empty `dest` in the access format, with no tags, and
    return the seconds written: for copies made from an access copy (`intake.redaction`)."""
    if dest.seek(0, io.SEEK_END) != 0:
        raise ValueError("dest must be empty")
    output = av.open(dest, mode="w", format=ACCESS_FORMAT, container_options=_MUXER_OPTIONS)
    with output:
        seconds = _encode_all(frames, output, math.inf)
    _blank_flac_metadata(dest)
    dest.seek(0)
    return seconds


def _transcode(
    container: InputContainer, sniffed: _Sniffed, dest: SeekableFile, max_duration_s: float
) -> AccessCopyInfo:
    """Decode the first audio stream of `container` and encode it into `dest`."""
    stream = next(iter(container.streams.audio), None)
    if stream is None:
        raise AudioRejected("not_audio", f"{container.format.name} container has no audio stream")
    decoder = stream.codec_context
    if decoder is None:
        raise AudioRejected("not_audio", "no decoder for the audio stream")
    channels = decoder.channels
    sample_rate = decoder.sample_rate
    _check_shape(channels, sample_rate, "audio stream")

    declared = _declared_duration_s(container, stream, sniffed)
    if declared is not None and declared > max_duration_s:
        raise AudioRejected("too_long", f"declares {declared:.1f} s, limit {max_duration_s:.1f} s")

    output = av.open(dest, mode="w", format=ACCESS_FORMAT, container_options=_MUXER_OPTIONS)
    with output:
        decoded_s = _encode_all(_decoded_frames(container, stream), output, max_duration_s)

    if decoded_s == 0:
        raise AudioRejected("damaged", "the audio stream opened but no samples decoded")
    if declared is not None and decoded_s < _SHORTFALL_RATIO * declared - _SHORTFALL_SLACK_S:
        raise AudioRejected("damaged", f"declares {declared:.1f} s but holds {decoded_s:.1f} s")
    return AccessCopyInfo(
        duration_s=decoded_s,
        source_format=container.format.name,
        source_codec=decoder.name,
        sample_rate=sample_rate,
        channels=channels,
    )


def _decoded_frames(container: InputContainer, stream: AudioStream) -> Iterator[AudioFrame]:
    """The stream's frames; an FFmpeg error part-way means the file is damaged."""
    try:
        for packet in container.demux(stream):
            yield from packet.decode()
    except av.error.FFmpegError as exc:
        raise AudioRejected("damaged", f"decoding failed part-way ({exc})") from exc


def _encode_all(frames: Iterator[AudioFrame], output: OutputContainer, max_s: float) -> float:
    """Resample `frames` to the access format and encode them; returns the seconds decoded.

    Stops with 'too_long' as soon as the decoded audio passes `max_s`, so a header that
    understates the length (or states none) costs at most that much work.
    """
    encoder = output.add_stream(
        ACCESS_FORMAT,
        rate=ACCESS_SAMPLE_RATE,
        layout="mono",
        format="s16",
        options=_ENCODER_OPTIONS,
    )
    encoder.codec_context.flags |= CodecFlags.bitexact
    time_base = Fraction(1, ACCESS_SAMPLE_RATE)
    # A resampler takes its input format from the first frame it is given.
    resampler = AudioResampler(format="s16", layout="mono", rate=ACCESS_SAMPLE_RATE)
    shape: tuple[str, str, int] | None = None
    # Seconds are summed per run of one sample rate from integer sample counts, so that
    # hours of short frames add up exactly.
    earlier_runs_s = 0.0
    run_samples = 0
    decoded_s = 0.0
    written = 0

    def encode(resampled: list[AudioFrame]) -> None:
        nonlocal written
        for frame in resampled:
            # Our own running count: source timestamps may jump or repeat, and the access
            # copy is one continuous run of samples.
            frame.pts = written
            frame.time_base = time_base
            written += frame.samples
            output.mux(encoder.encode(frame))

    for frame in frames:
        rate = frame.sample_rate
        frame_shape = (frame.format.name, frame.layout.name, rate)
        if frame_shape != shape:
            if rate <= 0 or frame.layout.nb_channels <= 0:
                raise AudioRejected("damaged", f"decoded a frame of {frame_shape}")
            if shape is not None:
                # Rate or layout changed mid-stream (concatenated MP3s do this); a resampler
                # is fixed to its first input, so drain it and start another.
                encode(resampler.resample(None))
                resampler = AudioResampler(format="s16", layout="mono", rate=ACCESS_SAMPLE_RATE)
                earlier_runs_s = decoded_s
                run_samples = 0
            shape = frame_shape
        run_samples += frame.samples
        decoded_s = earlier_runs_s + run_samples / rate
        if decoded_s > max_s:
            raise AudioRejected("too_long", f"passed the limit of {max_s:.1f} s while decoding")
        # See encode(): the resampled frames are given timestamps of their own.
        frame.pts = None
        encode(resampler.resample(frame))

    encode(resampler.resample(None))
    output.mux(encoder.encode(None))
    return decoded_s


def _check_shape(channels: int, sample_rate: int, where: str) -> None:
    if channels <= 0:
        raise AudioRejected("no_channels", f"{where} declares {channels} channels")
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioRejected("bad_sample_rate", f"{where} declares {sample_rate} Hz")


def _declared_duration_s(
    container: InputContainer, stream: AudioStream, sniffed: _Sniffed
) -> float | None:
    """The duration the file itself states for its audio, or None if it states none.

    For WAV the raw header's data size is used, not FFmpeg's figure: FFmpeg caps it to the
    file size, so a header that claims hours over one second of samples looks honest to it.
    The stream's own duration comes before the container's, which in a video file may be
    the video's.
    """
    name = container.format.name
    if name == "wav":
        return sniffed.riff.declared_duration_s() if sniffed.riff is not None else None
    if name not in _STATED_DURATION_FORMATS and not (name == "mp3" and sniffed.mp3_frame_count):
        return None
    if stream.duration is not None and stream.duration > 0 and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    return None


def _sniff(source: SeekableFile) -> _Sniffed:
    """Read the few header bytes that `_Sniffed` describes; leaves `source` anywhere."""
    source.seek(0)
    riff = _read_riff_fmt(source)
    source.seek(0)
    return _Sniffed(riff=riff, mp3_frame_count=riff is None and _has_mp3_frame_count(source))


def _read_riff_fmt(source: SeekableFile) -> _RiffFmt | None:
    """Parse the ``fmt `` and ``data`` chunk headers of a RIFF/WAVE file, or return None.

    Reads only chunk headers (seeking over chunk bodies), at most `_RIFF_MAX_CHUNKS` of them.
    """
    head = source.read(12) or b""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
        return None
    fmt: tuple[int, int, int, int, int] | None = None
    data_bytes: int | None = None
    pos = 12
    for _ in range(_RIFF_MAX_CHUNKS):
        source.seek(pos)
        chunk = source.read(8) or b""
        if len(chunk) < 8:
            break
        chunk_id, size = struct.unpack("<4sI", chunk)
        if chunk_id == b"fmt " and fmt is None and size >= 14:
            body = source.read(14) or b""
            if len(body) < 14:
                break
            fmt = struct.unpack("<HHIIH", body)
        elif chunk_id == b"data":
            # 0 and 0xFFFFFFFF are what streaming writers put when the length is unknown.
            data_bytes = None if size in (0, 0xFFFFFFFF) else size
            break
        pos += 8 + size + (size & 1)
    if fmt is None:
        return None
    format_tag, channels, sample_rate, _byte_rate, block_align = fmt
    return _RiffFmt(format_tag, channels, sample_rate, block_align, data_bytes)


def _has_mp3_frame_count(source: SeekableFile) -> bool:
    """Whether the first MPEG audio frame (after any ID3v2 tag) has a frame-count header."""
    start = 0
    head = source.read(10) or b""
    if len(head) == 10 and head[:3] == b"ID3":
        # The tag size is "syncsafe": four 7-bit bytes; a footer adds another 10 bytes.
        size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
        start = 10 + size + (10 if head[5] & 0x10 else 0)
    source.seek(start)
    window = source.read(_MP3_SYNC_WINDOW) or b""
    sync = _MP3_SYNC.search(window)
    if sync is None:
        return False
    frame = window[sync.start() : sync.start() + _MP3_HEADER_WINDOW]
    return any(tag in frame for tag in _MP3_COUNT_TAGS)


def _blank_flac_metadata(dest: SeekableFile) -> None:
    """Turn every FLAC metadata block but STREAMINFO (and padding, seek table) into padding.

    FFmpeg's FLAC muxer always writes a VORBIS_COMMENT block, whose vendor string names the
    software ("ffmpeg" in bit-exact mode) even when there are no tags; overwriting it with a
    zero-filled PADDING block of the same size keeps every offset valid and leaves nothing.
    """
    dest.seek(0)
    if (dest.read(4) or b"") != b"fLaC":
        raise RuntimeError("the FLAC muxer did not write a FLAC header")
    pos = 4
    while True:
        dest.seek(pos)
        header = dest.read(4) or b""
        if len(header) < 4:
            raise RuntimeError("FLAC metadata blocks run past the end of the file")
        last = header[0] & 0x80
        kind = header[0] & 0x7F
        length = int.from_bytes(header[1:], "big")
        if kind not in _FLAC_KEEP:
            dest.seek(pos)
            dest.write(bytes([last | _FLAC_PADDING]) + header[1:] + bytes(length))
        pos += 4 + length
        if last:
            return
