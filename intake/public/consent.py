"""Consent: the uses a submitter can agree to, and the versioned wording they were shown.

The wording of a version is never edited once released: a change of wording is a new version,
so that each record keeps the exact text its submitter agreed to (by version, locale and hash).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from flask_babel import force_locale, gettext
from sqlalchemy import delete
from sqlalchemy.orm import Session

from intake.events import Action, Actor
from intake.models import (
    Consent,
    ConsentVersion,
    JobKind,
    SegmentDraft,
    Testimony,
    TestimonyState,
    TranslationMark,
    TranslationSegment,
    utcnow,
)
from intake.records import audit, jobs

# 2026-11-26: anonymised publication says what it contains; its audio is a use of its own;
# publication with the name says that it includes the voice.
WORDING_VERSION = "2026-11-26"


def N_(message: str) -> str:  # noqa: N802 - the name Babel's extractor looks for
    """Mark a string for translation without translating it yet."""
    return message


# (field name, wording). Order is the order on the form.
USES = (
    ("archive", N_("Keep my original recording, encrypted, in the archive's preservation copy.")),
    (
        "transcribe",
        N_("Transcribe my recording into text (by a computer, then checked by reviewers)."),
    ),
    ("translate", N_("Translate the transcript between Persian and English.")),
    (
        "publish_anonymised",
        N_(
            "Publish an anonymised text: the transcript with my name and the names and "
            "details I list below removed."
        ),
    ),
    (
        "publish_anonymised_audio",
        N_(
            "Also publish the anonymised audio: those names silenced and my voice disguised. "
            "Without this, an anonymised publication has no audio."
        ),
    ),
    (
        "publish_named",
        N_("Publish my testimony under my name, with my recording in my own voice."),
    ),
)
# Uses a submitter may withdraw alone from the status page. Keeping the recording and its
# transcript are not among them: stopping those destroys the testimony (full withdrawal).
NARROWABLE = ("translate", "publish_anonymised", "publish_anonymised_audio", "publish_named")
EMBARGO_WORDING = N_("Do not publish anything before this date (optional).")


@dataclass(frozen=True)
class ConsentChoices:
    """What was ticked on the form."""

    archive: bool
    transcribe: bool
    translate: bool
    publish_anonymised: bool
    publish_named: bool
    embargo_until: date | None
    publish_anonymised_audio: bool = False

    def any_use(self) -> bool:
        """Whether anything at all may be done with the recording."""
        return any(getattr(self, name) for name, _ in USES)


def wording_text(locale: str) -> str:
    """The full consent wording of this version as shown in `locale`."""
    with force_locale(locale):
        lines = [gettext(text) for _, text in USES]
        lines.append(gettext(EMBARGO_WORDING))
    return "\n".join(lines)


def wording_sha256(locale: str) -> str:
    """Hash of the wording shown, stored with each consent so a later reader can verify it."""
    return hashlib.sha256(
        f"{WORDING_VERSION}\n{locale}\n{wording_text(locale)}".encode()
    ).hexdigest()


class NarrowingRefused(Exception):
    """A change of consent that would widen it, or that changes nothing."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def narrow(
    session: Session,
    testimony: Testimony,
    withdraw: set[str],
    embargo_until: date | None = None,
    actor: Actor = Actor.submitter,
) -> Consent:
    """Withdraw some uses, or move the embargo later, keeping the earlier version whole.

    Only narrowing: a use not given stays not given, and an embargo only moves later, because
    a page reached with a receipt code alone must never be able to widen what was agreed.
    Withdrawing translation also cancels its waiting drafts and deletes those already made.
    Commits; raises NarrowingRefused (with nothing written) when there is nothing to narrow.
    """
    current = testimony.consent
    if testimony.state == TestimonyState.withdrawn or current is None:
        raise NarrowingRefused("withdrawn")
    if not withdraw <= set(NARROWABLE):
        raise NarrowingRefused("not_narrowable")
    if "publish_anonymised" in withdraw:
        withdraw = withdraw | {"publish_anonymised_audio"}  # the audio is part of that text's
    withdrawn = sorted(name for name in withdraw if getattr(current, name))
    later = embargo_until is not None and (
        current.embargo_until is None or embargo_until > current.embargo_until
    )
    if embargo_until is not None and not later:
        raise NarrowingRefused("embargo_earlier")
    if not withdrawn and not later:
        raise NarrowingRefused("nothing")
    now = utcnow()
    session.add(
        ConsentVersion(
            consent_id=current.id,
            version=current.version,
            wording_version=current.wording_version,
            wording_locale=current.wording_locale,
            wording_sha256=current.wording_sha256,
            archive=current.archive,
            transcribe=current.transcribe,
            translate=current.translate,
            publish_anonymised=current.publish_anonymised,
            publish_named=current.publish_named,
            publish_anonymised_audio=current.publish_anonymised_audio,
            embargo_until=current.embargo_until,
            valid_from=current.changed_at or current.given_at,
            superseded_at=now,
        )
    )
    for name in withdrawn:
        setattr(current, name, False)
    if later:
        current.embargo_until = embargo_until
    current.version += 1
    current.changed_at = now
    detail: dict[str, object] = {"version": current.version, "withdrawn": withdrawn}
    if later:
        detail["embargo_later"] = True
    if "translate" in withdrawn:
        detail["jobs_cancelled"] = jobs.cancel_for_testimony(
            session, testimony.id, JobKind.translate_draft
        )
        deleted = session.execute(
            delete(SegmentDraft).where(SegmentDraft.testimony_id == testimony.id)
        )
        detail["drafts_deleted"] = int(deleted.rowcount)  # type: ignore[attr-defined]
        session.execute(delete(TranslationMark).where(TranslationMark.testimony_id == testimony.id))
        deleted = session.execute(
            delete(TranslationSegment).where(TranslationSegment.testimony_id == testimony.id)
        )
        detail["translations_deleted"] = int(deleted.rowcount)  # type: ignore[attr-defined]
    audit.record_event(
        session, testimony.id, actor, Action.consent_narrowed, detail=detail
    )
    session.commit()
    return current
