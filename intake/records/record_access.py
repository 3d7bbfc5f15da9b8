"""Who may open which record: the one rule the queues and the content routes share.

A staff role works on records in some states and under some consent: a reviewer on
transcribed records under review whose submitter consented to transcription, a translator on
approved transcripts under translation whose submitter consented to translation, an
archivist on approved and archived records. `WORK` says so once. The queues select with
`where(role)`; every route that serves a record's content (audio, segments, drafts, the
editors) opens the record with `open_for`, which answers None for anything the queue of that
role would not list, so a pseudonym typed into a URL reaches no more than the queue shows.

The first time an account opens a record's content, an event is written (the account id and
the role, never text), so the history shows who has read a testimony, not only who changed it.
Later opens write nothing: an audio player asks for hundreds of byte ranges.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, select
from sqlalchemy.orm import Session

from intake.events import Action, staff_ref
from intake.models import Consent, Event, Role, Testimony, TestimonyState
from intake.records import audit


@dataclass(frozen=True)
class Work:
    """The records a role works on: their states, and the consent they need (a column of
    `Consent` that must be true; None when the state alone decides)."""

    states: tuple[TestimonyState, ...]
    consent: str | None


WORK: dict[Role, Work] = {
    Role.reviewer: Work((TestimonyState.transcribed, TestimonyState.in_review), "transcribe"),
    Role.translator: Work(
        (
            TestimonyState.transcript_approved,
            TestimonyState.in_translation,
            TestimonyState.translation_review,
        ),
        "translate",
    ),
    # Indexing and search reach every approved transcript (the submitter consented to
    # transcription), whatever its translation's progress: the widest reading reach of any
    # role, kept apart from the reviewer's, which ends at the approval (docs/security.md).
    Role.indexer: Work(
        (
            TestimonyState.transcript_approved,
            TestimonyState.in_translation,
            TestimonyState.translation_review,
            TestimonyState.approved,
            TestimonyState.archived,
        ),
        "transcribe",
    ),
    # What of an approved record may leave is the publication policy's decision, per
    # artefact; the archivist's own pages show states, hashes and counts.
    Role.archivist: Work((TestimonyState.approved, TestimonyState.archived), None),
}


def work_of(role: Role) -> Work:
    """The work of `role`; KeyError for a role that opens no record's content."""
    return WORK[role]


def where(role: Role) -> ColumnElement[bool]:
    """The SQL condition on `Testimony` for the records `role` works on (for the queues)."""
    work = work_of(role)
    condition = and_(Testimony.state.in_(work.states), Testimony.wrapped_key.is_not(None))
    if work.consent is not None:
        consented = getattr(Consent, work.consent).is_(True)
        condition = and_(
            condition,
            exists().where(Consent.testimony_id == Testimony.id, consented),
        )
    return condition


def may_open(role: Role, testimony: Testimony) -> bool:
    """Whether `role` works on this record now: the same test as `where`, on a loaded row."""
    work = WORK.get(role)
    if work is None or testimony.wrapped_key is None or testimony.state not in work.states:
        return False
    if work.consent is None:
        return True
    consent = testimony.consent
    return consent is not None and bool(getattr(consent, work.consent))


def open_for(session: Session, account_id: int, role: Role, pseudonym: str) -> Testimony | None:
    """The record named `pseudonym` if `role` works on it (else None, which the routes answer
    with 404 whether or not the record exists), writing the account's first-open event.

    Flushes the event; the caller commits it before showing anything, so no content is ever
    shown unrecorded.
    """
    testimony = session.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).first()
    if testimony is None or not may_open(role, testimony):
        return None
    if not opened_before(session, account_id, testimony.id):
        audit.record_event(
            session,
            testimony.id,
            staff_ref(account_id),
            Action.content_opened,
            detail={"role": role.value},
        )
    return testimony


def opened_before(session: Session, account_id: int, testimony_id: int) -> bool:
    """Whether this account has opened this record's content before."""
    found = session.scalar(
        select(Event.id)
        .where(
            Event.testimony_id == testimony_id,
            Event.account_id == account_id,
            Event.action == Action.content_opened,
        )
        .limit(1)
    )
    return found is not None
