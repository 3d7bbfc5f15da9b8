"""Whether machine translation drafts would be offered, on Persian reference clips.

    python benchmarks/draft_quality.py AUDIO_DIR [--model base] [--json OUT]

AUDIO_DIR holds audio files and a `references.tsv` (tab separated: file, duration_s, reference),
e.g. ../shared/data/audio/fa/. Each clip is one review segment whose approved text is its
reference transcript. The engine drafts its English translation as the draft worker does
(`Engine.draft_spans`, Whisper's translate task over the span, beam 5), and
`intake.review.draft_quality.judge` decides whether a translator would be offered it. The script
prints, per clip, the measures (mean token log-probability, compression ratio, draft/source length
ratio, share of Latin letters), the reasons a draft is held back and the draft itself, then how
many drafts would be offered. docs/transcription.md quotes the figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from intake.review import draft_quality  # noqa: E402
from workers.engine import Engine, EngineSettings  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Draft, measure and judge every clip of AUDIO_DIR; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("audio_dir", type=Path)
    parser.add_argument("--model", default="base", help="base (bundled), a name or a path")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(os.environ.get("TESTIMONY_TEST_MODEL_CACHE", "instance/models")),
        help="where the bundled model is assembled (the tests use /tmp/testimony-test-models)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    refs = args.audio_dir / "references.tsv"
    if not refs.is_file():
        print(f"no references.tsv in {args.audio_dir}", file=sys.stderr)
        return 2
    with refs.open(encoding="utf-8") as fh:
        rows = [r for r in csv.reader(fh, delimiter="\t") if r and r[0] != "file"]
    engine = Engine(EngineSettings(model=args.model, cache_dir=args.cache_dir, batch_size=0))
    results = []
    began = time.perf_counter()
    for name, duration, reference in rows:
        draft = engine.draft_spans(args.audio_dir / name, [(0.0, float(duration))], language="fa")[
            0
        ]
        measures = draft_quality.Measures(
            draft.text, draft.avg_logprob, draft.compression_ratio, draft.no_speech_prob
        )
        verdict = draft_quality.judge(measures, reference, "en")
        results.append(
            {
                "file": name,
                "avg_logprob": round(draft.avg_logprob, 3),
                "compression_ratio": round(draft.compression_ratio, 2),
                "no_speech_prob": round(draft.no_speech_prob, 3),
                "length_ratio": round(verdict.length_ratio, 2),
                "latin_share": round(verdict.script_share, 2),
                "offered": verdict.offered,
                "reasons": list(verdict.reasons),
                "draft": draft.text,
            }
        )
    elapsed = time.perf_counter() - began
    print(f"model: {args.model}   clips: {len(results)}   seconds: {elapsed:.1f}")
    print("file\tlogprob\tcompr\tlen\tlatin\toffered\treasons\tdraft")
    for r in results:
        print(
            f"{r['file']}\t{r['avg_logprob']}\t{r['compression_ratio']}\t{r['length_ratio']}\t"
            f"{r['latin_share']}\t{'yes' if r['offered'] else 'no'}\t"
            f"{','.join(r['reasons']) or '-'}\t{r['draft']}"
        )
    logprobs = [float(r["avg_logprob"]) for r in results]
    offered = sum(1 for r in results if r["offered"])
    print(
        f"\noffered: {offered} of {len(results)}; mean log-probability "
        f"{statistics.mean(logprobs):.3f} (max {max(logprobs):.3f}); threshold "
        f"{draft_quality.MIN_AVG_LOGPROB}; length ratio "
        f"{draft_quality.MIN_LENGTH_RATIO}-{draft_quality.MAX_LENGTH_RATIO}"
    )
    for reason in ("language", "length", "logprob", "repetition", "stock_phrase", "numbers"):
        count = sum(1 for r in results if reason in r["reasons"])
        print(f"held back for {reason}: {count}")
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
