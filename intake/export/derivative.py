"""The listening copy of an access bag: MP3, which browsers and the OHMS viewer play.

The access audio (FLAC, lossless) is what an archive keeps; browsers other than the newest do
not all play FLAC, and the OHMS viewer takes a record's audio to be MP3: a `file_name` without
`.mp3` gets `.mp3` appended (uklibraries/ohms-viewer, `Interview/Version3.php`). So each bag
also holds `PSEUDONYM.mp3`, encoded here with PyAV (LAME) from the redacted FLAC: 64 kbit/s
mono at the copy's own 16 kHz, which is plenty for speech, with no ID3 tag and no encoder
string (bit-exact), so that a second export writes the same bytes.
"""

from __future__ import annotations

from fractions import Fraction
from typing import BinaryIO

import av
from av.audio.resampler import AudioResampler
from av.codec.context import Flags as CodecFlags

from intake.export.record import ExportError

SUFFIX = ".mp3"
MEDIA_TYPE = "audio/mpeg"
BIT_RATE = 64_000


def mp3_copy(source: BinaryIO, dest: BinaryIO) -> float:
    """Encode the audio of `source` (the access FLAC) as MP3 into `dest`, a frame at a time
    (never whole in memory); return its seconds."""
    try:
        with av.open(source, mode="r") as container:
            stream = container.streams.audio[0]
            rate = stream.codec_context.sample_rate or 16_000
            with av.open(
                dest,
                mode="w",
                format="mp3",
                container_options={"id3v2_version": "0", "write_xing": "0", "fflags": "+bitexact"},
            ) as output:
                encoder = output.add_stream("libmp3lame", rate=rate, layout="mono")
                encoder.bit_rate = BIT_RATE
                encoder.codec_context.flags |= CodecFlags.bitexact
                resampler = AudioResampler(format="s16p", layout="mono", rate=rate)
                written = 0

                def encode(frames: list[av.AudioFrame]) -> None:
                    nonlocal written
                    for frame in frames:
                        frame.pts, frame.time_base = written, Fraction(1, rate)
                        written += frame.samples
                        output.mux(encoder.encode(frame))

                for frame in container.decode(stream):
                    frame.pts = None
                    encode(resampler.resample(frame))
                encode(resampler.resample(None))
                output.mux(encoder.encode(None))
    except (av.error.FFmpegError, IndexError) as exc:
        raise ExportError(f"could not make the listening copy: {exc}") from exc
    return written / rate
