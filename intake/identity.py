"""Identity: the only module that writes a submitter's name or contact.

Name and contact are sealed under a key of their own (itself sealed to the archive's public
key), in a table apart from the testimony, and shown on no page. (Sealing to the custodians'
public keys, so that the server cannot open them at all, comes with the custodian role.)
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from intake import sealing
from intake.crypto import Keyring
from intake.models import Identity


def store_identity(
    session: Session, keyring: Keyring, testimony_id: int, name: str, contact: str
) -> Identity | None:
    """Seal name and contact for a testimony; nothing is written when both are empty."""
    if not name and not contact:
        return None
    wrapped, sealed = sealing.seal_identity(keyring, testimony_id, name, contact)
    row = Identity(testimony_id=testimony_id, wrapped_key=wrapped, sealed=sealed)
    session.add(row)
    return row
