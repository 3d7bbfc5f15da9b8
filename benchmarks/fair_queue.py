"""Does a short clip wait behind a flood of long recordings? The real claim, simulated time.

A throwaway database (SQLite unless --database-url is given) gets what a flooder sends: ten
1-hour recordings, one a second, then a submitter's 60-second clip ten seconds after the
first. Worker slots (--slots) claim with the real `intake.records.jobs.claim_next`, on a simulated
clock: a job of d seconds of audio holds its slot for d x --rtf seconds (0.37: what the base
model took on 2 CPU cores, 88.3 s for a 237 s recording). Nothing is transcribed.

Prints, for each order, when the clip started and finished after it was sent, and the longest
wait of a recording: first come first served (what a plain queue does), the fair order
(a turn one second later per second of audio), and the fair order with long jobs (over one
window, --window 600 s) kept to all slots but one. Target: the clip starts within one
window's work (--window x --rtf).

    .venv/bin/python benchmarks/fair_queue.py [--slots 2] [--rtf 0.37] [--window 600]
"""

from __future__ import annotations

import argparse
import heapq
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete

from intake import schema
from intake.db import Database
from intake.models import Job, JobKind, JobStatus
from intake.records import jobs

HOUR = 3600.0


def simulate(
    db: Database, slots: int, rtf: float, wait_per_audio_s: float, long_slots: int, window: float
) -> dict[str, float]:
    """Queue the flood and the clip, run the slots until the queue is empty; the clip's start
    and finish and the recordings' longest wait, in seconds of simulated time."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    arrivals = [(float(i), HOUR) for i in range(10)] + [(10.0, 60.0)]
    with db.session() as s:
        s.execute(delete(Job))
    sent: dict[int, float] = {}
    clip_id = -1
    # Events: (time, order, kind, payload). Arrivals queue a job; a free slot claims one.
    events: list[tuple[float, int, str, float]] = []
    for n, (at, audio_s) in enumerate(arrivals):
        heapq.heappush(events, (at, n, "arrive", audio_s))
    free_slots = slots
    started: dict[int, float] = {}
    finished: dict[int, float] = {}
    order = len(arrivals)
    while events:
        now_s, _, kind, value = heapq.heappop(events)
        now = t0 + timedelta(seconds=now_s)
        with db.session() as s:
            if kind == "arrive":
                job = jobs.enqueue(s, None, JobKind.transcribe, audio_s=value)
                job.created_at = job.available_at = now
                job.turn_at = now + timedelta(
                    seconds=jobs.fair_wait_s(value, wait_per_audio_s)
                )
                s.flush()
                sent[job.id] = now_s
                if value < HOUR:
                    clip_id = job.id
            elif kind == "finish":
                done = s.get(Job, int(value))
                assert done is not None
                done.status, done.lease_expires_at = JobStatus.done, None
                finished[done.id] = now_s
                free_slots += 1
        with db.session() as s:
            while free_slots:
                claim = jobs.claim_next(
                    s,
                    JobKind.transcribe,
                    lease_s=10 * HOUR,
                    long_over_s=window,
                    long_slots=long_slots,
                    now=now,
                )
                if claim is None:
                    break
                job = s.get(Job, claim.job_id)
                assert job is not None and job.audio_s is not None
                started[claim.job_id] = now_s
                free_slots -= 1
                order += 1
                heapq.heappush(
                    events, (now_s + job.audio_s * rtf, order, "finish", float(claim.job_id))
                )
    long_waits = [started[j] - sent[j] for j in sent if j != clip_id]
    return {
        "clip_start_s": started[clip_id] - sent[clip_id],
        "clip_done_s": finished[clip_id] - sent[clip_id],
        "longest_recording_wait_s": max(long_waits),
        "all_done_s": max(finished.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--rtf", type=float, default=0.37)
    parser.add_argument("--window", type=float, default=600.0)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'fair.sqlite'}"
        schema.upgrade(url)
        db = Database(url)
        target = args.window * args.rtf
        print(f"{args.slots} worker slots, {args.rtf} s of work per second of audio; ten "
              f"1-hour recordings then a 60 s clip; target: the clip starts within {target:.0f} s")
        policies = [
            ("first come, first served", 0.0, 0),
            ("fair order", 1.0, 0),
            (f"fair order, long jobs in {max(1, args.slots - 1)} slot(s)", 1.0,
             max(1, args.slots - 1)),
        ]
        for label, weight, long_slots in policies:
            r = simulate(db, args.slots, args.rtf, weight, long_slots, args.window)
            print(f"{label:>42}: clip starts after {r['clip_start_s']:7.0f} s, done after "
                  f"{r['clip_done_s']:7.0f} s; longest wait of a recording "
                  f"{r['longest_recording_wait_s']:6.0f} s; all done at {r['all_done_s']:.0f} s")
        db.engine.dispose()


if __name__ == "__main__":
    main()
