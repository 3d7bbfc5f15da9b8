"""What the intake form's proof of work costs a visitor's browser, and the server.

The page's own script (static/proof_of_work.js) runs in the system's Chromium (headless,
driven by Playwright; no browser is downloaded) on a blank page, and solves --trials fresh
challenges at each difficulty (16, 18 and 20 zero bits by default). The number of tries a
puzzle needs is random (geometric, 2^bits on average), so the figures are the mean and the
slowest of the trials, and the hash rate they imply; the expected time at each difficulty is
2^bits divided by that rate. With --throttle N, Chromium's CPU is slowed N times (DevTools'
CPU throttling; 4 is what Lighthouse uses to stand for a mid-range phone), as an estimate of
a phone; measure on a real phone where one is at hand.

Then the server's side: `intake.public.proof_of_work.check` on a solved challenge (an HMAC, one
SHA-256 and a constant-time comparison), timed over --checks calls.

    .venv/bin/python benchmarks/proof_of_work.py [--bits 16 18 20] [--trials 8] [--throttle 4]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time
from pathlib import Path

from intake.public import form_tokens, proof_of_work

SCRIPT = Path(__file__).resolve().parent.parent / "static" / "proof_of_work.js"
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SOLVE = """([challenge, bits]) => new Promise((resolve) => {
  const start = performance.now();
  window.testimonyProofOfWork.solve(challenge, bits, (nonce, tries) =>
    resolve({nonce: nonce, tries: tries, ms: performance.now() - start}));
})"""


def browser_figures(
    bits_list: list[int], trials: int, throttle: float
) -> list[dict[str, float]]:
    """Solve `trials` fresh challenges per difficulty in Chromium; check each answer here."""
    from playwright.sync_api import sync_playwright

    key = secrets.token_bytes(32)
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page()
        page.set_content("<!doctype html><title>proof of work</title>")
        page.add_script_tag(path=str(SCRIPT))
        if throttle > 1:
            cdp = page.context.new_cdp_session(page)
            cdp.send("Emulation.setCPUThrottlingRate", {"rate": throttle})
        for bits in bits_list:
            times, tries = [], []
            for _ in range(trials):
                digest = form_tokens.digest(form_tokens.new_token())
                challenge = proof_of_work.issue(key, digest, bits, 600.0)
                got = page.evaluate(SOLVE, [challenge, bits])
                answer = proof_of_work.Answer(challenge, got["nonce"])
                verdict = proof_of_work.check(key, digest, answer, bits)
                assert verdict is proof_of_work.Verdict.proven, verdict
                times.append(got["ms"] / 1000)
                tries.append(got["tries"])
            rate = sum(tries) / sum(times)
            rows.append(
                {
                    "bits": bits,
                    "mean_s": statistics.mean(times),
                    "max_s": max(times),
                    "rate": rate,
                    "expected_s": 2**bits / rate,
                }
            )
        browser.close()
    return rows


def server_check_us(checks: int) -> float:
    """Microseconds per `check` of a solved 18-bit challenge (what each submission costs)."""
    key = secrets.token_bytes(32)
    digest = form_tokens.digest(form_tokens.new_token())
    challenge = proof_of_work.issue(key, digest, 18, 600.0)
    answer = proof_of_work.Answer(challenge, proof_of_work.solve(challenge, 18))
    start = time.perf_counter()
    for _ in range(checks):
        proof_of_work.check(key, digest, answer, 18)
    return (time.perf_counter() - start) / checks * 1e6


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, nargs="+", default=[16, 18, 20])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--throttle", type=float, default=1.0)
    parser.add_argument("--checks", type=int, default=20000)
    args = parser.parse_args()
    label = f"Chromium, CPU slowed {args.throttle:g}x" if args.throttle > 1 else "Chromium"
    print(f"{label}, {args.trials} puzzles per difficulty")
    print("bits | mean s | slowest s | hashes/s | expected s (2^bits / rate)")
    for row in browser_figures(args.bits, args.trials, args.throttle):
        print(
            f"{row['bits']:4d} | {row['mean_s']:6.2f} | {row['max_s']:9.2f} | "
            f"{row['rate']:8.0f} | {row['expected_s']:.2f}"
        )
    print(f"server check: {server_check_us(args.checks):.1f} us per submission")


if __name__ == "__main__":
    main()
