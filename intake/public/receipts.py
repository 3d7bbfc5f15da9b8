"""Receipt codes: shown once to the submitter, stored only as a slow hash.

With the code a submitter can check status, add audio or withdraw, without an account, so no
limit on guessing may ever turn away the owner of a correct code. A code is 12 random digits
and 4 check digits, a keyed MAC of the 12 (`crypto.receipt_check_digits`):

* a code whose check digits are wrong (a typo, or almost every guess) is answered at once,
  without an Argon2 hash;
* only codes with valid check digits (every owner's, and 1 guess in 10^4) are hashed and looked
  up, through a gate that bounds how many hashes run at once across the instance: a wait,
  never a refusal;
* wrong codes are counted across all visitors (a time only: the archive never records
  addresses, so a per-address limit is impossible by design). Past the hourly budget, codes
  with valid check digits that match nothing get "too many attempts" while correct codes
  still open at once; a code whose check digits fail is still answered "probably mistyped"
  (without being counted), so a flood of guesses never takes from an owner the hint that a
  digit was mistyped. That answer tells a guesser nothing new: every code with valid check
  digits is hashed and looked up whatever the budget says, so knowing which ones had them
  does not speed up a search.

The arithmetic (guesses per second, time to hit any code) is in docs/security.md.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from intake import crypto
from intake.models import ReceiptFailure, Testimony, utcnow
from intake.public.gate import Gate

CODE_DIGITS = 16
RANDOM_DIGITS = 12
CHECK_DIGITS = CODE_DIGITS - RANDOM_DIGITS
_DIGITS_IN = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")


class InvalidCode(Exception):
    """The text given is not a 16-digit code at all."""


def new_code(pepper: bytes) -> str:
    """A fresh receipt code: 12 random digits (40 bits) and their 4 check digits."""
    body = f"{secrets.randbelow(10**RANDOM_DIGITS):0{RANDOM_DIGITS}d}"
    return body + crypto.receipt_check_digits(body, pepper, CHECK_DIGITS)


def normalise(text: str) -> str:
    """Accept Persian or Arabic-Indic digits, spaces and dashes; return 16 ASCII digits."""
    digits = "".join(ch for ch in text.translate(_DIGITS_IN) if not ch.isspace() and ch != "-")
    if len(digits) != CODE_DIGITS or not digits.isascii() or not digits.isdigit():
        raise InvalidCode(text)
    return digits


def groups_reversed(code: str) -> str:
    """The code with its four groups of four in the reverse order: how a Persian reader may
    type a card read right to left (`4037 4950 6996 8423` for `8423 6996 4950 4037`)."""
    return "".join(code[i : i + 4] for i in range(len(code) - 4, -1, -4))


def in_card_order(code: str, pepper: bytes) -> str | None:
    """The code in the order of the card: as typed when its check digits match, else with
    its groups reversed when only those match; None when both orders match (two codes it
    could be: the visitor must say) or neither does."""
    typed = check_digits_match(code, pepper)
    turned = groups_reversed(code)
    other = turned != code and check_digits_match(turned, pepper)
    if typed and other:
        return None
    if typed:
        return code
    return turned if other else None


def check_digits_match(code: str, pepper: bytes) -> bool:
    """True when the last 4 digits are the MAC of the first 12 (microseconds, no Argon2)."""
    body, check = code[:RANDOM_DIGITS], code[RANDOM_DIGITS:]
    return hmac.compare_digest(check, crypto.receipt_check_digits(body, pepper, CHECK_DIGITS))


def grouped(code: str) -> str:
    """`1234 5678 9012 3456`: easier to copy down by hand."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def digest(code: str, pepper: bytes) -> bytes:
    """The stored form of a code."""
    return crypto.receipt_digest(code, pepper)


def find(session: Session, code: str, pepper: bytes) -> Testimony | None:
    """The testimony a code belongs to, or None (one Argon2 hash: go through `lookup`)."""
    return session.scalar(select(Testimony).where(Testimony.receipt_digest == digest(code, pepper)))


def global_limit_reached(session: Session, per_hour: int) -> bool:
    """True when all visitors together have given too many wrong codes in the last hour."""
    since = utcnow() - timedelta(hours=1)
    count = session.scalar(select(func.count()).where(ReceiptFailure.at >= since)) or 0
    return count >= per_hour


def record_failure(session: Session) -> None:
    """Note one wrong code (a time only) and forget those older than a day."""
    session.add(ReceiptFailure(at=utcnow()))
    session.execute(delete(ReceiptFailure).where(ReceiptFailure.at < utcnow() - timedelta(days=1)))


def _newest_id(session: Session) -> int:
    return int(session.scalar(select(func.max(Testimony.id))) or 0)


class RecentMisses:
    """Codes with valid check digits that matched nothing, remembered for a minute.

    Without this, one such code (found after about 10^4 cheap guesses) could be sent again and
    again to keep the Argon2 gate full. An entry holds a keyed hash of the code and the newest
    testimony id when it missed; once a newer testimony exists the entry is ignored, so a code
    issued since is always hashed and found.
    """

    def __init__(self, size: int = 10_000, ttl_s: float = 60.0) -> None:
        self._entries: OrderedDict[bytes, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size
        self._ttl = ttl_s

    @staticmethod
    def _key(code: str, pepper: bytes) -> bytes:
        return hashlib.blake2b(code.encode("ascii"), key=pepper[:64], digest_size=16).digest()

    def missed(self, code: str, pepper: bytes, newest_id: int) -> bool:
        """True if this code matched nothing and no testimony was created since."""
        key = self._key(code, pepper)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False
            at, newest_then = entry
            if time.monotonic() - at > self._ttl or newest_id != newest_then:
                del self._entries[key]
                return False
            return True

    def add(self, code: str, pepper: bytes, newest_id: int) -> None:
        """Remember a miss, seen when `newest_id` was the newest testimony."""
        key = self._key(code, pepper)
        with self._lock:
            self._entries[key] = (time.monotonic(), newest_id)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


class Outcome(enum.Enum):
    """How a code given on a receipt form was answered."""

    found = "found"
    wrong_length = "wrong_length"  # not 16 digits: nobody's code, nothing counted
    mistyped = "mistyped"  # check digits wrong: answered at once, no hash
    unknown = "unknown"  # check digits right, but no testimony has this code
    limited = "limited"  # a wrong code while the hourly budget of wrong codes is spent
    # Both the groups as typed and in the reverse order carry valid check digits: they may be
    # two different codes, so the visitor is asked to type them left to right.
    order = "order"


@dataclass(frozen=True)
class Lookup:
    """The answer to one code: the testimony (when found) and the code as 16 ASCII digits."""

    outcome: Outcome
    testimony: Testimony | None = None
    code: str = ""


def lookup(
    session: Session,
    text: str,
    pepper: bytes,
    *,
    gate: Gate,
    misses: RecentMisses,
    failures_per_hour: int,
) -> Lookup:
    """Find the testimony of a code as typed by a visitor; count and limit wrong codes.

    A correct code is found whatever the count says: the budget only decides how a wrong code
    is answered. Commits the failure count.
    """
    try:
        code = normalise(text)
    except InvalidCode:
        return Lookup(Outcome.wrong_length)
    testimony = None
    # A card read right to left may be typed group by group from the right: accepted when
    # only that order carries valid check digits (`in_card_order`).
    ordered = in_card_order(code, pepper)
    if ordered is not None:
        code = ordered
        newest = _newest_id(session)
        if not misses.missed(code, pepper, newest):
            with gate.held():
                testimony = find(session, code, pepper)
            if testimony is not None:
                return Lookup(Outcome.found, testimony, code)
            misses.add(code, pepper, newest)
        wrong = Outcome.unknown
    elif check_digits_match(code, pepper):
        wrong = Outcome.order
    else:
        wrong = Outcome.mistyped
    # Past the budget nothing is written, so a flood does not grow the table; a mistyped code
    # keeps its own answer, the owner's hint (see the module's docstring).
    if global_limit_reached(session, failures_per_hour):
        return Lookup(Outcome.mistyped if wrong is Outcome.mistyped else Outcome.limited)
    record_failure(session)
    session.commit()
    return Lookup(wrong)
