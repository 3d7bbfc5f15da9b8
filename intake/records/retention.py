"""Retention: how long the archive keeps what it no longer needs, and the sweep that applies it.

Three rules (SPEC.md section 6), with numbers an admin sets on a staff page (one
`retention_settings` row; until one is saved, the configuration's defaults apply):

* an encrypted original is deleted `original_days` after the record was archived, where the
  submitter's consent (as it stands now) does not allow keeping it;
* machine translation drafts are deleted once the translation is approved (the record reached
  `approved` or `archived`), when `drop_drafts` is set: an approved translation supersedes
  them, and a draft is one more copy of the testimony;
* a withdrawn record's tombstone is reduced, `tombstone_days` after the withdrawal, to its
  pseudonym and "withdrawn" (with the date, and the receipt digest so the code still shows
  its owner the withdrawal): the consent and its versions, the files' durations and formats
  and the jobs' rows go.

The upkeep sweep (`workers.upkeep`) calls `apply` on every pass; it runs at most once per
`retention_interval_s`, claimed with a conditional update so that several workers sweeping at
once apply it once, and every run writes a `retention_applied` event with its counts, and an
event per record it changed. Store files are deleted before the rows that name them, so a
crash in between leaves a row whose file is already gone, which the next run finishes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from intake.config import Config
from intake.events import Action, Actor, parse_actor
from intake.models import (
    AudioFile,
    Consent,
    ConsentVersion,
    Event,
    Job,
    Language,
    RetentionSettings,
    SegmentDraft,
    Testimony,
    TestimonyState,
    utcnow,
)
from intake.records import audit
from intake.storage import Store

_ROW_ID = 1
MAX_DAYS = 36500


class RetentionError(ValueError):
    """Settings that cannot be saved; `reason` names which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Retention:
    """The rules in force."""

    original_days: int
    drop_drafts: bool
    tombstone_days: int


def defaults(config: Config) -> Retention:
    """The configuration's rules, in force until an admin saves others."""
    return Retention(
        config.retention_original_days,
        config.retention_drop_drafts,
        config.retention_tombstone_days,
    )


def current(session: Session, config: Config) -> Retention:
    """The rules in force: the saved row, or the configuration's defaults."""
    row = session.get(RetentionSettings, _ROW_ID)
    if row is None:
        return defaults(config)
    return Retention(row.original_days, row.drop_drafts, row.tombstone_days)


def _days(value: int | str | None, reason: str) -> int:
    try:
        days = int(str(value).strip())
    except ValueError:
        raise RetentionError(reason) from None
    if not 0 <= days <= MAX_DAYS:
        raise RetentionError(reason)
    return days


def save(
    session: Session,
    config: Config,
    original_days: int | str | None,
    drop_drafts: bool,
    tombstone_days: int | str | None,
    actor: Actor | str,
) -> Retention:
    """Save an admin's rules (whole days, 0 to 36500) and record the change; RetentionError
    names the first bad value and changes nothing."""
    rules = Retention(
        _days(original_days, "original_days"),
        bool(drop_drafts),
        _days(tombstone_days, "tombstone_days"),
    )
    row = _row(session, config)
    before = Retention(row.original_days, row.drop_drafts, row.tombstone_days)
    row.original_days = rules.original_days
    row.drop_drafts = rules.drop_drafts
    row.tombstone_days = rules.tombstone_days
    row.updated_by = parse_actor(actor)[1]
    audit.record_event(
        session,
        None,
        actor,
        Action.retention_settings_changed,
        detail={"before": before.__dict__, "after": rules.__dict__},
    )
    return rules


def _row(session: Session, config: Config) -> RetentionSettings:
    row = session.get(RetentionSettings, _ROW_ID)
    if row is None:
        rules = defaults(config)
        row = RetentionSettings(
            id=_ROW_ID,
            original_days=rules.original_days,
            drop_drafts=rules.drop_drafts,
            tombstone_days=rules.tombstone_days,
        )
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:  # another worker made it first
            row = session.get(RetentionSettings, _ROW_ID, populate_existing=True)
            assert row is not None
    return row


def _claim_run(session: Session, config: Config, now: datetime) -> bool:
    """Take this interval's run, or False if another sweep ran it recently."""
    _row(session, config)
    due = now - timedelta(seconds=config.retention_interval_s)
    result = session.execute(
        update(RetentionSettings)
        .where(
            RetentionSettings.id == _ROW_ID,
            or_(RetentionSettings.applied_at.is_(None), RetentionSettings.applied_at <= due),
        )
        .values(applied_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def apply(
    session: Session, store: Store, config: Config, now: datetime | None = None
) -> dict[str, int] | None:
    """Apply the rules once, if this interval's run is not taken; returns the counts, or None
    when another sweep ran them recently. Commits nothing: the caller's transaction holds
    the run, its changes and its events."""
    now = now or utcnow()
    if not _claim_run(session, config, now):
        return None
    rules = current(session, config)
    counts = {
        "originals": delete_originals(session, store, rules, now),
        "drafts": delete_drafts(session) if rules.drop_drafts else 0,
        "tombstones": reduce_tombstones(session, rules, now),
    }
    audit.record_event(
        session, None, Actor.system, Action.retention_applied, detail={**counts, **rules.__dict__}
    )
    return counts


def delete_originals(session: Session, store: Store, rules: Retention, now: datetime) -> int:
    """Delete the originals of records archived `original_days` ago or more whose consent does
    not allow keeping them; returns how many files went."""
    archived_at = (
        select(Event.testimony_id, func.max(Event.at).label("at"))
        .where(Event.to_state == TestimonyState.archived.value)
        .group_by(Event.testimony_id)
        .subquery()
    )
    cutoff = now - timedelta(days=rules.original_days)
    rows = session.execute(
        select(Testimony, AudioFile)
        .join(AudioFile, AudioFile.testimony_id == Testimony.id)
        .join(Consent, Consent.testimony_id == Testimony.id)
        .join(archived_at, archived_at.c.testimony_id == Testimony.id)
        .where(
            Testimony.state == TestimonyState.archived,
            Consent.archive.is_(False),
            AudioFile.original_name.is_not(None),
            archived_at.c.at <= cutoff,
        )
        .order_by(Testimony.id, AudioFile.position)
    ).all()
    per_testimony: dict[int, int] = {}
    for testimony, audio in rows:
        assert audio.original_name is not None
        store.delete(testimony.storage_id, audio.original_name)
        audio.original_name = None
        per_testimony[testimony.id] = per_testimony.get(testimony.id, 0) + 1
    for testimony_id, files in per_testimony.items():
        audit.record_event(
            session, testimony_id, Actor.system, Action.original_deleted, detail={"files": files}
        )
    return sum(per_testimony.values())


def delete_drafts(session: Session) -> int:
    """Delete the machine drafts of records whose translation is approved; returns how many."""
    done = session.execute(
        select(SegmentDraft.testimony_id, func.count())
        .join(Testimony, Testimony.id == SegmentDraft.testimony_id)
        .where(Testimony.state.in_([TestimonyState.approved, TestimonyState.archived]))
        .group_by(SegmentDraft.testimony_id)
    ).all()
    for testimony_id, drafts in done:
        session.execute(delete(SegmentDraft).where(SegmentDraft.testimony_id == testimony_id))
        audit.record_event(
            session,
            testimony_id,
            Actor.system,
            Action.machine_drafts_deleted,
            detail={"drafts": drafts},
        )
    return sum(n for _, n in done)


def reduce_tombstones(session: Session, rules: Retention, now: datetime) -> int:
    """Reduce the tombstones of records withdrawn `tombstone_days` ago or more to pseudonym,
    "withdrawn" and the date; returns how many."""
    cutoff = now - timedelta(days=rules.tombstone_days)
    owned = [
        exists().where(Consent.testimony_id == Testimony.id),
        exists().where(AudioFile.testimony_id == Testimony.id),
        exists().where(Job.testimony_id == Testimony.id),
        Testimony.detected_language.is_not(None),
        Testimony.language != Language.unknown,
    ]
    ids = session.scalars(
        select(Testimony.id).where(
            Testimony.state == TestimonyState.withdrawn,
            Testimony.withdrawn_at <= cutoff,
            or_(*owned),
        )
    ).all()
    for testimony_id in ids:
        consent_ids = select(Consent.id).where(Consent.testimony_id == testimony_id)
        session.execute(delete(ConsentVersion).where(ConsentVersion.consent_id.in_(consent_ids)))
        session.execute(delete(Consent).where(Consent.testimony_id == testimony_id))
        session.execute(delete(Job).where(Job.testimony_id == testimony_id))
        session.execute(delete(AudioFile).where(AudioFile.testimony_id == testimony_id))
        session.execute(
            update(Testimony)
            .where(Testimony.id == testimony_id)
            .values(
                language=Language.unknown,
                detected_language=None,
                progress=None,
                attention_reason=None,
                disguise_voice=False,
            )
            .execution_options(synchronize_session=False)
        )
        audit.record_event(session, testimony_id, Actor.system, Action.tombstone_reduced)
    return len(ids)
