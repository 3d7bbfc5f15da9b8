"""The event log's one writer, and its tamper-evident chain.

Every state change, edit, approval and reveal is one `Event` row, written by `record_event` and
by nothing else. Each entry carries its place (`seq`, 1, 2, 3, ...), the hash of the entry
before it and its own hash over both and over everything it records, so an edited, deleted or
reordered entry breaks the chain at that entry (`verify`). An entry cut off the end leaves a
shorter chain that is still whole: an operator writes down or publishes the head (`head`), and
`verify(expected_head=...)` then finds the cut. Details carry ids, counts and states, never
names or text.

Concurrent writers: `record_event` first updates the single `audit_head` row, which takes the
write lock on SQLite and that row's lock on PostgreSQL until the transaction ends, then reads
the head it now owns. Writers therefore line up instead of forking the chain. Call it late in a
transaction (after slow work such as writing files), since it holds every other writer back.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from intake.events import Action, Actor, parse_actor
from intake.models import AuditHead, Event, TestimonyState, utcnow

GENESIS = "0" * 64
_HEAD_ID = 1
_BATCH = 1000


def as_utc(value: datetime) -> datetime:
    """`value` as an aware UTC datetime (SQLite returns naive ones)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def entry_hash(
    *,
    seq: int,
    prev_hash: str,
    testimony_id: int | None,
    at: datetime,
    actor: str,
    account_id: int | None = None,
    action: str,
    from_state: str | None,
    to_state: str | None,
    detail: dict[str, Any] | None,
) -> str:
    """SHA-256 of one entry in a canonical form (sorted keys, no spaces, UTC to the
    microsecond), so the archive can recompute it from the exported history alone."""
    canonical = json.dumps(
        {
            "seq": seq,
            "prev_hash": prev_hash,
            "testimony_id": testimony_id,
            "at": as_utc(at).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "actor": str(actor),
            "account_id": account_id,
            "action": str(action),
            "from_state": from_state,
            "to_state": to_state,
            "detail": detail,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _hash_of(event: Event) -> str:
    return entry_hash(
        seq=event.seq,
        prev_hash=event.prev_hash,
        testimony_id=event.testimony_id,
        at=event.at,
        actor=event.actor,
        account_id=event.account_id,
        action=event.action,
        from_state=event.from_state,
        to_state=event.to_state,
        detail=event.detail,
    )


def _take_head(session: Session) -> AuditHead:
    """Lock the head row (the lock is the UPDATE) and return it; create it on a new database."""
    locked = session.execute(
        update(AuditHead).where(AuditHead.id == _HEAD_ID).values(seq=AuditHead.seq)
    )
    if locked.rowcount == 0:  # type: ignore[attr-defined]
        head = AuditHead(id=_HEAD_ID, seq=0, hash=GENESIS)
        session.add(head)
        session.flush()
        return head
    head = session.scalars(
        select(AuditHead).where(AuditHead.id == _HEAD_ID).execution_options(populate_existing=True)
    ).one()
    return head


def record_event(
    session: Session,
    testimony_id: int | None,
    actor: Actor | str,
    action: Action,
    *,
    from_state: TestimonyState | None = None,
    to_state: TestimonyState | None = None,
    detail: dict[str, Any] | None = None,
) -> Event:
    """Append one event at the end of the chain: the only place an event row is made. `detail`
    holds ids, counts and states only, never names or text. `actor` is an Actor, or a staff
    member as `events.staff_ref(account_id)`."""
    who, account_id = parse_actor(actor)
    action = Action(action)
    head = _take_head(session)
    event = Event(
        testimony_id=testimony_id,
        at=utcnow(),
        actor=who,
        account_id=account_id,
        action=action,
        from_state=from_state.value if from_state else None,
        to_state=to_state.value if to_state else None,
        detail=detail,
        seq=head.seq + 1,
        prev_hash=head.hash,
    )
    # Round-trip the detail through JSON now, so the hash covers exactly what is stored.
    event.detail = json.loads(json.dumps(detail)) if detail is not None else None
    event.hash = _hash_of(event)
    head.seq, head.hash = event.seq, event.hash
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class Verdict:
    """The result of `verify`: whether the chain holds, how far, and the first bad entry."""

    ok: bool
    entries: int
    head: str
    first_bad_seq: int | None = None
    reason: str = ""


def head(session: Session) -> str:
    """The chain's head as `SEQ:HASH`, for an operator to write down or publish."""
    row = session.get(AuditHead, _HEAD_ID)
    return f"{row.seq}:{row.hash}" if row is not None else f"0:{GENESIS}"


def verify(session: Session, expected_head: str | None = None) -> Verdict:
    """Recompute the whole chain and name the first entry that does not hold.

    `expected_head` is a `SEQ:HASH` written down earlier: the entry at SEQ must still have
    that hash, which finds entries cut off the end since then.
    """
    expected_seq, prev, count = 1, GENESIS, 0
    entries = session.scalars(select(Event).order_by(Event.seq).execution_options(yield_per=_BATCH))
    try:
        for event in entries:
            count += 1
            if event.seq != expected_seq:
                return Verdict(False, count, prev, expected_seq, f"entry {expected_seq} is missing")
            if event.prev_hash != prev:
                return Verdict(False, count, prev, event.seq, "does not follow the entry before it")
            if _hash_of(event) != event.hash:
                return Verdict(False, count, prev, event.seq, "was changed after it was written")
            prev, expected_seq = event.hash, expected_seq + 1
    finally:
        entries.close()  # a server-side cursor on PostgreSQL when we stop early
    last = expected_seq - 1
    stored = session.get(AuditHead, _HEAD_ID)
    if stored is not None and (stored.seq, stored.hash) != (last, prev):
        return Verdict(
            False,
            count,
            prev,
            last + 1,
            f"the head names entry {stored.seq}; the chain ends at {last}",
        )
    if expected_head:
        seq_text, _, hash_text = expected_head.partition(":")
        seq = int(seq_text)
        if seq > last:
            return Verdict(False, count, prev, last + 1, f"entries after {last} were cut off")
        found = session.scalar(select(Event.hash).where(Event.seq == seq))
        if found != hash_text:
            return Verdict(False, count, prev, seq, "differs from the head written down")
    return Verdict(True, count, f"{last}:{prev}")
