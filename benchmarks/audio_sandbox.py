"""What parsing each upload in a confined process of its own costs (intake/audio_sandbox.py).

    .venv/bin/python benchmarks/audio_sandbox.py [--runs 10] [--seconds 1]

Makes the access copy of one WAV of --seconds (48 kHz stereo tone) --runs times in this
process and --runs times through the confined child, and prints the median wall time of each
and their difference: the overhead per file, with the child's CPU time (a busy machine
stretches wall time, not CPU time) (a Python start-up, PyAV's imports, the warm-up
and the confinement). Uses a temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import io
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from intake import audio, audio_sandbox, crypto  # noqa: E402
from tests import audio_fixtures as fx  # noqa: E402


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    data = fx.tone_wav(args.seconds)
    limits = audio_sandbox.Limits(cpu_s=60, memory_bytes=1024**3, wall_s=60.0)
    here: list[float] = []
    there: list[float] = []
    child_cpu: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        temp = Path(folder)
        for _ in range(args.runs):
            started = time.perf_counter()
            audio.make_access_copy(io.BytesIO(data), io.BytesIO(), max_duration_s=3600.0)
            here.append(time.perf_counter() - started)
            spool, dest = crypto.EncryptedTempFile(temp), crypto.EncryptedTempFile(temp)
            spool.write(data)
            started, cpu = time.perf_counter(), _children_cpu()
            audio_sandbox.make_access_copy(
                spool, dest, max_duration_s=3600.0, limits=limits, temp_dir=temp
            )
            there.append(time.perf_counter() - started)
            child_cpu.append(_children_cpu() - cpu)
            spool.close()
            dest.close()
    in_process, confined = statistics.median(here), statistics.median(there)
    print(f"{args.seconds:g} s WAV, {args.runs} runs, medians:")
    print(f"  in this process   {in_process * 1000:7.1f} ms")
    print(f"  confined child    {confined * 1000:7.1f} ms")
    print(f"  overhead per file {(confined - in_process) * 1000:7.1f} ms")
    print(f"  the child's CPU   {statistics.median(child_cpu) * 1000:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
