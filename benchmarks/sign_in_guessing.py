"""What a password guesser gets against one staff account, and whether a wrong email costs the
same as a wrong password.

    .venv/bin/python benchmarks/sign_in_guessing.py [--n 30]

Makes a throwaway instance (embedded SQLite, secrets created) and one staff account, then:

* times `accounts.check_password` (the sign-in's whole check, Argon2id included) for a wrong
  password of the known email and for unknown emails, each attempt on a fresh bucket, and
  prints the mean and spread of each: the two must not be told apart by their time;
* simulates a guesser without the device cookie who retries the moment each wait ends, with the
  real functions and a simulated clock, and prints how many passwords they get checked in the
  first hour and per day after that. The same schedule holds for a custodian's passphrase.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from intake import create_app, schema
from intake.config import Config
from intake.models import Role, utcnow
from intake.records import accounts, throttle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30, help="timed checks per kind")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Config(instance_path=Path(tmp), testing=True)
        schema.upgrade(config.database_url)
        app = create_app(config, "staff")
        svc = app.extensions["testimony"]
        secret = accounts.throttle_secret(svc.keyring)
        with svc.db.session() as s:
            account, _once = accounts.create(s, "staff@example.org", [Role.reviewer])
            email = account.email

        def timed(address: str) -> float:
            with svc.db.session() as s:
                throttle.clear(s, accounts.sign_in_bucket(secret, address, None, None))
                started = time.perf_counter()
                attempt = accounts.check_password(s, secret, address, "a wrong password")
                spent = time.perf_counter() - started
                assert attempt.outcome is accounts.SignIn.wrong
            return spent * 1000

        known, unknown = [], []
        for i in range(args.n):
            known.append(timed(email))
            unknown.append(timed(f"nobody{i}@example.org"))
        for name, times in (("known email, wrong password", known), ("unknown email", unknown)):
            print(
                f"{name:28} {statistics.mean(times):7.1f} ms "
                f"(sd {statistics.stdev(times):5.1f}, median {statistics.median(times):7.1f})"
            )

        now = utcnow()
        end_of_day = now + timedelta(days=2)
        checked: list[float] = []
        with svc.db.session() as s:
            start = now
            while now < end_of_day:
                attempt = accounts.check_password(s, secret, email, "guess", now=now)
                if attempt.outcome is accounts.SignIn.wait:
                    now += timedelta(seconds=attempt.wait_s)
                    continue
                checked.append((now - start).total_seconds())
                now += timedelta(milliseconds=100)
        first_hour = sum(1 for t in checked if t < 3600)
        second_day = sum(1 for t in checked if 86400 <= t < 2 * 86400)
        print(f"passwords checked, first hour:  {first_hour}")
        print(f"passwords checked, per day after: {second_day}")
        print(f"longest wait: {throttle.MAX_DELAY_S} s")
        svc.db.dispose()


if __name__ == "__main__":
    main()
