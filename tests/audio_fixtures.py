"""Audio inputs for tests, built in memory with PyAV and the standard library.

These are plain functions, not pytest fixtures, so that any test module can import them
(``from tests.audio_fixtures import tone_wav``) and call them with the size it needs. Every
function returns the complete file as ``bytes``; nothing is written to disk.

The audio is a steady 440 Hz sine tone (or silence and noise where a test needs a bitrate
that changes), which is enough for format, duration and metadata checks. Functions whose
format can carry tags embed `CANARY` in them, so that a test can assert that no metadata of
an upload survives into its access copy.

Names and signatures here are relied on by other test modules: keep them stable.
"""

from __future__ import annotations

import io
import math
import random
import struct
import wave
import zipfile
from array import array
from fractions import Fraction
from typing import Any

import av

#: Marker written into every tag a fixture can carry; it must never reach an access copy.
CANARY = "CANARY-7f3e9a-survivor-name"

_TONE_HZ = 440
_AMPLITUDE = 0.3


def _le16(samples: array[int]) -> bytes:
    if struct.pack("=h", 1) != struct.pack("<h", 1):
        samples.byteswap()
    return samples.tobytes()


def pcm_tone(seconds: float, rate: int, channels: int) -> bytes:
    """Interleaved little-endian signed 16-bit samples of a sine tone.

    One second is computed and repeated: an integer frequency completes whole periods in a
    second, so the repetition has no click, and long inputs stay cheap to build.
    """
    one = array(
        "h",
        (
            int(_AMPLITUDE * 32767 * math.sin(2 * math.pi * _TONE_HZ * i / rate))
            for i in range(rate)
        ),
    )
    if channels != 1:
        one = array("h", (s for s in one for _ in range(channels)))
    second = _le16(one)
    total = round(seconds * rate) * channels * 2
    whole, rest = divmod(total, len(second))
    return second * whole + second[:rest]


def pcm_noise(seconds: float, rate: int, seed: int = 0) -> bytes:
    """Mono little-endian signed 16-bit white noise, the same for the same `seed`."""
    rng = random.Random(seed)
    return _le16(array("h", (rng.randint(-12000, 12000) for _ in range(round(seconds * rate)))))


def encode_pcm(
    fmt: str,
    codec: str,
    pcm: bytes,
    *,
    rate: int,
    channels: int = 1,
    bit_rate: int | None = None,
    vbr_quality: int | None = None,
    metadata: dict[str, str] | None = None,
    stream_metadata: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
    seekable: bool = True,
) -> bytes:
    """Encode 16-bit PCM with PyAV's encoder `codec` into muxer `fmt`, entirely in memory.

    `fmt` is an FFmpeg muxer name ("adts", "aiff", "caf", "amr", "w64", "asf", ...), which
    lets a test reach every demuxer the intake accepts. `vbr_quality` switches the encoder to
    constant-quality (variable bitrate) mode with that ``global_quality``. `seekable=False`
    writes through an object without ``seek``, the way a browser's MediaRecorder produces a
    stream: muxers then leave out what they can only fill in at the end (durations, cues).
    """
    buf = io.BytesIO()
    target: Any = buf if seekable else _WriteOnly(buf)
    layout = "mono" if channels == 1 else "stereo"
    with av.open(target, mode="w", format=fmt, container_options=container_options) as out:
        if metadata:
            out.metadata.update(metadata)
        stream = out.add_stream(codec, rate=rate, layout=layout)
        assert isinstance(stream, av.AudioStream)
        if bit_rate is not None:
            stream.codec_context.bit_rate = bit_rate
        if vbr_quality is not None:
            stream.codec_context.qscale = True
            stream.codec_context.global_quality = vbr_quality
        if stream_metadata:
            stream.metadata.update(stream_metadata)
        step = 1024 * channels * 2
        pts = 0
        for start in range(0, len(pcm), step):
            chunk = pcm[start : start + step]
            samples = len(chunk) // (channels * 2)
            frame = av.AudioFrame(format="s16", layout=layout, samples=samples)
            frame.planes[0].update(chunk)
            frame.sample_rate = rate
            frame.pts = pts
            frame.time_base = Fraction(1, rate)
            pts += samples
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


def tone_encoded(
    fmt: str, codec: str, seconds: float, *, rate: int, channels: int = 1, **options: Any
) -> bytes:
    """`seconds` of tone through `encode_pcm` (which takes the same keyword `options`)."""
    pcm = pcm_tone(seconds, rate, channels)
    return encode_pcm(fmt, codec, pcm, rate=rate, channels=channels, **options)


class _WriteOnly:
    """A sink with no ``seek``, so that PyAV treats the output as a live stream."""

    def __init__(self, sink: io.BytesIO) -> None:
        self._sink = sink

    def write(self, data: bytes) -> int:
        return self._sink.write(data)


# --- accepted formats ------------------------------------------------------------------------


def tone_wav(seconds: float, rate: int = 48000, channels: int = 2) -> bytes:
    """A PCM 16-bit WAV file (written by the stdlib ``wave`` module, so it has no tags)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm_tone(seconds, rate, channels))
    return buf.getvalue()


def tone_mp3(seconds: float, rate: int = 44100, channels: int = 2) -> bytes:
    """An MP3 from libmp3lame with ID3v2 title, artist and comment tags holding `CANARY`.

    Written to a seekable buffer, so the muxer fills in the Xing/Info frame with the real
    frame count, which is what lets a truncated copy be recognised as damaged.
    """
    return tone_encoded(
        "mp3",
        "libmp3lame",
        seconds,
        rate=rate,
        channels=channels,
        metadata={"title": CANARY, "artist": CANARY, "comment": CANARY},
    )


def tone_ogg_opus(seconds: float) -> bytes:
    """Opus in Ogg (as Firefox's MediaRecorder sends it) with Vorbis comments holding `CANARY`."""
    return tone_encoded(
        "ogg",
        "libopus",
        seconds,
        rate=48000,
        metadata={"title": CANARY},
        stream_metadata={"title": CANARY, "artist": CANARY},
    )


def tone_webm_opus(seconds: float) -> bytes:
    """Opus in WebM written as a live stream, like Chrome's MediaRecorder output.

    The muxer cannot seek back, so the file declares no duration and has no cue index; the
    segment and track titles still carry `CANARY`.
    """
    return tone_encoded(
        "webm",
        "libopus",
        seconds,
        rate=48000,
        metadata={"title": CANARY},
        stream_metadata={"title": CANARY},
        seekable=False,
    )


def tone_m4a(seconds: float) -> bytes:
    """AAC-LC in an MP4 (``.m4a``) container with ``©nam``/``©ART`` atoms holding `CANARY`."""
    return tone_encoded(
        "ipod", "aac", seconds, rate=44100, metadata={"title": CANARY, "artist": CANARY}
    )


def tone_flac(seconds: float, rate: int = 44100) -> bytes:
    """A FLAC file with a Vorbis comment holding `CANARY`."""
    return tone_encoded("flac", "flac", seconds, rate=rate, metadata={"title": CANARY})


def video_mp4(seconds: float, *, with_audio: bool = True) -> bytes:
    """A tiny MPEG-4 video in MP4, optionally with an AAC tone as its *second* stream.

    The video stream comes first so that a test can check that the audio stream is found
    wherever it sits. The container and video titles hold `CANARY`.
    """
    buf = io.BytesIO()
    fps = 10
    with av.open(buf, mode="w", format="mp4") as out:
        out.metadata["title"] = CANARY
        video = out.add_stream("mpeg4", rate=fps)
        video.width = 32
        video.height = 32
        video.pix_fmt = "yuv420p"
        video.metadata["title"] = CANARY
        # Every stream must exist before the first packet is written.
        audio = out.add_stream("aac", rate=44100, layout="mono") if with_audio else None
        for i in range(round(seconds * fps)):
            picture = av.VideoFrame(32, 32, "yuv420p")
            for plane in picture.planes:
                plane.update(bytes([(i * 20) % 256]) * plane.buffer_size)
            picture.pts = i
            picture.time_base = Fraction(1, fps)
            out.mux(video.encode(picture))
        out.mux(video.encode(None))
        if audio is not None:
            pcm = pcm_tone(seconds, 44100, 1)
            pts = 0
            for start in range(0, len(pcm), 2048):
                chunk = pcm[start : start + 2048]
                frame = av.AudioFrame(format="s16", layout="mono", samples=len(chunk) // 2)
                frame.planes[0].update(chunk)
                frame.sample_rate = 44100
                frame.pts = pts
                frame.time_base = Fraction(1, 44100)
                pts += frame.samples
                out.mux(audio.encode(frame))
            out.mux(audio.encode(None))
    return buf.getvalue()


def aac_adts_vbr(silence_s: float, noise_s: float) -> bytes:
    """Raw ADTS AAC, variable bitrate: `silence_s` of silence, then `noise_s` of loud noise.

    ADTS states no duration, so FFmpeg estimates one from the bitrate of the first packets;
    with a quiet start that estimate is many times too long (about 111 s for 3 s + 2 s).
    """
    pcm = bytes(round(silence_s * 44100) * 2) + pcm_noise(noise_s, 44100)
    return encode_pcm("adts", "aac", pcm, rate=44100, vbr_quality=2 * 118)


def wav_with_info_tag(title: bytes, seconds: float = 1.0) -> bytes:
    """A 16 kHz mono WAV with a LIST/INFO ``INAM`` (title) chunk holding raw `title` bytes.

    Windows and many recorders write these tags in a local code page, not UTF-8.
    """
    payload = pcm_tone(seconds, 16000, 1)
    value = title + b"\x00" + (b"\x00" if len(title) % 2 == 0 else b"")
    info = b"INFO" + b"INAM" + struct.pack("<I", len(title) + 1) + value
    chunks = (
        struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, 16000, 32000, 2, 16)
        + struct.pack("<4sI", b"LIST", len(info))
        + info
        + struct.pack("<4sI", b"data", len(payload))
        + payload
    )
    return struct.pack("<4sI4s", b"RIFF", 4 + len(chunks), b"WAVE") + chunks


# --- crafted bad inputs ----------------------------------------------------------------------


def wav_header(
    *, channels: int, sample_rate: int, data_bytes: int, riff_bytes: int, bits: int = 16
) -> bytes:
    """A canonical 44-byte RIFF/WAVE PCM header with every field given explicitly.

    Sizes are stored modulo 2**32, as a 32-bit field would hold them.
    """
    block_align = channels * bits // 8
    byte_rate = (sample_rate * block_align) & 0xFFFFFFFF
    return (
        struct.pack("<4sI4s", b"RIFF", riff_bytes & 0xFFFFFFFF, b"WAVE")
        + struct.pack(
            "<4sIHHIIHH", b"fmt ", 16, 1, channels, sample_rate, byte_rate, block_align, bits
        )
        + struct.pack("<4sI", b"data", data_bytes & 0xFFFFFFFF)
    )


def wav_header_claiming(hours: float, rate: int = 16000) -> bytes:
    """A well-formed mono WAV whose RIFF and data sizes claim `hours` of audio.

    Only one second of samples follows the header, as in an upload cut off in transit or a
    file crafted to make the server plan for hours of work. The 32-bit size field limits the
    claim to about 37 hours at the default 16 kHz.
    """
    data_bytes = round(hours * 3600 * rate) * 2
    if data_bytes > 0xFFFFFFFF - 36:
        raise ValueError(f"{hours} h at {rate} Hz does not fit a 32-bit WAV size field")
    header = wav_header(
        channels=1, sample_rate=rate, data_bytes=data_bytes, riff_bytes=data_bytes + 36
    )
    return header + pcm_tone(1.0, rate, 1)


def wav_with(*, channels: int = 1, sample_rate: int = 16000, seconds: float = 1.0) -> bytes:
    """A WAV with honest sizes but a header field set to anything, e.g. 0 channels or 10 MHz.

    The payload is `seconds` of mono 16 kHz samples whatever the header says, so only the
    field under test is wrong.
    """
    payload = pcm_tone(seconds, 16000, 1)
    header = wav_header(
        channels=channels,
        sample_rate=sample_rate,
        data_bytes=len(payload),
        riff_bytes=len(payload) + 36,
    )
    return header + payload


def truncated(data: bytes, fraction: float) -> bytes:
    """The first `fraction` of `data`, as if an upload had been cut short."""
    return data[: int(len(data) * fraction)]


def zeroed(data: bytes, start: float, end: float) -> bytes:
    """`data` with the bytes between fractions `start` and `end` of its length set to zero."""
    a, b = int(len(data) * start), int(len(data) * end)
    return data[:a] + bytes(b - a) + data[b:]


def fake_pdf() -> bytes:
    """A minimal but well-formed one-page PDF."""
    return (
        b"%PDF-1.4\n"
        b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
        b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >> endobj\n"
        b"trailer << /Root 1 0 R >>\n"
        b"%%EOF\n"
    )


def fake_zip() -> bytes:
    """A ZIP archive holding a small text file and, as a lure, a text file named .mp3."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("notes.txt", "this is not audio\n" * 50)
        zf.writestr("recording.mp3", "still not audio\n" * 50)
    return buf.getvalue()


def text_bytes() -> bytes:
    """Plain UTF-8 text, mixing scripts the way a mislabelled note from a user might."""
    return ("Testimony notes / یادداشت‌ها\n" + "line of plain text\n" * 200).encode()


def hls_playlist(target: str = "file:///etc/passwd") -> bytes:
    """An HLS (m3u8) playlist whose only segment is `target`.

    If the HLS demuxer ran, it would open `target` (a local file or a URL) on the server's
    behalf.
    """
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:10.0,\n{target}\n#EXT-X-ENDLIST\n"
    ).encode()


def ffconcat(target: str = "/etc/passwd") -> bytes:
    """An ffconcat script that splices `target` (a path or URL) in, if the demuxer runs."""
    return f"ffconcat version 1.0\nfile '{target}'\n".encode()
