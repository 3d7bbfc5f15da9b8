"""Custodians: the staff members whose key pairs open identities, and how one is added.

A custodian's private key is made here and stored only locked under their passphrase
(Argon2id and a secret box, `intake.sealing`). Adding the first custodian hands them every
identity still waiting for the archive; adding a further one needs the passphrase of a
custodian who can already read the names, so that whoever runs the server cannot make
themselves a reader of names that are already sealed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake import sealing
from intake.config import Config
from intake.crypto import DecryptionError, Keyring
from intake.events import Action, Actor, staff_ref
from intake.models import Custodian, Role
from intake.public import identity
from intake.records import accounts, audit, throttle

MIN_PASSPHRASE_CHARS = 12


class CustodianError(ValueError):
    """A custodian could not be added; `reason` names why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Added:
    """A new custodian and how many identities were sealed to them."""

    custodian_id: int
    account_id: int
    sealed: int


def passphrase_bucket(keyring: Keyring, account_id: int) -> bytes:
    """The throttle bucket of one custodian's passphrase, per account
    (`intake.records.throttle`)."""
    return throttle.bucket(accounts.throttle_secret(keyring), "passphrase", account_id)


def passphrase_wait_s(session: Session, keyring: Keyring, account_id: int) -> int:
    """Seconds the custodian `account_id` must wait before a passphrase is checked again:
    the sign-in's growing delay, so that a custodian's session (a stolen one, say) cannot
    guess at the key without limit."""
    return throttle.wait_s(session, passphrase_bucket(keyring, account_id))


def passphrase_failed(session: Session, keyring: Keyring, account_id: int) -> None:
    """Count a wrong passphrase on the custodian's bucket and write it to the event log, by
    account id only. Runs in the caller's transaction (after it rolled back the refused
    reveal)."""
    failures = throttle.fail(session, passphrase_bucket(keyring, account_id))
    audit.record_event(
        session,
        None,
        staff_ref(account_id),
        Action.custodian_unlock_failed,
        detail={"account": account_id, "failures": failures},
    )


def passphrase_succeeded(session: Session, keyring: Keyring, account_id: int) -> None:
    """A right passphrase: its bucket starts again from nothing."""
    throttle.clear(session, passphrase_bucket(keyring, account_id))


def exist(session: Session) -> bool:
    """Whether any custodian exists yet."""
    return session.scalars(select(Custodian.id).limit(1)).first() is not None


def unlock_any(session: Session, passphrase: str) -> tuple[Custodian, bytes]:
    """The custodian whose passphrase this is, with their unlocked private key."""
    for custodian in session.scalars(select(Custodian).order_by(Custodian.id)):
        try:
            return custodian, sealing.unlock_custodian_key(custodian.locked_key, passphrase)
        except DecryptionError:
            continue
    raise CustodianError("wrong_existing_passphrase")


def add(
    session: Session,
    keyring: Keyring,
    config: Config,
    email: str,
    passphrase: str,
    existing_passphrase: str | None = None,
    by: Actor | str = Actor.operator,
) -> Added:
    """Make a key pair for the staff account `email`, give it the custodian role, and seal the
    identities to it: the waiting ones (the first custodian), or those an existing custodian
    opens with `existing_passphrase` (any further one). Runs in the caller's transaction."""
    account = accounts.find(session, email)
    if account is None:
        raise CustodianError("no_account")
    if session.scalars(select(Custodian).where(Custodian.account_id == account.id)).first():
        raise CustodianError("exists")
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise CustodianError("short_passphrase")
    existing = None
    if exist(session):
        if existing_passphrase is None:
            raise CustodianError("existing_passphrase_needed")
        existing = unlock_any(session, existing_passphrase)
    public, locked = sealing.new_custodian_key(
        passphrase, passes=config.custodian_kdf_passes, memory_mib=config.custodian_kdf_mib
    )
    custodian = Custodian(account_id=account.id, public_key=public, locked_key=locked)
    session.add(custodian)
    session.flush()
    held = {r.role for r in account.roles}
    if Role.custodian not in held:
        accounts.set_roles(session, account, held | {Role.custodian}, by)
    audit.record_event(
        session,
        None,
        by,
        Action.custodian_added,
        detail={"account": account.id, "custodian": custodian.id},
    )
    sealed = 0
    if existing is not None:
        sealed += identity.seal_to_new_custodian(session, existing[0], existing[1], custodian)
    # Identities that were still waiting (all of them for the first custodian; for a later
    # one, any sealed while the custodians' keys were being read) go to every custodian.
    sealed += identity.seal_waiting(session, keyring)
    audit.record_event(
        session,
        None,
        by,
        Action.identities_resealed,
        detail={"custodian": custodian.id, "count": sealed},
    )
    return Added(custodian.id, account.id, sealed)
