"""Identity: the only module that writes a submitter's name or contact.

Name and contact are sealed under a key of their own, wrapped by the master key, in a table
apart from the testimony, and shown on no page. (Sealing to the custodians' public keys, so
that the server cannot open them at all, comes with the custodian role.)
"""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from intake import crypto
from intake.models import Identity


def _context(testimony_id: int) -> bytes:
    return f"identity:{testimony_id}".encode()


def store_identity(
    session: Session, master_key: bytes, testimony_id: int, name: str, contact: str
) -> Identity | None:
    """Seal name and contact for a testimony; nothing is written when both are empty."""
    if not name and not contact:
        return None
    key = crypto.new_data_key()
    payload = json.dumps({"name": name, "contact": contact}, ensure_ascii=False).encode()
    row = Identity(
        testimony_id=testimony_id,
        wrapped_key=crypto.wrap_key(master_key, key),
        sealed=crypto.seal(key, payload, _context(testimony_id)),
    )
    session.add(row)
    return row
