"""Identity: the only module that writes or opens a submitter's name or contact.

Name and contact are sealed under a key of their own, in a table apart from the testimony, and
that key is sealed to each custodian's public key (`IdentitySeal`), so the public app and the
workers seal names but can never open one: only a custodian's private key, unlocked for one
request by their passphrase, does. Until the first custodian exists an identity's key waits
wrapped for the archive (`Identity.wrapped_key`); `seal_waiting` hands it to the custodians
and clears it. Every reveal and every release of a name for export writes an event.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake import sealing
from intake.crypto import DecryptionError, Keyring
from intake.events import Action, staff_ref
from intake.models import (
    Custodian,
    Identity,
    IdentityReveal,
    IdentitySeal,
    NameRelease,
    Testimony,
    TestimonyState,
)
from intake.public import pseudonyms
from intake.records import audit

# A reason shorter than this says nothing a later reader could check.
MIN_REASON_CHARS = 10
MAX_REASON_CHARS = 2000


class IdentityError(ValueError):
    """A reveal or release refused; `reason` names why, for a message in the staff member's
    language."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Revealed:
    """An identity as shown once to a custodian: never stored, never logged."""

    pseudonym: str
    name: str
    contact: str
    may_publish_name: bool


def custodian_keys(session: Session) -> dict[int, bytes]:
    """Every custodian's public key, by custodian id: what an identity is sealed to."""
    rows = session.execute(select(Custodian.id, Custodian.public_key)).all()
    return {cid: bytes(public) for cid, public in rows}


def store_identity(
    session: Session, keyring: Keyring, testimony_id: int, name: str, contact: str
) -> Identity | None:
    """Seal name and contact for a testimony; nothing is written when both are empty."""
    if not name and not contact:
        return None
    sealed = sealing.seal_identity(keyring, custodian_keys(session), testimony_id, name, contact)
    row = Identity(testimony_id=testimony_id, wrapped_key=sealed.waiting_key, sealed=sealed.sealed)
    session.add(row)
    session.flush()
    for custodian_id, sealed_key in sealed.custodian_keys.items():
        session.add(IdentitySeal(identity_id=row.id, custodian_id=custodian_id, sealed=sealed_key))
    return row


def seal_waiting(session: Session, keyring: Keyring) -> int:
    """Seal every identity still waiting for the archive to every custodian, then clear its
    waiting key; returns how many. Needs the archive's private side and at least one
    custodian (it does nothing otherwise)."""
    keys = custodian_keys(session)
    if not keys:
        return 0
    count = 0
    for row in session.scalars(select(Identity).where(Identity.wrapped_key.is_not(None))):
        assert row.wrapped_key is not None
        key = sealing.waiting_identity_key(keyring, row.wrapped_key)
        held = set(
            session.scalars(
                select(IdentitySeal.custodian_id).where(IdentitySeal.identity_id == row.id)
            )
        )
        for custodian_id, public in keys.items():
            if custodian_id not in held:
                session.add(
                    IdentitySeal(
                        identity_id=row.id,
                        custodian_id=custodian_id,
                        sealed=sealing.seal_identity_key(public, key),
                    )
                )
        row.wrapped_key = None
        count += 1
    return count


def seal_to_new_custodian(
    session: Session, existing: Custodian, existing_private: bytes, new: Custodian
) -> int:
    """Seal every identity that `existing` can open to `new` as well; returns how many.

    `existing_private` is the existing custodian's unlocked private key: adding a custodian
    needs one who can already read the names, so the server alone cannot add a reader."""
    count = 0
    seals = session.scalars(select(IdentitySeal).where(IdentitySeal.custodian_id == existing.id))
    for seal in seals.all():
        key = sealing.custodian_identity_key(existing_private, seal.sealed)
        session.add(
            IdentitySeal(
                identity_id=seal.identity_id,
                custodian_id=new.id,
                sealed=sealing.seal_identity_key(new.public_key, key),
            )
        )
        count += 1
    return count


def _reason(text: str) -> str:
    cleaned = text.strip()
    if len(cleaned) < MIN_REASON_CHARS:
        raise IdentityError("reason_short")
    if len(cleaned) > MAX_REASON_CHARS:
        raise IdentityError("reason_long")
    return cleaned


def _open(
    session: Session, account_id: int, pseudonym: str, passphrase: str
) -> tuple[Testimony, Custodian, dict[str, str]]:
    custodian = session.scalars(select(Custodian).where(Custodian.account_id == account_id)).first()
    if custodian is None:
        raise IdentityError("no_custodian_key")
    testimony = session.scalars(
        select(Testimony).where(Testimony.pseudonym == pseudonyms.normalise(pseudonym))
    ).first()
    if testimony is None:
        raise IdentityError("no_record")
    row = session.scalars(select(Identity).where(Identity.testimony_id == testimony.id)).first()
    if row is None:
        raise IdentityError("no_identity")
    seal = session.scalars(
        select(IdentitySeal).where(
            IdentitySeal.identity_id == row.id, IdentitySeal.custodian_id == custodian.id
        )
    ).first()
    if seal is None:
        raise IdentityError("not_sealed_to_you")
    try:
        private = sealing.unlock_custodian_key(custodian.locked_key, passphrase)
    except DecryptionError as exc:
        raise IdentityError("wrong_passphrase") from exc
    key = sealing.custodian_identity_key(private, seal.sealed)
    return testimony, custodian, sealing.open_identity(key, testimony.id, row.sealed)


def _record_use(
    session: Session,
    keyring: Keyring,
    testimony: Testimony,
    custodian: Custodian,
    reason: str,
    action: Action,
) -> IdentityReveal:
    use = IdentityReveal(testimony_id=testimony.id, account_id=custodian.account_id)
    session.add(use)
    session.flush()
    use.reason_sealed = sealing.seal_reveal_reason(keyring, use.id, reason)
    # The reason's length and hash only: the event log is read by people who must not read
    # a name a custodian might have written into a reason. The hash, chained with the event,
    # shows later that the sealed reason was not changed.
    audit.record_event(
        session,
        testimony.id,
        staff_ref(custodian.account_id),
        action,
        detail={
            "custodian": custodian.id,
            "reveal": use.id,
            "reason_chars": len(reason),
            "reason_sha256": hashlib.sha256(reason.encode()).hexdigest(),
        },
    )
    return use


def reveal(
    session: Session,
    keyring: Keyring,
    account_id: int,
    pseudonym: str,
    passphrase: str,
    reason: str,
) -> Revealed:
    """Open one record's identity for the custodian `account_id`, after their passphrase and
    a written reason, and record the reveal; the caller shows the result once after the
    commit. IdentityError says why not."""
    cleaned = _reason(reason)
    testimony, custodian, value = _open(session, account_id, pseudonym, passphrase)
    _record_use(session, keyring, testimony, custodian, cleaned, Action.identity_revealed)
    consent = testimony.consent
    may_publish = bool(
        consent is not None and consent.publish_named and consent.withdrawn_at is None
    )
    return Revealed(testimony.pseudonym, value["name"], value["contact"], may_publish)


def release_name(
    session: Session,
    keyring: Keyring,
    account_id: int,
    pseudonym: str,
    passphrase: str,
    reason: str,
) -> None:
    """Release one record's name (never the contact) for its export, where its consent
    allows publication with the name: the name is sealed for the archive's exporter and the
    release recorded. IdentityError says why not."""
    cleaned = _reason(reason)
    testimony, custodian, value = _open(session, account_id, pseudonym, passphrase)
    consent = testimony.consent
    if (
        testimony.state == TestimonyState.withdrawn
        or consent is None
        or not consent.publish_named
        or consent.withdrawn_at is not None
    ):
        raise IdentityError("no_consent")
    if not value["name"].strip():
        raise IdentityError("no_name")
    sealed = sealing.seal_released_name(keyring, testimony.id, value["name"].strip())
    row = session.scalars(
        select(NameRelease).where(NameRelease.testimony_id == testimony.id)
    ).first()
    if row is None:
        session.add(NameRelease(testimony_id=testimony.id, sealed=sealed, account_id=account_id))
    else:
        row.sealed, row.account_id = sealed, account_id
    _record_use(session, keyring, testimony, custodian, cleaned, Action.name_released)


def released_name(session: Session, keyring: Keyring, testimony_id: int) -> str | None:
    """The name a custodian released for this record's export, if any, while its consent
    still allows publication with the name: for the exporter, and for nothing else."""
    row = session.scalars(
        select(NameRelease).where(NameRelease.testimony_id == testimony_id)
    ).first()
    testimony = session.get(Testimony, testimony_id)
    if row is None or testimony is None:
        return None
    consent = testimony.consent
    if consent is None or not consent.publish_named or consent.withdrawn_at is not None:
        return None
    return sealing.open_released_name(keyring, testimony_id, row.sealed)
