"""Form tokens: one testimony per intake form, and the receipt code until it is written down.

Each intake page carries a fresh random token in a hidden field. The server never stores the
token itself, only values derived from it:

* its digest names the form: the files kept for it between rounds (`intake.public.spool`) and, once
  it created a testimony, its `SentForm` row, so that a reload or a double click never creates
  a second one;
* a key derived from it encrypts those kept files, and another seals the receipt code in the
  `SentForm` row. That second key goes into the submitter's session, so the code can be shown
  again (after a language switch, or to the second of two clicks) until they confirm having
  written it down; then the sealed code is deleted and cannot be shown again.

A database dump alone opens nothing here, and neither does the cookie alone.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from intake import crypto, sealing
from intake.models import SentForm, utcnow

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
# A sent form is remembered this long: a page re-sent later than that is a new form.
SENT_FORM_KEEP = timedelta(days=30)


class AlreadySent(Exception):
    """This form already created a testimony."""


def new_token() -> str:
    """A fresh token for one intake form (256 random bits)."""
    return secrets.token_urlsafe(32)


def read(text: str | None) -> str | None:
    """The token a form sent back, or None if it is missing or malformed."""
    return text if text and _TOKEN.match(text) else None


def digest(token: str) -> str:
    """The name of a form on the server: 64 hex digits, from which the token cannot be found."""
    return hashlib.sha256(b"intake-form:" + token.encode("ascii")).hexdigest()


def spool_key(token: str) -> bytes:
    """The key of the files kept for this form."""
    return sealing.form_spool_key(token)


def receipt_key(token: str) -> bytes:
    """The key that seals this form's receipt code; the submitter's session holds it."""
    return sealing.form_receipt_key(token)


@dataclass(frozen=True)
class Claim:
    """What `submissions.accept` needs to mark a form as sent: its digest and receipt key."""

    digest: str
    receipt_key: bytes

    @classmethod
    def for_token(cls, token: str) -> Claim:
        """The claim of one form."""
        return cls(digest(token), receipt_key(token))


def claim(session: Session, form: Claim) -> None:
    """Mark the form as sent, inside the caller's transaction; raise AlreadySent if another
    request already did (the primary key decides, so two requests at once cannot both win).

    Called first in that transaction, so that a second request waits here, before it writes
    anything else.
    """
    session.add(SentForm(digest=form.digest, sent_at=utcnow()))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise AlreadySent from None


def keep_code(session: Session, form: Claim, code: str) -> None:
    """Seal the receipt code into the form's row (same transaction as the testimony)."""
    row = session.get(SentForm, form.digest)
    assert row is not None, "claim() first"
    row.sealed_code = sealing.seal_receipt_code(form.receipt_key, form.digest, code)


def was_sent(session: Session, token: str) -> bool:
    """True if this form already created a testimony."""
    return session.get(SentForm, digest(token)) is not None


def session_value(form: Claim) -> dict[str, str]:
    """What the submitter's session keeps to show the code again: the form's digest and the
    receipt key (useless without the row, which is deleted on confirmation)."""
    return {"form": form.digest, "key": base64.urlsafe_b64encode(form.receipt_key).decode()}


def shown_code(session: Session, value: object) -> str | None:
    """The receipt code for a session's value, or None if there is none (confirmed, expired,
    or a value that does not open it)."""
    if not isinstance(value, dict):
        return None
    try:
        form = Claim(str(value["form"]), base64.urlsafe_b64decode(str(value["key"])))
    except (KeyError, ValueError):
        return None
    row = session.get(SentForm, form.digest)
    if row is None or row.sealed_code is None:
        return None
    try:
        return sealing.open_receipt_code(form.receipt_key, form.digest, row.sealed_code)
    except (crypto.DecryptionError, ValueError):
        return None


def forget_code(session: Session, value: object) -> None:
    """Delete the sealed code of a session's form, for good (the submitter wrote it down)."""
    if isinstance(value, dict) and isinstance(value.get("form"), str):
        session.execute(
            update(SentForm).where(SentForm.digest == value["form"]).values(sealed_code=None)
        )
        session.commit()


def sweep(session: Session, receipt_keep_s: float) -> int:
    """Forget codes never confirmed after `receipt_keep_s`, and sent forms older than
    SENT_FORM_KEEP; returns how many codes were forgotten."""
    now = utcnow()
    forgotten = session.execute(
        update(SentForm)
        .where(
            SentForm.sealed_code.is_not(None),
            SentForm.sent_at < now - timedelta(seconds=receipt_keep_s),
        )
        .values(sealed_code=None)
    ).rowcount  # type: ignore[attr-defined]
    session.execute(delete(SentForm).where(SentForm.sent_at < now - SENT_FORM_KEEP))
    return int(forgotten or 0)
