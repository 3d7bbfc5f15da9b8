"""Time of the forced alignment of reviewed words, and of the redaction proof, per minute of audio.

    python benchmarks/alignment.py [AUDIO_DIR] [--language fa] [--json OUT]

AUDIO_DIR holds audio clips and a `references.tsv` (file, duration_s, reference), e.g.
../shared/data/audio/fa/: each reference is a human transcript, which is what a reviewer's
corrected text is, so aligning it is the alignment job's real work. Without AUDIO_DIR, English
sentences are spoken with espeak-ng.

For each clip the script transcribes it (for comparison, in the same run), aligns the
reference's words to the audio with the workers' model (`workers.alignment.align_words`), marks
the middle word, silences its aligned span (with the configured margin) in a FLAC copy as the
access copy does, and runs the redaction proof on that copy
(`intake.review.redaction_proof.check_file`: the level of the span, and the model listening to the
span's surroundings). It prints seconds of work per minute of audio for both, and how many
marked spans measured silent and how many marked words the model still heard.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from intake.config import Config  # noqa: E402
from intake.redaction import Category, Mark  # noqa: E402
from intake.review.alignment import approved_words  # noqa: E402
from intake.review.redaction_proof import check_file  # noqa: E402
from workers.alignment import align_words, listener_for  # noqa: E402
from workers.engine import SAMPLE_RATE, Engine, EngineSettings  # noqa: E402

SENTENCES = (
    "In nineteen eighty eight my brother was held in Evin prison for three years.",
    "The guards took the prisoners from the courtyard before dawn.",
    "My mother waited at the gate of the prison every Saturday morning.",
    "We never learned where they buried him, or who gave the order.",
)


def _decode(path: Path) -> np.ndarray:
    from faster_whisper.audio import decode_audio

    return np.asarray(decode_audio(str(path), sampling_rate=SAMPLE_RATE), dtype=np.float32)


def _flac(samples: np.ndarray) -> bytes:
    """16 kHz mono FLAC in memory, the access format."""
    buf = io.BytesIO()
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with av.open(buf, mode="w", format="flac") as out:
        stream = out.add_stream("flac", rate=SAMPLE_RATE, layout="mono")
        for start in range(0, pcm.shape[0], 4096):
            chunk = pcm[start : start + 4096]
            frame = av.AudioFrame(format="s16", layout="mono", samples=chunk.shape[0])
            frame.planes[0].update(chunk.tobytes())
            frame.sample_rate = SAMPLE_RATE
            frame.time_base = Fraction(1, SAMPLE_RATE)
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buf.seek(0)
    return buf.getvalue()


def _clips(folder: Path | None, scratch: Path) -> list[tuple[str, np.ndarray, str]]:
    if folder is not None:
        rows = list(csv.reader((folder / "references.tsv").open(encoding="utf-8"), delimiter="\t"))
        found = []
        for row in rows:
            if len(row) < 3 or not (folder / row[0]).is_file():
                continue  # the header, or a listed file that is not there
            found.append((row[0], _decode(folder / row[0]), row[2]))
        return found
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SystemExit("espeak-ng is not installed; give an AUDIO_DIR")
    found = []
    for i, sentence in enumerate(SENTENCES):
        wav = scratch / f"s{i}.wav"
        subprocess.run([exe, "-v", "en-us", "-s", "140", "-w", str(wav), sentence], check=True)
        found.append((wav.name, _decode(wav), sentence))
    return found


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("audio_dir", nargs="?", type=Path)
    parser.add_argument("--language", default=None)
    parser.add_argument("--json", type=Path)
    # The tests' assembled bundle by default, so a benchmark never assembles a second copy.
    default_cache = Path(tempfile.gettempdir()) / "testimony-test-models"
    parser.add_argument("--model-cache", type=Path, default=default_cache)
    args = parser.parse_args()
    language = args.language or ("fa" if args.audio_dir else "en")
    config = Config()
    engine = Engine(EngineSettings(cache_dir=args.model_cache, batch_size=1))
    engine.model  # noqa: B018 - loaded before timing
    listen = listener_for(engine)
    with tempfile.TemporaryDirectory() as scratch:
        clips = _clips(args.audio_dir, Path(scratch))
    audio_s = align_s = proof_s = transcribe_s = 0.0
    silent = heard = marks = 0
    for _name, audio, reference in clips:
        words = approved_words(reference)
        if not words:
            continue
        # The transcription of the same clip, in the same run: on a shared machine the ratio
        # says more than the seconds.
        started = time.perf_counter()
        segments, _ = engine.model.transcribe(audio, language=language, word_timestamps=True)
        list(segments)
        transcribe_s += time.perf_counter() - started
        started = time.perf_counter()
        aligned = align_words(engine, audio, words, language, 0.0)
        align_s += time.perf_counter() - started
        audio_s += audio.shape[0] / SAMPLE_RATE
        middle = aligned[len(aligned) // 2]
        margin = config.redaction_margin_s
        lo = max(0, int((middle.start - margin) * SAMPLE_RATE))
        hi = int((middle.end + margin) * SAMPLE_RATE)
        redacted = audio.copy()
        redacted[lo:hi] = 0.0
        mark = Mark(0, middle.char_start, middle.char_end, middle.start, middle.end, Category.other)
        started = time.perf_counter()
        (check,) = check_file(
            io.BytesIO(_flac(redacted)),
            [mark],
            [0],
            [[middle.text]],
            language,
            audio.shape[0] / SAMPLE_RATE,
            config,
            listen,
        )
        proof_s += time.perf_counter() - started
        marks += 1
        silent += check.silent
        heard += check.heard
    minutes = audio_s / 60
    figures = {
        "clips": marks,
        "audio_s": round(audio_s, 1),
        "alignment_s_per_audio_min": round(align_s / minutes, 2),
        "transcription_s_per_audio_min": round(transcribe_s / minutes, 2),
        "proof_s_per_audio_min": round(proof_s / minutes, 2),
        "proof_s_per_mark": round(proof_s / max(marks, 1), 2),
        "spans_silent": f"{silent}/{marks}",
        "marked_words_still_heard": f"{heard}/{marks}",
    }
    print(f"| measure ({language}, {marks} clips, {audio_s:.0f} s of audio) | value |")
    print("| --- | --- |")
    print(f"| alignment, seconds per minute of audio | {figures['alignment_s_per_audio_min']} |")
    print(
        "| transcription of the same clips (word timestamps), seconds per minute | "
        f"{figures['transcription_s_per_audio_min']} |"
    )
    print(
        "| proof (one mark a clip), seconds per minute of audio | "
        f"{figures['proof_s_per_audio_min']} |"
    )
    print(f"| proof, seconds per mark | {figures['proof_s_per_mark']} |")
    print(f"| marked spans measured silent | {figures['spans_silent']} |")
    print(f"| marked words still heard after silencing | {figures['marked_words_still_heard']} |")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
