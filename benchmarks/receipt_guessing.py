"""How fast the receipt page answers wrong codes: the rate a guesser gets from one process.

    .venv/bin/python benchmarks/receipt_guessing.py [--n 2000] [--valid 40]

Makes a throwaway instance (embedded SQLite, secrets created), then posts the receipt form
through the app in one thread (CSRF token and session as a browser), and prints checks per
second for:

* wrong codes whose check digits are wrong (almost every guess): no Argon2 hash;
* wrong codes with valid check digits, each new (1 guess in 10^4): one Argon2 hash each;
* the same wrong code with valid check digits sent again (answered from the misses cache);
* wrong codes once the hourly budget of wrong codes is spent: with wrong check digits (still
  answered "probably mistyped", nothing written) and with valid ones ("too many attempts").

Multiply by the server's cores for a whole server; docs/security.md turns the figures into
time to hit any valid code.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

from intake import create_app, crypto, schema
from intake.config import Config
from intake.public import receipts

_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="codes per cheap kind")
    parser.add_argument("--valid", type=int, default=40, help="new codes with valid digits")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Config(
            instance_path=Path(tmp), receipt_failures_global_per_hour=10**9, testing=True
        )
        schema.upgrade(config.database_url)
        app = create_app(config)
        client = app.test_client()
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        page = client.get("/receipt").get_data(as_text=True)
        match = _TOKEN.search(page)
        assert match
        token = match.group(1)
        pepper = app.extensions["testimony"].keyring.receipt_pepper

        def valid(body: int) -> str:
            text = f"{body:012d}"
            return text + crypto.receipt_check_digits(text, pepper, receipts.CHECK_DIGITS)

        def rate(codes: list[str], expect: int) -> float:
            started = time.perf_counter()
            for code in codes:
                response = client.post("/receipt", data={"csrf_token": token, "code": code})
                assert response.status_code == expect, response.status_code
            return len(codes) / (time.perf_counter() - started)

        invalid = []
        body = 0
        while len(invalid) < args.n:
            code = f"{body:012d}0000"
            if not receipts.check_digits_match(code, pepper):
                invalid.append(code)
            body += 1
        print(f"check digits wrong (no hash):          {rate(invalid, 400):8.0f} checks/s")
        fresh = [valid(10**11 + i) for i in range(args.valid)]
        print(f"check digits right, new code (Argon2): {rate(fresh, 400):8.1f} checks/s")
        repeated = rate([fresh[0]] * args.n, 400)
        print(f"check digits right, repeated code:     {repeated:8.0f} checks/s")
        app.extensions["testimony"].config = config.with_overrides(
            receipt_failures_global_per_hour=1
        )
        print(f"budget spent, check digits wrong:      {rate(invalid, 400):8.0f} checks/s")
        limited = rate([fresh[0]] * args.n, 429)
        print(f"budget spent, check digits right:      {limited:8.0f} checks/s")
        app.extensions["testimony"].db.dispose()


if __name__ == "__main__":
    main()
