"""Staff accounts: passwords, roles, the TOTP second factor and sign-in limits.

Plain functions on a session, shared by the staff app, the `testimony user` commands and the
tests. Nothing here stores or reads a network address. Failed sign-ins are limited with a delay
that doubles after each further failure, counted in `intake.records.throttle` by OWASP's
device-cookie
scheme: a browser that once signed in to an account holds a device cookie for it and has its own
small counter; every other attempt on an email (known or not, alike) shares that email's
counter. An attacker can thus slow down new browsers for an account, never the owner's own.

Sign-ins, failed sign-ins against an existing account, sign-outs and idle expiries are written
to the tamper-evident event log here (not in the views), named by the account id alone, so the
log shows who entered the staff app when, and which accounts are being guessed at, without
ever holding an address or a browser's name. Attempts naming no account, and attempts refused
unchecked while an account must wait, are not logged: they name nobody, and writing each would
let anyone lengthen the chain at will.
"""

from __future__ import annotations

import enum
import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
import segno
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake import crypto, sealing
from intake.crypto import Keyring
from intake.events import Action, Actor, parse_actor, staff_ref
from intake.models import (
    Event,
    GrantState,
    Role,
    RoleGrant,
    StaffAccount,
    StaffRole,
    utcnow,
)
from intake.records import audit, throttle

ISSUER = "Testimony archive"
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
# How long the one-time password of a new or reset account opens the first sign-in.
ONE_TIME_VALID = timedelta(hours=24)
_EMAIL = re.compile(r"^[^@\s<>\"']{1,64}@[^@\s<>\"']{1,189}$")
# Unicode categories an email may not hold: controls, formats (bidi overrides, zero-width
# joiners and spaces), separators, unassigned and private-use characters. With them, two
# accounts could look alike on every page and in every log.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})

_hasher = PasswordHasher()
# Verified when the email is unknown, so that a wrong email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A request about accounts that cannot be done; `reason` is a stable code for messages."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SignIn(enum.StrEnum):
    """The outcome of a password check."""

    ok = "ok"
    wrong = "wrong"
    wait = "wait"
    disabled = "disabled"


@dataclass(frozen=True)
class Attempt:
    """A password check's outcome, the account when it matched, and the wait when limited."""

    outcome: SignIn
    account: StaffAccount | None = None
    wait_s: int = 0
    # The throttle bucket the attempt was counted against: the code step counts there too.
    bucket: bytes = b""


def actor(account: StaffAccount) -> str:
    """How an account is named in events and on segments: its id, never its email."""
    return staff_ref(account.id)


def role_set(account: StaffAccount) -> frozenset[Role]:
    """The roles an enabled account holds (none when disabled)."""
    return frozenset() if account.disabled else frozenset(r.role for r in account.roles)


def normalise_email(email: str) -> str:
    """Emails are compared in NFKC form, without case and surrounding space; refuse what is not
    one, and any email holding a bidi control, a zero-width or other invisible character (a
    look-alike of another account)."""
    cleaned = unicodedata.normalize("NFKC", email.strip()).lower()
    if any(unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in cleaned):
        raise AccountError("bad_email")
    if not _EMAIL.match(cleaned):
        raise AccountError("bad_email")
    return cleaned


def find(session: Session, email: str) -> StaffAccount | None:
    """The account with this email, if any."""
    try:
        cleaned = normalise_email(email)
    except AccountError:
        return None
    return session.scalars(select(StaffAccount).where(StaffAccount.email == cleaned)).first()


def by_token(session: Session, token: str) -> StaffAccount | None:
    """The account a session names, by its current session token."""
    return session.scalars(select(StaffAccount).where(StaffAccount.session_token == token)).first()


def new_token() -> str:
    """A fresh session token."""
    return secrets.token_urlsafe(32)


def one_time_password() -> str:
    """A password to hand over once, to be changed at first sign-in."""
    return secrets.token_urlsafe(15)


def _hand_over(account: StaffAccount, now: datetime | None = None) -> str:
    """A fresh one-time password for `account`: only its hash is kept, and it opens the
    first sign-in for ONE_TIME_VALID only (a code seen once and lost is not a standing key)."""
    password = one_time_password()
    account.password_hash = _hasher.hash(password)
    account.must_change_password = True
    account.one_time_expires_at = (now or utcnow()) + ONE_TIME_VALID
    return password


def one_time_expired(account: StaffAccount, now: datetime | None = None) -> bool:
    """Whether the account still waits for its first password and its one-time one expired."""
    expires = account.one_time_expires_at
    return (
        account.must_change_password
        and expires is not None
        and audit.as_utc(expires) <= (now or utcnow())
    )


def create(
    session: Session, email: str, roles: Iterable[Role | str], by: Actor | str = Actor.operator
) -> tuple[StaffAccount, str]:
    """Create an account with `roles`; returns it and its one-time password, which the caller
    shows once (only its hash is kept, and it expires after ONE_TIME_VALID).

    Created by an admin on the staff pages, the roles follow `set_roles`: where a second admin
    must confirm a grant, the account starts with none and the grants wait.
    """
    cleaned = normalise_email(email)
    wanted = _roles(roles)
    if find(session, cleaned) is not None:
        raise AccountError("exists")
    _, requester = parse_actor(by)
    gated = requester is not None and needs_second_admin(session, requester, -1)
    account = StaffAccount(
        email=cleaned,
        password_hash="",
        totp_confirmed=False,
        disabled=False,
        failed_attempts=0,
        session_token=new_token(),
        roles=[] if gated else [StaffRole(role=r) for r in sorted(wanted)],
    )
    password = _hand_over(account)
    session.add(account)
    session.flush()
    audit.record_event(
        session,
        None,
        by,
        Action.account_created,
        detail={
            "account": account.id,
            "roles": [] if gated else sorted(r.value for r in wanted),
            "waiting": sorted(r.value for r in wanted) if gated else [],
        },
    )
    for role in sorted(wanted) if gated else ():
        _request(session, account, role, requester or 0, by)
    return account, password


def _roles(roles: Iterable[Role | str]) -> set[Role]:
    try:
        return {Role(r) for r in roles}
    except ValueError as exc:
        raise AccountError("bad_role") from exc


def admins(session: Session) -> list[StaffAccount]:
    """The accounts that can act as admins now: enabled, second factor set up, admin role."""
    return list(
        session.scalars(
            select(StaffAccount)
            .join(StaffRole, StaffRole.account_id == StaffAccount.id)
            .where(
                StaffRole.role == Role.admin,
                StaffAccount.disabled.is_(False),
                StaffAccount.totp_confirmed.is_(True),
            )
        )
    )


def needs_second_admin(session: Session, requester_id: int, account_id: int) -> bool:
    """Whether a grant by `requester_id` to `account_id` waits for another admin: it does
    whenever an admin other than both could confirm it. With one admin it applies at once
    (docs/security.md says why)."""
    return any(a.id not in (requester_id, account_id) for a in admins(session))


def set_roles(
    session: Session,
    account: StaffAccount,
    roles: Iterable[Role | str],
    by: Actor | str,
) -> list[RoleGrant]:
    """Replace an account's roles; returns the grants left waiting for a second admin.

    Taking roles away applies at once. From the staff pages (`by` an account), an admin never
    gives itself a role ("own_roles"), and every role given waits for a second admin's
    confirmation where one exists (`needs_second_admin`): each role opens testimony content,
    or (admin) the granting of it. From the command line (`by` the operator, who holds the
    server and its keys anyway) roles apply at once.
    """
    wanted = _roles(roles)
    held = {r.role: r for r in account.roles}
    added = sorted(wanted - set(held))
    removed = sorted(set(held) - wanted)
    _, requester = parse_actor(by)
    if requester is not None and requester == account.id and added:
        raise AccountError("own_roles")
    for role in removed:
        account.roles.remove(held[role])
    waiting = set(pending_roles(session, account.id))
    for grant in pending_grants(session, account.id):
        if grant.role not in wanted:
            _decide(session, grant, GrantState.cancelled, by)
    gated = requester is not None and needs_second_admin(session, requester, account.id)
    grants = []
    for role in added:
        if not gated:
            account.roles.append(StaffRole(role=role))
        elif role not in waiting:
            grants.append(_request(session, account, role, requester or 0, by))
    audit.record_event(
        session,
        None,
        by,
        Action.account_roles_set,
        detail={
            "account": account.id,
            "roles": sorted(r.role.value for r in account.roles),
            "added": [] if gated else [r.value for r in added],
            "removed": [r.value for r in removed],
            "waiting": sorted(g.role.value for g in grants),
        },
    )
    session.flush()
    return grants


def _request(
    session: Session, account: StaffAccount, role: Role, requester: int, by: Actor | str
) -> RoleGrant:
    grant = RoleGrant(account_id=account.id, role=role, requested_by=requester)
    session.add(grant)
    session.flush()
    audit.record_event(
        session,
        None,
        by,
        Action.role_grant_requested,
        detail={"account": account.id, "role": role.value, "grant": grant.id},
    )
    return grant


def pending_grants(session: Session, account_id: int | None = None) -> list[RoleGrant]:
    """Grants waiting for a second admin (for one account, or all), oldest first."""
    query = select(RoleGrant).where(RoleGrant.state == GrantState.pending)
    if account_id is not None:
        query = query.where(RoleGrant.account_id == account_id)
    return list(session.scalars(query.order_by(RoleGrant.id)))


def pending_roles(session: Session, account_id: int) -> list[Role]:
    """The roles waiting to be confirmed for one account."""
    return [g.role for g in pending_grants(session, account_id)]


def _decide(session: Session, grant: RoleGrant, state: GrantState, by: Actor | str) -> None:
    _, decider = parse_actor(by)
    grant.state = state
    grant.decided_by = decider
    grant.decided_at = utcnow()
    confirmed = state is GrantState.confirmed
    action = Action.role_grant_confirmed if confirmed else Action.role_grant_cancelled
    audit.record_event(
        session,
        None,
        by,
        action,
        detail={"account": grant.account_id, "role": grant.role.value, "grant": grant.id},
    )


def confirm_grant(session: Session, grant_id: int, by: Actor | str) -> RoleGrant:
    """A second admin confirms a waiting grant: the role is held from now. Never by the admin
    who asked for it, nor by the account that receives it ("own_grant")."""
    grant = session.get(RoleGrant, grant_id, with_for_update=True)
    if grant is None or grant.state is not GrantState.pending:
        raise AccountError("no_grant")
    _, decider = parse_actor(by)
    if decider is None or decider in (grant.requested_by, grant.account_id):
        raise AccountError("own_grant")
    account = session.get(StaffAccount, grant.account_id)
    if account is None:
        raise AccountError("no_grant")
    if grant.role not in {r.role for r in account.roles}:
        account.roles.append(StaffRole(role=grant.role))
    _decide(session, grant, GrantState.confirmed, by)
    session.flush()
    return grant


def cancel_grant(session: Session, grant_id: int, by: Actor | str) -> RoleGrant:
    """Withdraw a waiting grant (any admin may, the one who asked included)."""
    grant = session.get(RoleGrant, grant_id, with_for_update=True)
    if grant is None or grant.state is not GrantState.pending:
        raise AccountError("no_grant")
    _decide(session, grant, GrantState.cancelled, by)
    session.flush()
    return grant


# Role changes every staff member sees on the start page.
ROLE_ACTIONS = (
    Action.account_created,
    Action.account_roles_set,
    Action.role_grant_requested,
    Action.role_grant_confirmed,
    Action.role_grant_cancelled,
)
RECENT_ROLE_CHANGES = timedelta(days=30)


@dataclass(frozen=True)
class RoleChange:
    """One change to who holds which role, as every staff member sees it: account ids only."""

    at: datetime
    action: Action
    account_id: int | None
    by_account: int | None
    roles: tuple[str, ...]


def role_changes(session: Session, now: datetime | None = None) -> list[RoleChange]:
    """The role changes of the last 30 days, newest first, from the event log: so that a
    role given quietly is seen by everyone it concerns, not only by the admins."""
    since = (now or utcnow()) - RECENT_ROLE_CHANGES
    events = session.scalars(
        select(Event)
        .where(Event.action.in_(ROLE_ACTIONS), Event.at >= since)
        .order_by(Event.seq.desc())
    )
    changes = []
    for event in events:
        detail = event.detail or {}
        if "roles" in detail:
            shown = tuple(detail["roles"])
        else:
            shown = (detail["role"],) if "role" in detail else ()
        target = detail.get("account")
        changes.append(
            RoleChange(
                audit.as_utc(event.at),
                Action(event.action),
                int(target) if target is not None else None,
                event.account_id,
                shown,
            )
        )
    return changes


def set_disabled(
    session: Session, account: StaffAccount, disabled: bool, by: Actor | str
) -> None:
    """Disable (or enable again) an account; disabling also ends its sessions."""
    account.disabled = disabled
    account.session_token = new_token()
    audit.record_event(
        session,
        None,
        by,
        Action.account_disabled if disabled else Action.account_enabled,
        detail={"account": account.id},
    )


def reset(session: Session, account: StaffAccount, by: Actor | str) -> str:
    """A new one-time password and a new second factor (a staff member who lost theirs)."""
    password = _hand_over(account)
    account.totp_sealed = None
    account.totp_confirmed = False
    account.totp_last_step = None
    account.failed_attempts = 0
    account.locked_until = None
    account.session_token = new_token()
    audit.record_event(session, None, by, Action.account_reset, detail={"account": account.id})
    return password


def throttle_secret(keyring: Keyring) -> bytes:
    """The key that names throttle buckets, derived from the staff key: the table alone tells
    nobody which emails were tried."""
    return crypto.derive_key(keyring.staff_key, b"sign-in-throttle")


def _email_name(email: str) -> str:
    try:
        return normalise_email(email)
    except AccountError:
        return unicodedata.normalize("NFKC", email.strip()).lower()


def sign_in_bucket(
    secret: bytes, email: str, account: StaffAccount | None, device: tuple[int, str] | None
) -> bytes:
    """Where an attempt on `email` is counted: the browser's own device bucket when it holds a
    valid device cookie (`device`: account id and nonce) for this very account, else the
    bucket every other browser trying this email shares, known email or not."""
    if device is not None and account is not None and device[0] == account.id:
        return throttle.bucket(secret, "device", f"{account.id}:{device[1]}")
    return throttle.bucket(secret, "email", _email_name(email))


def check_password(
    session: Session,
    secret: bytes,
    email: str,
    password: str,
    device: tuple[int, str] | None = None,
    now: datetime | None = None,
) -> Attempt:
    """Check a password, counting failures in the attempt's bucket (`sign_in_bucket`) and
    refusing unchecked while that bucket must wait. An unknown email is counted and delayed
    exactly as a known one, so neither the answer nor the delay tells them apart. A wrong
    password for an existing account, or the right one for a disabled account, is a failed
    sign-in in the event log."""
    now = now or utcnow()
    account = find(session, email)
    key = sign_in_bucket(secret, email, account, device)
    wait = throttle.wait_s(session, key, now)
    if wait:
        return Attempt(SignIn.wait, wait_s=wait, bucket=key)
    if account is None or len(password) > MAX_PASSWORD_LENGTH:
        _verify(_DUMMY_HASH, password[:MAX_PASSWORD_LENGTH])
        throttle.fail(session, key, now)
        return Attempt(SignIn.wrong, bucket=key)
    if not _verify(account.password_hash, password):
        failures = throttle.fail(session, key, now)
        _record_failure(session, account, "password", "wrong", failures, device is not None)
        return Attempt(SignIn.wrong, bucket=key)
    if account.disabled:
        _record_failure(
            session, account, "password", "disabled", throttle.failures(session, key), False
        )
        return Attempt(SignIn.disabled, bucket=key)
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    return Attempt(SignIn.ok, account, bucket=key)


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def _record_failure(
    session: Session, account: StaffAccount, step: str, outcome: str, failures: int, device: bool
) -> None:
    """A failed sign-in in the event log: which step, why, the count so far in its bucket (a
    run of them on one account is someone guessing), and whether the browser held a device
    cookie for the account, by account id only."""
    audit.record_event(
        session,
        None,
        actor(account),
        Action.sign_in_failed,
        detail={
            "account": account.id,
            "step": step,
            "outcome": outcome,
            "failures": failures,
            "device": device,
        },
    )


def succeed(session: Session, account: StaffAccount, bucket: bytes | None = None) -> None:
    """A full sign-in (password and code): clear the bucket it was counted in (only that one:
    an owner's success never clears an attacker's waits), give the session a new name and log
    the sign-in."""
    if bucket:
        throttle.clear(session, bucket)
    account.last_sign_in_at = utcnow()
    account.session_token = new_token()
    audit.record_event(
        session, None, actor(account), Action.signed_in, detail={"account": account.id}
    )


def sign_out(session: Session, account: StaffAccount) -> None:
    """The staff member signed out: a new session token ends the session on the server too
    (a copied cookie opens nothing afterwards), and the log records it."""
    account.session_token = new_token()
    audit.record_event(
        session, None, actor(account), Action.signed_out, detail={"account": account.id}
    )


def expire(session: Session, account: StaffAccount) -> None:
    """A session left idle past the timeout: ended on the server like a sign-out, and logged
    as an expiry so the history tells a forgotten session from a deliberate sign-out."""
    account.session_token = new_token()
    audit.record_event(
        session, None, actor(account), Action.session_expired, detail={"account": account.id}
    )


def change_password(account: StaffAccount, current: str, new: str) -> None:
    """Set a new password after checking the current one; a one-time password past its
    expiry opens nothing ("expired": an admin makes a new one with a reset)."""
    if not _verify(account.password_hash, current):
        raise AccountError("wrong_password")
    if one_time_expired(account):
        raise AccountError("expired")
    if len(new) < MIN_PASSWORD_LENGTH:
        raise AccountError("short_password")
    if len(new) > MAX_PASSWORD_LENGTH:
        raise AccountError("long_password")
    if new == current:
        raise AccountError("same_password")
    account.password_hash = _hasher.hash(new)
    account.must_change_password = False
    account.one_time_expires_at = None


def totp_secret(keyring: Keyring, account: StaffAccount) -> str:
    """The account's TOTP secret, made (unconfirmed) on first use."""
    if account.totp_sealed is None:
        secret = pyotp.random_base32()
        account.totp_sealed = sealing.seal_totp_secret(keyring, account.id, secret)
        account.totp_confirmed = False
        return secret
    return sealing.open_totp_secret(keyring, account.id, account.totp_sealed)


def check_code(
    session: Session,
    keyring: Keyring,
    account: StaffAccount,
    code: str,
    now: datetime | None = None,
    bucket: bytes | None = None,
) -> bool:
    """Check a one-time code (one step of drift either way); a code is accepted only once.
    A refused code counts in `bucket` (the password step's; the account's email bucket when
    none is given) and is a failed sign-in in the event log; a replayed one is marked as
    such, since it means someone else may have seen the code."""
    if account.totp_sealed is None:
        return False
    key = bucket or throttle.bucket(throttle_secret(keyring), "email", account.email)
    device = bucket is not None and bucket != throttle.bucket(
        throttle_secret(keyring), "email", account.email
    )
    cleaned = code.strip().replace(" ", "").translate(str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789"))
    if not (cleaned.isdigit() and len(cleaned) == 6):
        failures = throttle.fail(session, key, now)
        _record_failure(session, account, "code", "wrong", failures, device)
        return False
    totp = pyotp.TOTP(totp_secret(keyring, account))
    at = (now or utcnow()).timestamp()
    step = int(at // totp.interval)
    outcome = "wrong"
    for candidate in (step, step - 1, step + 1):
        if secrets.compare_digest(totp.generate_otp(candidate), cleaned):
            if account.totp_last_step is not None and candidate <= account.totp_last_step:
                outcome = "replayed"
                break
            account.totp_last_step = candidate
            account.totp_confirmed = True
            return True
    failures = throttle.fail(session, key, now)
    _record_failure(session, account, "code", outcome, failures, device)
    return False


def provisioning_qr(secret: str, email: str) -> str:
    """The otpauth URI as an inline SVG QR code: drawn here, nothing fetched, and no `data:`
    image for the content security policy to allow."""
    uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)
    return str(segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff"))
