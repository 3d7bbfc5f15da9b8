"""One record as staff see it whole: its history, its files and copies, and what will leave.

The record page (`intake.views.staff.records`) shows a record's consent versions, its states
and every event (who by account, when, what changed), its audio files with their redacted
access copies, and how many redaction marks it carries. Below that, a preview of what an export
would publish: the redacted (and disguised, if chosen) access audio with the marked spans on
its timeline, and the redacted transcript and translation side by side.

The preview is never a second rendering of the rules: `what_leaves` calls the export's own
gathering (`intake.export.gather.gather`), which builds exactly what the access bag carries.
It is the one function to re-point when the publication policy gets a module of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from intake.crypto import Keyring
from intake.events import STAFF_PREFIX, Action
from intake.export import gather
from intake.export.record import ExportError, Transcript
from intake.models import (
    AccessCopy,
    AudioFile,
    ConsentVersion,
    Event,
    StaffAccount,
    Testimony,
)
from intake.review import access_copies
from intake.storage import Store

#: Consent fields in the order the page lists them.
CONSENT_FIELDS = (
    "archive",
    "transcribe",
    "translate",
    "publish_anonymised",
    "publish_anonymised_audio",
    "publish_named",
)


@dataclass(frozen=True)
class ConsentRow:
    """One version of the record's consent: which uses were agreed to, from when."""

    version: int
    wording_version: str
    agreed: tuple[str, ...]
    embargo_until: object
    since: datetime
    current: bool
    withdrawn_at: datetime | None = None


@dataclass(frozen=True)
class HistoryRow:
    """One event of the record: when, who (a staff account's email, or the worker or the
    submitter), what, and the state change or counts it carried."""

    at: datetime
    actor: str
    action: str
    label: str
    from_state: str | None
    to_state: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class FileRow:
    """One audio file of the record and its redacted access copy, if made."""

    position: int
    duration_s: float
    copy: AccessCopy | None


@dataclass(frozen=True)
class Overview:
    """Everything the record page shows above the preview."""

    testimony: Testimony
    consents: tuple[ConsentRow, ...]
    history: tuple[HistoryRow, ...]
    files: tuple[FileRow, ...]
    marks: int
    reveals: int


@dataclass(frozen=True)
class Span:
    """A marked span on the access audio's timeline, in seconds."""

    start_s: float
    end_s: float
    category: str


@dataclass(frozen=True)
class Preview:
    """What an export would publish now, or why the record would be held back."""

    held_back: str | None
    transcript: Transcript | None
    translation: Transcript | None
    spans: tuple[Span, ...]
    duration_s: float
    disguised: bool
    audio: Callable[[], BinaryIO] | None

    @property
    def pairs(self) -> list[tuple[Any, Any]]:
        """Transcript and translation segments side by side (None where one is missing)."""
        source = self.transcript.segments if self.transcript else ()
        target = self.translation.segments if self.translation else ()
        count = max(len(source), len(target))
        return [
            (source[i] if i < len(source) else None, target[i] if i < len(target) else None)
            for i in range(count)
        ]


def _agreed(row: Any) -> tuple[str, ...]:
    return tuple(name for name in CONSENT_FIELDS if getattr(row, name, False))


def consents(session: Session, testimony: Testimony) -> tuple[ConsentRow, ...]:
    """Every version of the record's consent, oldest first, the one in force last."""
    consent = testimony.consent
    if consent is None:
        return ()
    rows = [
        ConsentRow(
            version=v.version,
            wording_version=v.wording_version,
            agreed=_agreed(v),
            embargo_until=v.embargo_until,
            since=v.valid_from,
            current=False,
        )
        for v in session.scalars(
            select(ConsentVersion)
            .where(ConsentVersion.consent_id == consent.id)
            .order_by(ConsentVersion.version)
        )
    ]
    rows.append(
        ConsentRow(
            version=consent.version,
            wording_version=consent.wording_version,
            agreed=_agreed(consent),
            embargo_until=consent.embargo_until,
            since=consent.changed_at or consent.given_at,
            current=True,
            withdrawn_at=consent.withdrawn_at,
        )
    )
    return tuple(rows)


def _who(event: Event, emails: dict[int, str]) -> str:
    if event.account_id is not None:
        return emails.get(event.account_id, f"{STAFF_PREFIX}{event.account_id}")
    return str(event.actor)


def history(session: Session, testimony_id: int) -> tuple[HistoryRow, ...]:
    """Every event of the record in the order of the audit chain, exports included."""
    events = session.scalars(
        select(Event).where(Event.testimony_id == testimony_id).order_by(Event.seq)
    ).all()
    ids = {e.account_id for e in events if e.account_id is not None}
    emails: dict[int, str] = {}
    if ids:
        for account_id, email in session.execute(
            select(StaffAccount.id, StaffAccount.email).where(StaffAccount.id.in_(ids))
        ):
            emails[account_id] = email
    return tuple(
        HistoryRow(
            at=e.at,
            actor=_who(e, emails),
            action=str(e.action),
            label=Action(e.action).label,
            from_state=e.from_state,
            to_state=e.to_state,
            detail=dict(e.detail or {}),
        )
        for e in events
    )


def overview(session: Session, testimony: Testimony) -> Overview:
    """The record's consent versions, history, files and copies, and its marks count."""
    files = session.scalars(
        select(AudioFile).where(AudioFile.testimony_id == testimony.id).order_by(AudioFile.position)
    ).all()
    copies = {
        c.audio_file_id: c
        for c in session.scalars(select(AccessCopy).where(AccessCopy.testimony_id == testimony.id))
    }
    events = history(session, testimony.id)
    reveals = sum(1 for e in events if e.action == Action.identity_revealed.value)
    return Overview(
        testimony=testimony,
        consents=consents(session, testimony),
        history=events,
        files=tuple(FileRow(f.position, f.duration_s, copies.get(f.id)) for f in files),
        marks=len(access_copies.marks_for(session, testimony.id)),
        reveals=reveals,
    )


def what_leaves(
    session: Session, keyring: Keyring, store: Store, testimony: Testimony
) -> gather.Gathered:
    """What an export of this record would carry now: the one call into the export's rules
    and the publication policy (`intake.export.policy`) through `gather`, so the preview can
    never show what the bag would not carry. Raises gather.HeldBack when the record may not go
    yet, ExportError when it cannot be exported as it stands."""
    return gather.gather(session, keyring, store, testimony)


def preview(session: Session, keyring: Keyring, store: Store, testimony: Testimony) -> Preview:
    """The access audio, transcript and translation an export would publish, with the marked
    spans for the audio's timeline; `held_back` says why nothing would leave yet."""
    spans = tuple(
        Span(m.start_s, m.end_s, m.category.value)
        for m in sorted(access_copies.marks_for(session, testimony.id), key=lambda m: m.start_s)
    )
    duration = float(
        session.scalar(
            select(func.sum(AudioFile.duration_s)).where(AudioFile.testimony_id == testimony.id)
        )
        or 0.0
    )
    try:
        gathered = what_leaves(session, keyring, store, testimony)
    except ExportError as exc:
        return Preview(str(exc), None, None, spans, duration, False, None)
    record = gathered.record
    copy = session.scalar(select(AccessCopy).where(AccessCopy.testimony_id == testimony.id))
    return Preview(
        held_back=None,
        transcript=record.transcript,
        translation=record.translation,
        spans=spans,
        duration_s=record.duration,
        disguised=bool(copy and copy.disguised),
        audio=record.audio,
    )
