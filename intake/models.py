"""Database models (SQLAlchemy 2). The schema is created and changed only through Alembic.

Nothing here holds plaintext that could identify a submitter or reveal what they said: names,
contacts, "names to remove", audio and transcripts are stored sealed (see `intake.crypto`).
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from functools import total_ordering
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from intake.events import Action, Actor

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; returns aware datetimes on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention Alembic can follow."""

    metadata = MetaData(naming_convention=NAMING)


@total_ordering
class OrderedEnum(enum.StrEnum):
    """A string enum whose members compare by the order they are declared in."""

    def _rank(self) -> int:
        return list(type(self)).index(self)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        return self._rank() < other._rank()

    def __hash__(self) -> int:
        return hash(self.value)

    def __str__(self) -> str:
        return self.value


class TestimonyState(OrderedEnum):
    """Where a testimony is in its life (SPEC.md section 2); side exits come last."""

    received = "received"
    queued = "queued"
    transcribing = "transcribing"
    transcribed = "transcribed"
    in_review = "in_review"
    transcript_approved = "transcript_approved"
    in_translation = "in_translation"
    translation_review = "translation_review"
    approved = "approved"
    archived = "archived"
    needs_attention = "needs_attention"
    withdrawn = "withdrawn"


class Language(enum.StrEnum):
    """The testimony's language as the submitter gave it."""

    fa = "fa"
    en = "en"
    unknown = "unknown"


class JobKind(enum.StrEnum):
    """What a job does; each kind has its own Celery task and queue."""

    transcribe = "transcribe"
    translate_draft = "translate_draft"
    # An archival export of many records (`intake.export.runs`); its job names no testimony.
    export = "export"


class JobStatus(enum.StrEnum):
    """A job's progress. The database, not the broker, is the record of what remains."""

    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"


def _enum(cls: type[enum.Enum]) -> Enum:
    # VARCHAR plus CHECK rather than a native enum: the same on SQLite and PostgreSQL, and
    # adding a state is a plain migration.
    return Enum(
        cls,
        native_enum=False,
        create_constraint=True,
        length=32,
        name=cls.__name__.lower(),
        values_callable=lambda members: [m.value for m in members],
    )


def _vocabulary(cls: type[enum.Enum]) -> Enum:
    # Checked by the ORM on every write but stored as plain VARCHAR(64) without a CHECK
    # constraint: the event vocabulary grows with every feature, and each new word should not
    # need a table rebuild.
    return Enum(
        cls,
        native_enum=False,
        create_constraint=False,
        validate_strings=True,
        length=64,
        values_callable=lambda members: [m.value for m in members],
    )


# Erasure marks, read by `intake.erasure` and checked by tests/test_erasure.py: every table
# says what withdrawal does to it ("rows": its rows of the testimony are deleted; "columns": its
# columns marked ERASE are cleared; "keep": nothing, with the reason), and every binary, text or
# JSON column outside a "rows" table says whether it is erased.
ERASE: dict[str, Any] = {"erase": True}


def keep(why: str) -> dict[str, Any]:
    """Column info for a column that survives withdrawal, with the reason."""
    return {"erase": False, "why": why}


class Testimony(Base):
    """One submission. After withdrawal only a tombstone of this row remains."""

    __tablename__ = "testimony"
    __table_args__ = {"info": {"erase": "columns"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(32), unique=True)
    storage_id: Mapped[str] = mapped_column(String(32), unique=True)
    state: Mapped[TestimonyState] = mapped_column(_enum(TestimonyState), index=True)
    language: Mapped[Language] = mapped_column(_enum(Language))
    detected_language: Mapped[str | None] = mapped_column(String(8))
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary(64), info=ERASE)
    # Kept so that the code still shows "withdrawn" to its owner.
    receipt_digest: Mapped[bytes] = mapped_column(
        LargeBinary(32), unique=True, info=keep("the code shows its owner the withdrawal")
    )
    removal_notes: Mapped[bytes | None] = mapped_column(LargeBinary, info=ERASE)
    progress: Mapped[float | None] = mapped_column(Float)
    attention_reason: Mapped[str | None] = mapped_column(Text, info=ERASE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    consent: Mapped[Consent] = relationship(back_populates="testimony", uselist=False)
    audio_files: Mapped[list[AudioFile]] = relationship(
        back_populates="testimony", order_by="AudioFile.position"
    )


class Consent(Base):
    """What the submitter agrees to now, with the version of the wording they were shown.

    A submitter may narrow it later; each earlier version is first copied, whole, into
    `ConsentVersion`, so that no version they agreed to is ever lost.
    """

    __tablename__ = "consent"
    __table_args__ = {
        "info": {
            "erase": "keep",
            "why": "what was consented, and when it was withdrawn: the tombstone",
        }
    }

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    testimony_id: Mapped[int] = mapped_column(ForeignKey("testimony.id"), unique=True)
    wording_version: Mapped[str] = mapped_column(String(32))
    wording_locale: Mapped[str] = mapped_column(String(8))
    wording_sha256: Mapped[str] = mapped_column(String(64))
    archive: Mapped[bool] = mapped_column(Boolean)
    transcribe: Mapped[bool] = mapped_column(Boolean)
    translate: Mapped[bool] = mapped_column(Boolean)
    publish_anonymised: Mapped[bool] = mapped_column(Boolean)
    publish_named: Mapped[bool] = mapped_column(Boolean)
    # Publication of the anonymised audio (names silenced, voice disguised): a consent of its
    # own, because a disguised voice may still be recognised by those who know it.
    publish_anonymised_audio: Mapped[bool] = mapped_column(Boolean, default=False)
    embargo_until: Mapped[date | None] = mapped_column(Date)
    given_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    testimony: Mapped[Testimony] = relationship(back_populates="consent")
    earlier: Mapped[list[ConsentVersion]] = relationship(order_by="ConsentVersion.version")


class ConsentVersion(Base):
    """A superseded version of a consent, copied whole before the submitter narrowed it."""

    __tablename__ = "consent_version"
    __table_args__ = (
        Index("uq_consent_version_consent_id_version", "consent_id", "version", unique=True),
        {"info": {"erase": "keep", "why": "what was consented before, and when: the tombstone"}},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consent_id: Mapped[int] = mapped_column(ForeignKey("consent.id"))
    version: Mapped[int] = mapped_column(Integer)
    wording_version: Mapped[str] = mapped_column(String(32))
    wording_locale: Mapped[str] = mapped_column(String(8))
    wording_sha256: Mapped[str] = mapped_column(String(64))
    archive: Mapped[bool] = mapped_column(Boolean)
    transcribe: Mapped[bool] = mapped_column(Boolean)
    translate: Mapped[bool] = mapped_column(Boolean)
    publish_anonymised: Mapped[bool] = mapped_column(Boolean)
    publish_named: Mapped[bool] = mapped_column(Boolean)
    publish_anonymised_audio: Mapped[bool] = mapped_column(Boolean)
    embargo_until: Mapped[date | None] = mapped_column(Date)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    superseded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Identity(Base):
    """Name and contact, sealed under a key of their own, apart from the testimony."""

    __tablename__ = "identity"
    __table_args__ = {"info": {"erase": "rows"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    testimony_id: Mapped[int] = mapped_column(ForeignKey("testimony.id"), unique=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary(64))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AudioFile(Base):
    """One uploaded or recorded file. The submitter's file name is never stored."""

    __tablename__ = "audio_file"
    __table_args__ = {
        "info": {"erase": "keep", "why": "duration and format only; the files go with the key"}
    }

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    testimony_id: Mapped[int] = mapped_column(ForeignKey("testimony.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    access_name: Mapped[str] = mapped_column(String(64))
    original_name: Mapped[str | None] = mapped_column(String(64))
    duration_s: Mapped[float] = mapped_column(Float)
    source_format: Mapped[str] = mapped_column(String(64))
    source_codec: Mapped[str] = mapped_column(String(64))
    sample_rate: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    testimony: Mapped[Testimony] = relationship(back_populates="audio_files")


class Job(Base):
    """Work still to be done, with a lease: the outbox and the recovery record in one.

    A row with `published_at` unset has not reached the broker yet; a `running` row whose lease
    has expired belonged to a worker that died. The upkeep sweep publishes both again.
    """

    __tablename__ = "job"
    __table_args__ = (
        Index("ix_job_status_available", "status", "available_at"),
        {"info": {"erase": "keep", "why": "ids and states of work, cancelled on withdrawal"}},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Unset only for work on many testimonies at once (an export, see `ExportRun`).
    testimony_id: Mapped[int | None] = mapped_column(ForeignKey("testimony.id"), index=True)
    audio_file_id: Mapped[int | None] = mapped_column(ForeignKey("audio_file.id"))
    kind: Mapped[JobKind] = mapped_column(_enum(JobKind))
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claim_token: Mapped[str | None] = mapped_column(String(32))
    progress: Mapped[float | None] = mapped_column(Float)
    last_error: Mapped[str | None] = mapped_column(Text, info=keep("a worker's traceback"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Event(Base):
    """Append-only history: who changed what, when. Details carry ids, never content."""

    __tablename__ = "event"
    __table_args__ = {"info": {"erase": "keep", "why": "append-only history of ids and states"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    testimony_id: Mapped[int | None] = mapped_column(ForeignKey("testimony.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[Actor] = mapped_column(_vocabulary(Actor))
    # The staff account that acted, when `actor` is staff.
    account_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[Action] = mapped_column(_vocabulary(Action))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, info=keep("ids, counts and states only")
    )
    # The hash chain (intake.audit): the entry's place, the hash of the entry before it, and
    # the hash of this entry over all of the above.
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The newest entry of the event chain: one row, updated with every event.

    Updating it first in every event-writing transaction takes the write lock on SQLite and
    the row lock on PostgreSQL, so concurrent writers line up and the chain never forks.
    """

    __tablename__ = "audit_head"
    __table_args__ = {"info": {"erase": "keep", "why": "a count and a hash, of no testimony"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class ReceiptFailure(Base):
    """A wrong receipt code, kept only as a time, to limit guessing across all visitors."""

    __tablename__ = "receipt_failure"
    __table_args__ = {"info": {"erase": "keep", "why": "times only, of no testimony"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class ReviewState(OrderedEnum):
    """A segment's review state, ordered: machine < edited < approved."""

    machine = "machine"
    edited = "edited"
    approved = "approved"


class Transcript(Base):
    """The machine transcript of one audio file; its segments hold the (sealed) text."""

    __tablename__ = "transcript"
    __table_args__ = {"info": {"erase": "rows"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    testimony_id: Mapped[int] = mapped_column(ForeignKey("testimony.id"), index=True)
    # One transcript per file: a second delivery of the same job cannot add another.
    audio_file_id: Mapped[int] = mapped_column(ForeignKey("audio_file.id"), unique=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id"))
    language: Mapped[str] = mapped_column(String(8))
    language_probability: Mapped[float | None] = mapped_column(Float)
    duration_s: Mapped[float] = mapped_column(Float)
    model_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    segments: Mapped[list[Segment]] = relationship(order_by="Segment.position")


class Segment(Base):
    """A stretch of a transcript short enough to check by ear (about 15 s at most).

    Text and word timings are sealed with the testimony's key; the confidence figures stay
    in clear so queues can sort by them without opening content.
    """

    __tablename__ = "segment"
    __table_args__ = {"info": {"erase": "rows"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transcript_id: Mapped[int] = mapped_column(ForeignKey("transcript.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    avg_logprob: Mapped[float] = mapped_column(Float)
    no_speech_prob: Mapped[float] = mapped_column(Float)
    min_word_probability: Mapped[float | None] = mapped_column(Float)
    review_state: Mapped[ReviewState] = mapped_column(_enum(ReviewState))
    version: Mapped[int] = mapped_column(Integer, default=1)
    edited_by: Mapped[str | None] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class MachineDraft(Base):
    """A machine translation draft (Whisper's translate task), always labelled as such and
    never counted as an approved translation."""

    __tablename__ = "machine_draft"
    __table_args__ = {"info": {"erase": "rows"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    testimony_id: Mapped[int] = mapped_column(ForeignKey("testimony.id"), index=True)
    audio_file_id: Mapped[int] = mapped_column(ForeignKey("audio_file.id"), unique=True)
    target_language: Mapped[str] = mapped_column(String(8))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    model_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SentForm(Base):
    """An intake form that created a testimony, known by its token's digest.

    Sending the same form again (a reload, a double click) finds this row and creates nothing.
    Until the submitter confirms having written the receipt code down, the code is kept here
    sealed under a key derived from the form's token, which only their session holds: neither
    the row nor the cookie alone reveals it. The row says nothing about which testimony it made.
    """

    __tablename__ = "sent_form"
    __table_args__ = {"info": {"erase": "keep", "why": "linked to no testimony by design"}}

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    sealed_code: Mapped[bytes | None] = mapped_column(
        LargeBinary, info=keep("opens only with the submitter's session; deleted once confirmed")
    )

class Role(enum.StrEnum):
    """Staff roles (SPEC.md section 1); a person may hold several."""

    reviewer = "reviewer"
    translator = "translator"
    archivist = "archivist"
    custodian = "custodian"
    admin = "admin"


class StaffAccount(Base):
    """A staff member's account. Only an email, hashes and counters: no address, no name.

    The TOTP secret is sealed under a key derived from the master key, so a database dump alone
    gives no second factor. `session_token` is what the browser's session names: it changes at
    every sign-in and sign-out, so an old session cookie stops working on the server side.
    """

    __tablename__ = "staff_account"
    __table_args__ = {"info": {"erase": "keep", "why": "staff, not testimony"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    totp_sealed: Mapped[bytes | None] = mapped_column(
        LargeBinary, info=keep("a staff member's second factor")
    )
    totp_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    session_token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    roles: Mapped[list[StaffRole]] = relationship(
        back_populates="account", cascade="all, delete-orphan", order_by="StaffRole.role"
    )


class StaffRole(Base):
    """One role held by one account."""

    __tablename__ = "staff_role"
    __table_args__ = (
        Index("ix_staff_role_account_role", "account_id", "role", unique=True),
        {"info": {"erase": "keep", "why": "staff, not testimony"}},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("staff_account.id"))
    role: Mapped[Role] = mapped_column(_enum(Role))

    account: Mapped[StaffAccount] = relationship(back_populates="roles")


class ExportRun(Base):
    """One archival export: what was asked for, where it is written, and how far it got.

    Started from the archivist's page (then a job of kind `export` does the work and points
    here) or from the command line (no job). Names records by pseudonym only.
    """

    __tablename__ = "export_run"
    __table_args__ = {
        "info": {"erase": "keep", "why": "pseudonyms, counts and reasons of an export, no content"}
    }

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id"), unique=True)
    # Who started it: `events.staff_ref(account_id)` or "operator" (the command line).
    requested_by: Mapped[str] = mapped_column(String(64))
    since: Mapped[date | None] = mapped_column(Date)
    pseudonyms: Mapped[list[str] | None] = mapped_column(
        JSON, info=keep("the pseudonyms asked for: no content")
    )
    out_dir: Mapped[str] = mapped_column(Text, info=keep("a folder of the server"))
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    # {"exported": [pseudonym, ...], "held_back": [{"pseudonym", "reason", "message"}, ...]}
    outcome: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, info=keep("pseudonyms and reasons only")
    )
    error: Mapped[str | None] = mapped_column(Text, info=keep("why an export failed"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
