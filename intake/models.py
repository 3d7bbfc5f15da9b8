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
from sqlalchemy.dialects.postgresql import ARRAY
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
    # Make (again) the redacted public access copy of a testimony (`intake.review.access_copies`).
    redact = "redact"
    # An archival export of many records (`intake.export.runs`); its job names no testimony.
    export = "export"
    # Align the reviewed words of a testimony's segments to its audio (`intake.review.alignment`).
    align = "align"


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


# Erasure marks, read by `intake.records.erasure` and checked by tests/test_erasure.py: every table
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
    # The data key sealed to the archive's public key (`sealing.new_testimony_key`); 88
    # bytes, though the column was first declared for a 40-byte wrapped key (neither backend
    # enforces the length).
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary(64), info=ERASE)
    # Kept so that the code still shows "withdrawn" to its owner.
    receipt_digest: Mapped[bytes] = mapped_column(
        LargeBinary(32), unique=True, info=keep("the code shows its owner the withdrawal")
    )
    removal_notes: Mapped[bytes | None] = mapped_column(LargeBinary, info=ERASE)
    progress: Mapped[float | None] = mapped_column(Float)
    attention_reason: Mapped[str | None] = mapped_column(Text, info=ERASE)
    # Chosen by an archivist: the public access audio is voice-disguised (`intake.redaction`).
    disguise_voice: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The public half of the key pair the receipt code derives for the archive's questions
    # (`sealing.submitter_message_keys`); set at intake, or at the first status visit.
    message_key: Mapped[bytes | None] = mapped_column(LargeBinary(32), info=ERASE)

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
    """Name and contact, sealed under a key of their own, apart from the testimony.

    The key is sealed to each custodian (`IdentitySeal`); `wrapped_key` holds it sealed to the
    archive only while no custodian exists, and is cleared when the first one re-seals it.
    """

    __tablename__ = "identity"
    __table_args__ = {"info": {"erase": "rows"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    testimony_id: Mapped[int] = mapped_column(ForeignKey("testimony.id"), unique=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary(64))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AudioFile(Base):
    """One uploaded or recorded file. The submitter's file name is never stored.

    Each file has a data key of its own, sealed to the archive's public key, so that the public
    app can add files to a testimony without opening the testimony's key; files stored before
    that have none and use the testimony's key. Withdrawal clears the sealed key and keeps
    duration and format.
    """

    __tablename__ = "audio_file"
    __table_args__ = {"info": {"erase": "columns"}}

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
    sealed_key: Mapped[bytes | None] = mapped_column(LargeBinary, info=ERASE)

    # Chain of custody (docs/archivists.md): the SHA-256 of the file as the submitter sent it,
    # computed while it arrived, and of the access copy made from exactly those bytes. Unset
    # only for files received before these were recorded.
    original_sha256: Mapped[str | None] = mapped_column(String(64))
    access_sha256: Mapped[str | None] = mapped_column(String(64))

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
    # Fair order (`intake.records.jobs.claim_next`): the seconds of audio a transcription works on,
    # and when its turn comes (queued time plus a wait in proportion to that audio, plus the slow
    # lane's delay); unset for other kinds, which run in the order of their messages.
    audio_s: Mapped[float | None] = mapped_column(Float)
    turn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


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
    # The hash chain (intake.records.audit): the entry's place, the hash of the entry before it, and
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
    # Each word's probability, in order (numbers only, no text): the queue's share of
    # low-confidence words is counted from these without opening a segment.
    word_probabilities: Mapped[list[float] | None] = mapped_column(JSON)
    review_state: Mapped[ReviewState] = mapped_column(_enum(ReviewState))
    version: Mapped[int] = mapped_column(Integer, default=1)
    edited_by: Mapped[str | None] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


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
    # Reads approved transcripts across the archive to index them and link what they name
    # (issue of the index and search): a reach no other role has, so it is a role of its own.
    indexer = "indexer"
    archivist = "archivist"
    custodian = "custodian"
    admin = "admin"


class StaffAccount(Base):
    """A staff member's account. Only an email, hashes and counters: no address, no name.

    The TOTP secret is sealed under a key derived from the staff key, so a database dump alone
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
    # When the one-time password of a new or reset account stops opening the first sign-in
    # (`accounts.ONE_TIME_VALID`); None once a password of the member's own is set.
    one_time_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

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


class GlossaryCategory(enum.StrEnum):
    """What a glossary term names (SPEC.md section 5)."""

    prison = "prison"
    place = "place"
    organisation = "organisation"
    date = "date"  # a Persian-calendar date and its English form


class GlossaryTerm(Base):
    """One entry of the archive's glossary: a Persian term, its English form, and a note.

    Kept by admins; `key` is the Persian term normalised (`intake.review.normalise`), so that the
    same term typed with Arabic letters or without its half-space is one entry, not two.
    """

    __tablename__ = "glossary_term"
    __table_args__ = {
        "info": {"erase": "keep", "why": "the archive's terminology, of no testimony"}
    }

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    term_fa: Mapped[str] = mapped_column(String(200))
    term_en: Mapped[str] = mapped_column(String(200))
    category: Mapped[GlossaryCategory] = mapped_column(_enum(GlossaryCategory))
    note: Mapped[str] = mapped_column(
        Text, default="", info=keep("an admin's note on a term, of no testimony")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Indexed: the newest `updated_at` is part of the glossary's stamp, read on every
    # translation page (`intake.review.glossary.matcher`).
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, index=True
    )


class SegmentDraft(Base):
    """Whisper's machine translation of one review segment (its time span), sealed.

    Aligned to the segment by id, so the translator sees it beside the segment it translates.
    Always shown labelled as a machine draft; accepting it makes a translation `edited`, never
    approved.
    """

    __tablename__ = "segment_draft"
    __table_args__ = {"info": {"erase": "rows"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    testimony_id: Mapped[int] = mapped_column(ForeignKey("testimony.id"), index=True)
    # One draft per segment: a second delivery of the same job cannot add another.
    segment_id: Mapped[int] = mapped_column(ForeignKey("segment.id"), unique=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id"))
    target_language: Mapped[str] = mapped_column(String(8))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    model_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TranslationSegment(Base):
    """The translation of one approved transcript segment, sealed, with its own review state.

    `source_version` is the segment's version the translator translated: a segment changed
    since (split, merged, corrected) no longer matches, and the translation must be redone
    before it can be approved.
    """

    __tablename__ = "translation_segment"
    __table_args__ = {"info": {"erase": "rows"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    testimony_id: Mapped[int] = mapped_column(ForeignKey("testimony.id"), index=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segment.id"), unique=True)
    target_language: Mapped[str] = mapped_column(String(8))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    source_version: Mapped[int] = mapped_column(Integer)
    state: Mapped[ReviewState] = mapped_column(_enum(ReviewState))
    # Accepted from the machine draft (and not changed since): labelled so on the page.
    from_draft: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    edited_by: Mapped[str | None] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


# The blind index's tokens: an integer array under a GIN index on PostgreSQL (`tokens @> ...`
# is answered from the index), a JSON list on SQLite (read with json_each).
TokenList = ARRAY(Integer).with_variant(JSON(), "sqlite")


class SearchEntry(Base):
    """One approved segment's place in the blind search index (`intake.review.search_index`).

    One row per segment, not one per word: the distinct keyed tokens of the segment's words
    and 3-letter pieces as one array, so 4.5 M segments are 4.5 M rows, not 400 M. A token is
    a truncated HMAC under the search key, never text; what the rows still reveal is in
    docs/security.md. Exactly one of `segment_id` (the transcript's text) and
    `translation_segment_id` (its approved translation) is set.
    """

    __tablename__ = "search_entry"
    __table_args__ = (
        Index("ix_search_entry_tokens", "tokens", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
        {"info": {"erase": "rows"}},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    testimony_id: Mapped[int] = mapped_column(ForeignKey("testimony.id"), index=True)
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segment.id", ondelete="CASCADE"))
    translation_segment_id: Mapped[int | None] = mapped_column(
        ForeignKey("translation_segment.id", ondelete="CASCADE")
    )
    language: Mapped[str] = mapped_column(String(8))
    tokens: Mapped[list[int]] = mapped_column(TokenList)


class Custodian(Base):
    """A staff account's custodian key pair: the public key that identities are sealed to, and
    the private key locked under the custodian's passphrase (never stored in clear)."""

    __tablename__ = "custodian"
    __table_args__ = {"info": {"erase": "keep", "why": "staff keys, not testimony"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("staff_account.id"), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32), info=keep("a public key"))
    locked_key: Mapped[bytes] = mapped_column(
        LargeBinary, info=keep("a custodian's private key, locked by their passphrase")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IdentitySeal(Base):
    """An identity's key sealed to one custodian's public key: one row per custodian."""

    __tablename__ = "identity_seal"
    __table_args__ = (
        Index("ix_identity_seal_identity_custodian", "identity_id", "custodian_id", unique=True),
        {"info": {"erase": "rows"}},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identity.id"))
    custodian_id: Mapped[int] = mapped_column(ForeignKey("custodian.id"), index=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


class IdentityReveal(Base):
    """One reveal of an identity by a custodian, with the written reason sealed for the
    archive; the event log records it too, with the reason's length and hash only."""

    __tablename__ = "identity_reveal"
    __table_args__ = {"info": {"erase": "rows"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    testimony_id: Mapped[int] = mapped_column(ForeignKey("testimony.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("staff_account.id"))
    reason_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class NameRelease(Base):
    """A name a custodian released for this record's export, where consent allows publication
    with the name: sealed for the archive's exporter, and nothing else reads it."""

    __tablename__ = "name_release"
    __table_args__ = {"info": {"erase": "rows"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    testimony_id: Mapped[int] = mapped_column(ForeignKey("testimony.id"), unique=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    account_id: Mapped[int] = mapped_column(ForeignKey("staff_account.id"))
    released_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RedactionCategory(enum.StrEnum):
    """What a redaction mark hides (SPEC.md section 5)."""

    person = "person"
    place = "place"
    date = "date"
    other = "other"


class RedactionMark(Base):
    """A span of a segment's text to hide in redacted copies, with the times it covers.

    Only offsets and times are stored: the marked words stay in the sealed segment, so this
    table reveals where something sensitive is said, never what. `start_s`/`end_s` come from
    the word timestamps the span covers, so an audio copy can be silenced without opening text.
    """

    __tablename__ = "redaction_mark"
    __table_args__ = {"info": {"erase": "rows"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    testimony_id: Mapped[int] = mapped_column(ForeignKey("testimony.id"), index=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segment.id"), index=True)
    char_start: Mapped[int] = mapped_column(Integer)
    char_end: Mapped[int] = mapped_column(Integer)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    category: Mapped[RedactionCategory] = mapped_column(_enum(RedactionCategory))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Seconds a reviewer added by ear before and after the aligned span (on top of the
    # configured margin), where the alignment cut a word short.
    pad_before_s: Mapped[float] = mapped_column(
        Float, default=0.0, server_default="0", nullable=False
    )
    pad_after_s: Mapped[float] = mapped_column(
        Float, default=0.0, server_default="0", nullable=False
    )


class AccessCopy(Base):
    """The redacted public access copy of one audio file: the audio (an encrypted store file,
    `FileKind.redacted`) and its transcript with the marked spans replaced (sealed here).

    Each copy names the SHA-256 of the access audio it was made from and of the audio it is,
    and a digest of the marks it applied, so a copy made before the marks changed is known.
    """

    __tablename__ = "access_copy"
    __table_args__ = {"info": {"erase": "rows"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    testimony_id: Mapped[int] = mapped_column(ForeignKey("testimony.id"), index=True)
    audio_file_id: Mapped[int] = mapped_column(ForeignKey("audio_file.id"), unique=True)
    audio_name: Mapped[str] = mapped_column(String(64))
    source_sha256: Mapped[str] = mapped_column(String(64))
    copy_sha256: Mapped[str] = mapped_column(String(64))
    marks_sha256: Mapped[str] = mapped_column(String(64))
    marks: Mapped[int] = mapped_column(Integer)
    removed_s: Mapped[float] = mapped_column(Float)
    disguised: Mapped[bool] = mapped_column(Boolean)
    sealed_text: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RetentionSettings(Base):
    """How long things are kept (SPEC.md section 6): one row, edited by admins, its defaults
    from the configuration. A missing row means the configured defaults."""

    __tablename__ = "retention_settings"
    __table_args__ = {"info": {"erase": "keep", "why": "settings, of no testimony"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Days after archiving before the encrypted original is deleted where consent does not
    # allow keeping it.
    original_days: Mapped[int] = mapped_column(Integer)
    # Whether machine drafts are deleted once the translation is approved.
    drop_drafts: Mapped[bool] = mapped_column(Boolean)
    # Days after withdrawal before the tombstone is reduced to pseudonym and "withdrawn".
    tombstone_days: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    updated_by: Mapped[int | None] = mapped_column(Integer)
    # When the sweep last applied these rules: it applies them at most once an interval.
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


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


class SegmentAlignment(Base):
    """The reviewed words of one segment aligned to its audio (`intake.review.alignment`).

    The words and their times are sealed with the testimony's key together with the text they
    were aligned from, so an alignment is current only while that text is the segment's text;
    a corrected segment waits for a new one. Only the model's name and times of making are clear.
    """

    __tablename__ = "segment_alignment"
    __table_args__ = {"info": {"erase": "rows"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    testimony_id: Mapped[int] = mapped_column(ForeignKey("testimony.id"), index=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segment.id"), unique=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    model_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RedactionProof(Base):
    """The check of one access copy before it may leave (`intake.review.redaction_proof`): whether
    every marked span measures as silence or tone, and whether the model, listening again
    around each mark, still hears the marked words.

    Holds levels, times, mark ids and verdicts only, never a word: the marked terms stay in
    the sealed segments. Names the SHA-256 of the copy it checked, so a copy made again needs
    a new proof.
    """

    __tablename__ = "redaction_proof"
    __table_args__ = {"info": {"erase": "rows"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    testimony_id: Mapped[int] = mapped_column(ForeignKey("testimony.id"), index=True)
    audio_file_id: Mapped[int] = mapped_column(ForeignKey("audio_file.id"), unique=True)
    copy_sha256: Mapped[str] = mapped_column(String(64))
    passed: Mapped[bool] = mapped_column(Boolean)
    # A stable code: "" when passed, else "not_silent" or "still_heard".
    reason: Mapped[str] = mapped_column(String(32))
    # [{"mark", "start", "end", "level_dbfs", "silent", "heard"}], levels and verdicts only.
    spans: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    threshold_dbfs: Mapped[float] = mapped_column(Float)
    model_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TranslationMark(Base):
    """A span of a segment's translation to hide in the published translation.

    The translation's own marks, as `RedactionMark` is the transcript's: offsets into the
    translation's current text and a category, never the words (they stay sealed in the
    translation). A name is spelled the translator's way in the translation, so the source's
    marks cannot be carried over by offset; they are offered as suggestions instead.
    """

    __tablename__ = "translation_mark"
    __table_args__ = {"info": {"erase": "rows"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    testimony_id: Mapped[int] = mapped_column(ForeignKey("testimony.id"), index=True)
    translation_id: Mapped[int] = mapped_column(ForeignKey("translation_segment.id"), index=True)
    char_start: Mapped[int] = mapped_column(Integer)
    char_end: Mapped[int] = mapped_column(Integer)
    category: Mapped[RedactionCategory] = mapped_column(_enum(RedactionCategory))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SignInThrottle(Base):
    """Failed attempts counted for one bucket: the browsers without a device cookie trying one
    email, one device cookie, or one custodian's passphrase (`intake.records.throttle`).

    The bucket is named by a keyed hash only, so the table shows neither which emails were
    tried (known or not) nor which devices exist; no address, no browser name.
    """

    __tablename__ = "sign_in_throttle"
    __table_args__ = {"info": {"erase": "keep", "why": "counters of staff sign-ins, no content"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[bytes] = mapped_column(
        LargeBinary(32), unique=True, info=keep("a keyed hash naming a counter")
    )
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class GrantState(enum.StrEnum):
    """Where a role grant that waits for a second admin stands."""

    pending = "pending"
    confirmed = "confirmed"
    cancelled = "cancelled"


class RoleGrant(Base):
    """A role one admin asked to give an account, waiting for another admin's confirmation
    (`intake.records.accounts.set_roles`); the role is held only once the grant is confirmed.
    Accounts are named by id: the rows say who asked, for whom, and who confirmed."""

    __tablename__ = "role_grant"
    __table_args__ = {"info": {"erase": "keep", "why": "staff, not testimony"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("staff_account.id"), index=True)
    role: Mapped[Role] = mapped_column(_enum(Role))
    state: Mapped[GrantState] = mapped_column(_enum(GrantState), default=GrantState.pending)
    requested_by: Mapped[int] = mapped_column(Integer)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_by: Mapped[int | None] = mapped_column(Integer)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Question(Base):
    """A question from the archive to a record's submitter, and the submitter's answer.

    The archive holds no contact detail: the question waits on the status page, sealed to the
    public key the receipt code derives (`for_submitter`, NULL while the record has no such
    key yet: it is sealed when the staff app next sees one), with a copy sealed to the archive
    for the staff. The answer (text sealed to the archive, or recordings added through the
    receipt code) joins the record. Staff are named by account id only.
    """

    __tablename__ = "question"
    __table_args__ = {"info": {"erase": "rows"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    testimony_id: Mapped[int] = mapped_column(ForeignKey("testimony.id"), index=True)
    asked_by: Mapped[int] = mapped_column(Integer)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    for_archive: Mapped[bytes] = mapped_column(LargeBinary)
    for_submitter: Mapped[bytes | None] = mapped_column(LargeBinary)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answer: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The recordings that answered it, by audio file id (JSON list): they are the record's own
    # audio files, transcribed like any other only where consent allows.
    answer_audio: Mapped[str | None] = mapped_column(Text)


class IndexPoint(Base):
    """A moment in one recording that an indexer titled and described: an OHMS index point.

    The words (title, synopsis, keywords, subjects, partial transcript, and the same in the
    other language) are sealed together under the testimony's key; the time, the review state
    and the staff ids stay in clear so the queue can count points without opening content.
    Four eyes as segment work (`intake.review.segment_work`): only approved points are exported.
    """

    __tablename__ = "index_point"
    __table_args__ = {"info": {"erase": "rows"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    testimony_id: Mapped[int] = mapped_column(ForeignKey("testimony.id"), index=True)
    # A record may have several recordings; OHMS indexes one media file, so a point belongs
    # to one recording and its time counts from that recording's start.
    audio_file_id: Mapped[int] = mapped_column(ForeignKey("audio_file.id"), index=True)
    start_s: Mapped[float] = mapped_column(Float)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[ReviewState] = mapped_column(_enum(ReviewState))
    version: Mapped[int] = mapped_column(Integer, default=1)
    edited_by: Mapped[str | None] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class EntityKind(enum.StrEnum):
    """What an entry of the register names (SPEC.md section 9)."""

    person = "person"
    prison = "prison"
    place = "place"
    organisation = "organisation"
    date = "date"


class Entity(Base):
    """One entry of the register of people, prisons, places, organisations and dates that
    testimonies name (`intake.review.entities`).

    Its names and facts are sealed for the archive (`sealing.seal_entity`): a person's name may
    be one a survivor spoke, so the table shows only a kind and ids. An entity created while
    citing a record (`origin_testimony_id`) goes with that record's withdrawal once nothing
    cites it any more (erase "orphans", `intake.records.erasure`); one merged into another
    points to it (`merged_into_id`) and keeps its own sealed names.
    """

    __tablename__ = "entity"
    __table_args__ = {
        "info": {
            "erase": "orphans",
            "why": "the archive's register across testimonies: only the entries grown from a "
            "withdrawn record and cited nowhere else go with it",
        }
    }

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[EntityKind] = mapped_column(_enum(EntityKind), index=True)
    sealed: Mapped[bytes] = mapped_column(
        LargeBinary, info=keep("names sealed for the archive; the row goes when orphaned")
    )
    glossary_term_id: Mapped[int | None] = mapped_column(
        ForeignKey("glossary_term.id"), unique=True
    )
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("entity.id"), index=True)
    # The record whose citing made this entry, if one did: read by erasure only.
    origin_testimony_id: Mapped[int | None] = mapped_column(
        ForeignKey("testimony.id"), index=True, info={"origin": True}
    )
    # Raised by every change of what the entry shows (an edit, a merge into it): an edit made
    # from an older version is refused ("stale"), never saved over another's.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class EntityCitation(Base):
    """An entity cited at a moment of one testimony: by a segment, an index point, or a
    redaction mark (a marked person linked without the name leaving the archive).

    Ids and a time only.
    """

    __tablename__ = "entity_citation"
    __table_args__ = {"info": {"erase": "rows"}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entity.id"), index=True)
    testimony_id: Mapped[int] = mapped_column(ForeignKey("testimony.id"), index=True)
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segment.id"), index=True)
    index_point_id: Mapped[int | None] = mapped_column(ForeignKey("index_point.id"), index=True)
    redaction_mark_id: Mapped[int | None] = mapped_column(
        ForeignKey("redaction_mark.id"), index=True
    )
    start_s: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
