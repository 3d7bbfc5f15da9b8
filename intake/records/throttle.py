"""Counters of failed staff attempts, one per bucket, with a delay that grows after each failure.

A bucket is what an attempt is counted against, named by a keyed hash (`bucket`):

* ``email``: sign-ins from browsers WITHOUT a valid device cookie for that account, per email
  typed, known or unknown alike, so that the answers and delays never tell a staff email from
  any other;
* ``device``: sign-ins from one browser holding a device cookie for the account (OWASP's
  device-cookie scheme): its own small counter, which no one else's failures touch, so an
  attacker who exhausts the ``email`` bucket never locks the owner's own browser out;
* ``passphrase``: one custodian's passphrase, per account.

The table holds the hashes, counts and times only: never an address or a browser's name.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from intake.models import SignInThrottle, utcnow

# Failures allowed before any delay; then 2 s, 4 s, 8 s ... up to a quarter of an hour.
FREE_FAILURES = 3
MAX_DELAY_S = 900
# A bucket without a failure for this long starts again from nothing (and its row goes), so
# the table holds at most a day of buckets.
FORGET_AFTER = timedelta(days=1)


def bucket(secret: bytes, kind: str, name: str | int) -> bytes:
    """The keyed hash that names one counter: `kind` (email, device, passphrase) and its name."""
    return hashlib.blake2b(f"{kind}:{name}".encode(), key=secret[:64], digest_size=32).digest()


def _row(session: Session, key: bytes) -> SignInThrottle | None:
    return session.scalars(select(SignInThrottle).where(SignInThrottle.bucket == key)).first()


def delay_s(failures: int) -> int:
    """The wait after `failures` failures in a row: none for the first FREE_FAILURES, then
    doubling from 2 s up to MAX_DELAY_S."""
    extra = failures - FREE_FAILURES - 1
    return 0 if extra < 0 else min(2 ** (extra + 1), MAX_DELAY_S)


def wait_s(session: Session, key: bytes, now: datetime | None = None) -> int:
    """Seconds this bucket must still wait before its next attempt is checked (0: none)."""
    now = now or utcnow()
    row = _row(session, key)
    if row is None or row.locked_until is None or row.locked_until <= now:
        return 0
    return int((row.locked_until - now).total_seconds()) + 1


def fail(session: Session, key: bytes, now: datetime | None = None) -> int:
    """Count one failure on the bucket and set its wait; returns the failures so far. Also
    drops buckets idle past FORGET_AFTER, so guessing at random emails cannot grow the table
    for longer than a day."""
    now = now or utcnow()
    session.execute(delete(SignInThrottle).where(SignInThrottle.updated_at < now - FORGET_AFTER))
    row = _row(session, key)
    if row is None:
        row = SignInThrottle(bucket=key, failures=0)
        session.add(row)
    row.failures = (row.failures or 0) + 1
    row.updated_at = now
    wait = delay_s(row.failures)
    row.locked_until = now + timedelta(seconds=wait) if wait else None
    session.flush()
    return row.failures


def failures(session: Session, key: bytes) -> int:
    """Failures counted on the bucket so far."""
    row = _row(session, key)
    return 0 if row is None else row.failures


def clear(session: Session, key: bytes) -> None:
    """Forget the bucket's failures (after a success, or an administrator's reset)."""
    session.execute(delete(SignInThrottle).where(SignInThrottle.bucket == key))
