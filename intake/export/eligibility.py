"""Which records may be exported, and why the others are held back.

One plain function, so that the command line, the archivist's page and the task apply the same
rule, and a record named on the command line is refused as surely as one found by a query.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Protocol

from intake.export.record import ConsentTerms, ExportRecord, Transcript

#: `archived` records were exported before; exporting them again (to finish an interrupted
#: run, or for a second copy) writes the same payload, byte for byte.
EXPORTABLE_STATES = frozenset({"approved", "archived"})

REASONS = {
    "withdrawn": "consent was withdrawn",
    "not_approved": "the record is not approved",
    "unconsented": "the submitter did not consent to publication",
    "embargoed": "the record is under embargo",
    "proof_pending": "its access audio has not been proven redacted yet",
    "proof_failed": "its access audio failed the redaction proof",
}


@dataclass(frozen=True)
class Decision:
    """Whether one record may be exported; when not, a reason code and a sentence."""

    pseudonym: str
    exportable: bool
    reason: str | None = None
    message: str | None = None


def decide(pseudonym: str, state: str, consent: ConsentTerms | None, today: date) -> Decision:
    """Decide one record: withdrawn, not approved, unconsented or embargoed records never go.

    The checks run in that order so that the reason given is the strongest one: a withdrawn
    record is reported as withdrawn even if it was also under embargo.
    """
    if state == "withdrawn" or consent is None or consent.withdrawn:
        return _held(pseudonym, "withdrawn")
    if state not in EXPORTABLE_STATES:
        return _held(pseudonym, "not_approved", f" (it is {state})")
    if not (consent.publish_anonymised or consent.publish_named):
        return _held(pseudonym, "unconsented")
    if consent.embargo_until is not None and today < consent.embargo_until:
        return _held(pseudonym, "embargoed", f" until {consent.embargo_until.isoformat()}")
    return Decision(pseudonym, True)


class ProofLike(Protocol):
    """What the hold-back reads of a redaction proof (`intake.redaction_proof.Proof`)."""

    @property
    def passed(self) -> bool: ...

    @property
    def message(self) -> str: ...


def proof_decision(pseudonym: str, proof: ProofLike | None) -> Decision:
    """No access audio leaves unproven: a record whose current access copy has no redaction
    proof yet, or failed it, is held back with the reason."""
    if proof is None:
        return _held(pseudonym, "proof_pending")
    if not proof.passed:
        return _held(pseudonym, "proof_failed", f" ({proof.message})")
    return Decision(pseudonym, True)


def _held(pseudonym: str, reason: str, more: str = "") -> Decision:
    return Decision(pseudonym, False, reason, f"{pseudonym}: {REASONS[reason]}{more}")


def consented_content(record: ExportRecord) -> ExportRecord:
    """The record with only what its consent allows and review approved: no text without
    consent to transcribe, no translation without consent to translate, and never a machine
    draft or an unapproved text, which would read as the archive's own."""
    consent = record.consent
    transcript = record.transcript if consent.transcribe and _approved(record.transcript) else None
    translation = record.translation if transcript is not None and consent.translate else None
    if not _approved(translation):
        translation = None
    if transcript is record.transcript and translation is record.translation:
        return record
    return replace(record, transcript=transcript, translation=translation)


def _approved(text: Transcript | None) -> bool:
    return text is not None and text.review_state == "approved" and not text.machine_draft
