"""What questions through the receipt cost: the key a code derives, per status page.

    .venv/bin/python benchmarks/questions.py [--n 20]

Each status page (and each intake) derives the questions' key pair from the code with one more
Argon2id hash (`crypto.receipt_message_private_key`, the receipt digest's cost); prints its time,
beside the receipt digest's, and the time to seal and open one question.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time

from intake import crypto, sealing


def _ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:.1f} ms, max {max(samples) * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="codes to derive keys for")
    args = parser.parse_args()
    pepper = secrets.token_bytes(32)
    codes = [f"{secrets.randbelow(10**16):016d}" for _ in range(args.n)]
    digest, derive, seal_open = [], [], []
    for code in codes:
        start = time.perf_counter()
        crypto.receipt_digest(code, pepper)
        digest.append(time.perf_counter() - start)
        start = time.perf_counter()
        private, public = sealing.submitter_message_keys(code, pepper)
        derive.append(time.perf_counter() - start)
        start = time.perf_counter()
        sealed = sealing.seal_question_for_submitter(public, 1, 1, "Which prison was that?" * 20)
        sealing.open_question_for_submitter(private, 1, 1, sealed)
        seal_open.append(time.perf_counter() - start)
    print(f"receipt digest (lookup), {args.n} codes: {_ms(digest)}")
    print(f"questions' key pair from the code:     {_ms(derive)}")
    print(f"seal and open one question (440 chars): {_ms(seal_open)}")


if __name__ == "__main__":
    main()
