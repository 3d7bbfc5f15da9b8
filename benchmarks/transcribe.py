"""Accuracy, speed and memory of the transcription engine against bare faster-whisper.

    python benchmarks/transcribe.py AUDIO_DIR [--language fa] [--joined-min-s 180]
        [--long-hours 0] [--hotwords "..."] [--json OUT]

AUDIO_DIR holds audio files and a `references.tsv` (tab separated: file, duration_s, reference),
e.g. ../shared/data/audio/fa/. For each file the script runs our Engine (batched pipeline, word
timestamps, windowing, restricted language detection) and bare faster-whisper (sequential
`WhisperModel.transcribe`, beam 5, language given, no word timestamps, no VAD) with the same
loaded model, and prints CER and WER after Persian normalisation and the real-time factor
(processing seconds / audio seconds; lower is faster). It then joins all files (repeated until
at least --joined-min-s seconds) into one WAV and runs both on it, each in a fresh child process
so that the child's peak RSS (VmHWM) is the memory a worker would need. With --long-hours N it
also writes an N-hour FLAC (streamed, never held in memory) and reports the engine's peak RSS and
real-time factor on it. --hotwords adds an engine run with those glossary hotwords.

Per-file language detection is reported too: Whisper's free choice among its 99 languages and
the engine's choice restricted to Persian and English.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import random
import re
import statistics
import sys
import tempfile
import time
import unicodedata
import wave
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from workers.engine import SAMPLE_RATE, Engine, EngineSettings  # noqa: E402

# --------------------------------------------------------------------------------------------
# Normalisation and error rates

_CHAR_MAP = str.maketrans(
    {
        "ي": "ی",
        "ى": "ی",
        "ئ": "ی",
        "ك": "ک",
        "ة": "ه",
        "ۀ": "ه",
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ؤ": "و",
        "\u200c": "",  # zero-width non-joiner: written or not, the same word
        "\u200d": "",
        "\u200e": "",
        "\u200f": "",
        "\u0640": "",  # tatweel
        **{chr(0x06F0 + i): str(i) for i in range(10)},  # Persian digits
        **{chr(0x0660 + i): str(i) for i in range(10)},  # Arabic-Indic digits
    }
)
_DIACRITICS = re.compile("[\u064b-\u065f\u0670\u06d6-\u06ed]")


def normalise(text: str) -> str:
    """Persian text reduced to what a listener can check: letters, digits, single spaces.

    Arabic letter variants become their Persian forms, digits become ASCII, diacritics, ZWNJ
    and punctuation go, case is folded (for Latin words such as PyTorch), spaces collapse.
    """
    text = unicodedata.normalize("NFKC", text).translate(_CHAR_MAP)
    text = _DIACRITICS.sub("", text)
    text = "".join(" " if unicodedata.category(c)[0] in "PSZC" else c for c in text)
    return " ".join(text.lower().split())


def edit_distance(a: list[str] | str, b: list[str] | str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions all cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def cer(reference: str, hypothesis: str) -> float:
    ref, hyp = normalise(reference), normalise(hypothesis)
    return edit_distance(ref, hyp) / max(len(ref), 1)


def wer(reference: str, hypothesis: str) -> float:
    ref, hyp = normalise(reference).split(), normalise(hypothesis).split()
    return edit_distance(ref, hyp) / max(len(ref), 1)


# --------------------------------------------------------------------------------------------
# Runs


@dataclass
class Run:
    """One system on one input."""

    system: str
    seconds: float  # processing time, model already loaded
    audio_s: float
    text: str = ""
    cer: float | None = None
    wer: float | None = None
    peak_rss_mib: float | None = None
    segments: int = 0
    longest_segment_s: float = 0.0

    @property
    def rtf(self) -> float:
        return self.seconds / self.audio_s if self.audio_s else float("nan")


@dataclass
class FileResult:
    file: str
    duration_s: float
    reference: str
    lang_free: str = ""
    lang_restricted: str = ""
    lang_restricted_p: float = 0.0
    runs: dict[str, Run] = field(default_factory=dict)


def settings_from(args: argparse.Namespace) -> EngineSettings:
    return EngineSettings(
        model=args.model,
        device=args.device,
        compute_type=args.compute_type,
        beam_size=args.beam_size,
        batch_size=args.batch_size,
        cpu_threads=args.cpu_threads,
        window_s=args.window_s,
        cache_dir=Path(args.cache_dir),
    )


def engine_lang(language: str) -> str | None:
    return None if language in ("auto", "") else language


def run_engine(
    engine: Engine, path: Path, language: str, hotwords: str | None = None, name: str = "engine"
) -> Run:
    t0 = time.perf_counter()
    result = engine.transcribe(path, language=engine_lang(language), hotwords=hotwords)
    elapsed = time.perf_counter() - t0
    return Run(
        system=name,
        seconds=elapsed,
        audio_s=result.duration_s,
        text=" ".join(s.text for s in result.segments),
        segments=len(result.segments),
        longest_segment_s=max((s.end - s.start for s in result.segments), default=0.0),
    )


def run_bare(engine: Engine, path: Path, language: str, beam_size: int) -> Run:
    """faster-whisper as its README shows it: sequential, no word timestamps, no VAD."""
    t0 = time.perf_counter()
    segments, info = engine.model.transcribe(
        str(path), language=engine_lang(language), beam_size=beam_size
    )
    segs = list(segments)
    elapsed = time.perf_counter() - t0
    return Run(
        system="bare",
        seconds=elapsed,
        audio_s=info.duration,
        text=" ".join(s.text.strip() for s in segs),
        segments=len(segs),
        longest_segment_s=max((s.end - s.start for s in segs), default=0.0),
    )


def _peak_rss_mib() -> float:
    """VmHWM of this process: the most resident memory it ever had."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_run(
    system: str, settings: EngineSettings, path: str, language: str, warmup: str | None
) -> dict[str, Any]:
    """Runs in a fresh process: load the model, warm up on a short clip, time one input."""
    engine = Engine(settings)
    if warmup:
        if system == "bare":
            run_bare(engine, Path(warmup), language, settings.beam_size)
        else:
            run_engine(engine, Path(warmup), language)
    if system == "bare":
        run = run_bare(engine, Path(path), language, settings.beam_size)
    else:
        run = run_engine(engine, Path(path), language)
    run.peak_rss_mib = _peak_rss_mib()
    return asdict(run)


def in_child(system: str, settings: EngineSettings, path: Path, language: str,
             warmup: Path | None) -> Run:
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        data = pool.submit(
            child_run, system, settings, str(path), language, str(warmup) if warmup else None
        ).result()
    return Run(**data)


# --------------------------------------------------------------------------------------------
# Audio for the joined and long runs


def load_pcm(path: Path) -> np.ndarray:
    from faster_whisper.audio import decode_audio

    return np.asarray(decode_audio(str(path), sampling_rate=SAMPLE_RATE), dtype=np.float32)


def to_s16(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def write_joined(clips: list[tuple[np.ndarray, str]], min_s: float, out: Path) -> tuple[float, str]:
    """Clips with 0.6 s of silence between, the list repeated until `min_s`; returns (s, ref)."""
    gap = np.zeros(int(0.6 * SAMPLE_RATE), dtype=np.float32)
    total = 0
    refs: list[str] = []
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        while True:
            for audio, ref in clips:
                w.writeframes(to_s16(audio) + to_s16(gap))
                total += audio.shape[0] + gap.shape[0]
                refs.append(ref)
            if total >= min_s * SAMPLE_RATE:
                break
    return total / SAMPLE_RATE, " ".join(refs)


def write_long_flac(clips: list[np.ndarray], hours: float, out: Path) -> float:
    """An N-hour FLAC of the clips with 0.5-4 s silences between, encoded clip by clip."""
    import av

    rng = random.Random(7)
    target = int(hours * 3600 * SAMPLE_RATE)
    written = 0
    with av.open(str(out), mode="w", format="flac") as container:
        stream = container.add_stream("flac", rate=SAMPLE_RATE, layout="mono")
        while written < target:
            for clip in clips:
                gap = np.zeros(int(rng.uniform(0.5, 4.0) * SAMPLE_RATE), dtype=np.float32)
                pcm = to_s16(np.concatenate([clip, gap]))
                samples = len(pcm) // 2
                frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
                frame.planes[0].update(pcm)
                frame.sample_rate = SAMPLE_RATE
                frame.time_base = Fraction(1, SAMPLE_RATE)
                frame.pts = written
                written += samples
                for packet in stream.encode(frame):
                    container.mux(packet)
                if written >= target:
                    break
        for packet in stream.encode(None):
            container.mux(packet)
    return written / SAMPLE_RATE


# --------------------------------------------------------------------------------------------
# Report


def fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(summary: list[dict[str, Any]]) -> str:
    head = (
        "| input | system | mean CER | mean WER | real-time factor | peak RSS (MiB) "
        "| longest segment (s) |\n| --- | --- | --- | --- | --- | --- | --- |"
    )
    rows = [
        f"| {r['input']} | {r['system']} | {fmt(r.get('cer'))} | {fmt(r.get('wer'))} "
        f"| {fmt(r.get('rtf'))} | {fmt(r.get('peak_rss_mib'), 0)} "
        f"| {fmt(r.get('longest_segment_s'), 1)} |"
        for r in summary
    ]
    return "\n".join([head, *rows])


def read_references(audio_dir: Path) -> list[tuple[str, float, str]]:
    with open(audio_dir / "references.tsv", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(r["file"], float(r["duration_s"]), r["reference"]) for r in reader]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("audio_dir", type=Path)
    parser.add_argument("--language", default="fa", help="fa, en, or auto (detection)")
    parser.add_argument("--joined-min-s", type=float, default=180.0)
    parser.add_argument("--long-hours", type=float, default=0.0)
    parser.add_argument("--hotwords", default=None, help="glossary hotwords for an extra run")
    parser.add_argument("--json", type=Path, default=None, help="write all figures here")
    parser.add_argument("--model", default="base")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--cpu-threads", type=int, default=0)
    parser.add_argument("--window-s", type=float, default=600.0)
    parser.add_argument("--cache-dir", default=str(ROOT / "instance" / "models"))
    parser.add_argument("--skip-joined", action="store_true", help="per-file figures only")
    args = parser.parse_args(argv)

    settings = settings_from(args)
    engine = Engine(settings)
    refs = read_references(args.audio_dir)
    paths = [args.audio_dir / name for name, _, _ in refs]
    print(f"settings: {settings}; cpu cores: {os.cpu_count()}", flush=True)

    # Warm-up: model load, VAD model load, first-call allocations are not what we measure.
    run_engine(engine, paths[0], args.language)
    run_bare(engine, paths[0], args.language, args.beam_size)

    results: list[FileResult] = []
    for (name, duration, reference), path in zip(refs, paths, strict=True):
        fr = FileResult(file=name, duration_s=duration, reference=reference)
        audio = load_pcm(path)
        fr.lang_free = engine.model.detect_language(audio=audio)[0]
        fr.lang_restricted, fr.lang_restricted_p = engine.detect_language(audio)
        runs = [run_engine(engine, path, args.language), run_bare(engine, path, args.language,
                                                                   args.beam_size)]
        if args.hotwords:
            runs.append(run_engine(engine, path, args.language, args.hotwords, "engine+hotwords"))
        for run in runs:
            run.cer, run.wer = cer(reference, run.text), wer(reference, run.text)
            fr.runs[run.system] = run
        results.append(fr)
        cells = "  ".join(
            f"{r.system}: CER {r.cer:.3f} WER {r.wer:.3f} RTF {r.rtf:.3f}" for r in runs
        )
        print(f"{name} ({duration:.1f} s) lang free={fr.lang_free} "
              f"restricted={fr.lang_restricted}:{fr.lang_restricted_p:.2f}  {cells}", flush=True)
        for run in runs:
            print(f"    {run.system:>7}: {run.text}", flush=True)

    summary: list[dict[str, Any]] = []
    for system in results[0].runs:
        rs = [fr.runs[system] for fr in results]
        summary.append(
            {
                "input": f"{len(rs)} clips, one by one",
                "system": system,
                "cer": statistics.mean(r.cer or 0.0 for r in rs),
                "wer": statistics.mean(r.wer or 0.0 for r in rs),
                "rtf": sum(r.seconds for r in rs) / sum(r.audio_s for r in rs),
                "longest_segment_s": max(r.longest_segment_s for r in rs),
            }
        )
    expected = engine_lang(args.language)
    detection = {
        "free_correct": sum(fr.lang_free == expected for fr in results),
        "restricted_correct": sum(fr.lang_restricted == expected for fr in results),
        "files": len(results),
    }

    with tempfile.TemporaryDirectory(prefix="bench-transcribe-") as tmp:
        if not args.skip_joined:
            clips = [(load_pcm(p), ref) for p, (_, _, ref) in zip(paths, refs, strict=True)]
            joined = Path(tmp) / "joined.wav"
            joined_s, joined_ref = write_joined(clips, args.joined_min_s, joined)
            print(f"joined recording: {joined_s:.1f} s", flush=True)
            for system in ("engine", "bare"):
                run = in_child(system, settings, joined, args.language, paths[0])
                run.cer, run.wer = cer(joined_ref, run.text), wer(joined_ref, run.text)
                summary.append(
                    {"input": f"joined, {joined_s:.0f} s", **asdict(run), "rtf": run.rtf}
                )
                print(f"joined {system}: {run.seconds:.1f} s, RTF {run.rtf:.3f}, CER "
                      f"{run.cer:.3f}, peak RSS {run.peak_rss_mib:.0f} MiB", flush=True)
        if args.long_hours > 0:
            long_path = Path(tmp) / "long.flac"
            long_s = write_long_flac([load_pcm(p) for p in paths], args.long_hours, long_path)
            print(f"long recording: {long_s / 3600:.2f} h", flush=True)
            run = in_child("engine", settings, long_path, args.language, paths[0])
            summary.append({"input": f"long, {long_s / 3600:.2f} h", **asdict(run),
                            "rtf": run.rtf, "cer": None, "wer": None})
            print(f"long engine: {run.seconds:.0f} s, RTF {run.rtf:.3f}, peak RSS "
                  f"{run.peak_rss_mib:.0f} MiB", flush=True)

    print()
    print(f"Language detection on {detection['files']} files (expected {expected}): "
          f"free {detection['free_correct']}, restricted to fa/en "
          f"{detection['restricted_correct']}")
    print()
    print(markdown(summary))
    if args.json:
        payload = {
            "settings": {k: str(v) for k, v in asdict(settings).items()},
            "cpu_count": os.cpu_count(),
            "detection": detection,
            "summary": [{k: v for k, v in r.items() if k != "text"} for r in summary],
            "files": [
                {**{k: v for k, v in asdict(fr).items() if k != "runs"},
                 "runs": {k: asdict(v) for k, v in fr.runs.items()}}
                for fr in results
            ],
        }
        args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
