"""Receipt codes: shown once to the submitter, stored only as a slow hash.

With the code a submitter can check status, add audio or withdraw, without an account. Wrong
codes are limited per browser session and across all visitors: the archive never records
addresses, so a per-address limit is impossible by design (see docs/security.md).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from intake import crypto
from intake.models import ReceiptFailure, Testimony, utcnow

CODE_DIGITS = 16
_DIGITS_IN = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")


class InvalidCode(Exception):
    """The text given is not a 16-digit code at all."""


def new_code() -> str:
    """A fresh 16-digit receipt code (53 bits of randomness)."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def normalise(text: str) -> str:
    """Accept Persian or Arabic-Indic digits, spaces and dashes; return 16 ASCII digits."""
    digits = "".join(ch for ch in text.translate(_DIGITS_IN) if not ch.isspace() and ch != "-")
    if len(digits) != CODE_DIGITS or not digits.isascii() or not digits.isdigit():
        raise InvalidCode(text)
    return digits


def grouped(code: str) -> str:
    """`1234 5678 9012 3456`: easier to copy down by hand."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def digest(code: str, pepper: bytes) -> bytes:
    """The stored form of a code."""
    return crypto.receipt_digest(code, pepper)


def find(session: Session, code: str, pepper: bytes) -> Testimony | None:
    """The testimony a code belongs to, or None."""
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
