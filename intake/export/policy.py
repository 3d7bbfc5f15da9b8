"""The publication policy: what may leave the archive, per record and per artefact, and why not.

The one place that decides (SPEC.md section 7). The export (`gather`, `runs`), the bag writer
(through `eligibility`), the catalogue and the archivists' pages (export, access copies) all
ask here; none of them decides alone. The decision is a plain function of plain facts
(`Facts`), so it can be read and tested without a database; `facts_for` reads those facts from
the database without opening any sealed content.

Two levels:

* the record: withdrawn, not approved, no consent to publication, under embargo, a consent
  wording this archive never released, a disguise the consent promised but the access copy
  does not have yet, an access copy older than the marks, a failed redaction proof: the record
  is held back whole, with a reason code and a sentence (`REASONS`);
* each artefact of a record that goes (`ARTEFACTS`): included, or withheld with its reason.

What a wording promised is fixed with its version (`PROMISES`): a wording is never edited, a
change is a new version (`intake.public.consent.WORDING_VERSION`). A version missing from `PROMISES`
holds its records back, so a new wording cannot be released without deciding here what it
promised.

The redaction proof (`intake.review.redaction_proof`) comes in through `Facts.proof_passed` (True:
the current access copies were checked and every marked span measured silent and was not heard
again; False: a check failed; None: no proof of the current copies yet). No audio leaves
unproven: where the access audio (plain or disguised) goes, a failed or missing proof holds the
record back. A record whose audio stays behind needs no proof: its text is redacted by
construction (placeholders in the text and the words).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from intake.export.record import ConsentTerms, ExportRecord, Transcript

#: `archived` records were exported before; exporting them again (to finish an interrupted
#: run, or for a second copy) writes the same payload, byte for byte.
EXPORTABLE_STATES = frozenset({"approved", "archived"})


@dataclass(frozen=True)
class WordingPromises:
    """What a released consent wording promised about the audio, beyond the uses ticked."""

    #: The wording offered the anonymised audio as a use of its own.
    anonymised_audio: bool
    #: Publishing the anonymised audio means the voice is disguised ("my voice disguised").
    disguise: bool
    #: Publication with the name covers the recording in the submitter's own voice.
    named_includes_voice: bool


#: Every consent wording released (`intake.public.consent.WORDING_VERSION`). 2026-11-25 had no use
#: of its own for the anonymised audio (the column reads "no" for its records) and its named
#: publication ("with my name") did not mention the voice: under it no audio is published.
#: 2026-11-26 promises "my voice disguised" for the anonymised audio, and "my recording in my
#: own voice" for publication with the name.
PROMISES = {
    "2026-11-25": WordingPromises(
        anonymised_audio=False, disguise=False, named_includes_voice=False
    ),
    "2026-11-26": WordingPromises(anonymised_audio=True, disguise=True, named_includes_voice=True),
}

#: Why a record is held back whole: code to the sentence the catalogue and the log carry
#: (the archivist's page shows its own translated words for each code).
REASONS = {
    "withdrawn": "consent was withdrawn",
    "not_approved": "the record is not approved",
    "unconsented": "the submitter did not consent to publication",
    "embargoed": "the record is under embargo",
    "unknown_wording": "its consent wording is not one this archive released",
    "disguise_pending": (
        "its consent promised a disguised voice and the disguised access copy does not exist "
        "yet (turn voice disguise on under Access copies)"
    ),
    "redaction_pending": (
        "its redacted access copy is not made yet, or is older than its redaction marks"
    ),
    "proof_failed": "the proof that every marked span is silenced and removed failed",
    "proof_pending": "no proof yet that every marked span is silenced and removed",
}

#: The artefacts of a record, in catalogue order.
ARTEFACTS = (
    "access_audio",
    "disguised_audio",
    "transcript_text",
    "word_list",
    "translation",
    "name",
    "original",
    "event_history",
)

#: Why an artefact is withheld: code to sentence.
WITHHELD = {
    "no_audio_consent": "no audio consent",
    "disguise_promised": "the consent promised a disguised voice",
    "disguise_chosen": "the archivist chose voice disguise",
    "no_disguise": "voice disguise is not on",
    "no_text_consent": "no consent to transcribe",
    "no_publication": "no consent to publication",
    "not_approved": "not approved",
    "no_translate_consent": "no consent to translate",
    "no_transcript": "no transcript leaves",
    "no_named_consent": "no consent to publication with the name",
    "not_released": "no custodian released the name",
    "outside_bag": "released; the archive publishes a name itself, never inside a bag",
    "no_archive_consent": "no consent to keep the original",
    "no_archive_key": "the receiving archive's key is not set up",
}


@dataclass(frozen=True)
class Decision:
    """Whether one record may be exported; when not, a reason code and a sentence."""

    pseudonym: str
    exportable: bool
    reason: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class Artefact:
    """One artefact's verdict: included, or withheld with a reason code and sentence."""

    included: bool
    reason: str | None = None

    @property
    def sentence(self) -> str:
        """The catalogue's words: "included" or "withheld: <why>"."""
        return "included" if self.included else f"withheld: {WITHHELD[self.reason or '']}"


@dataclass(frozen=True)
class Facts:
    """What the policy needs to know of one record, none of it testimony content.

    `copy_current`: the redacted access copy of every recording exists and was made from the
    marks as they are now, with the voice disguise as it is now chosen. `proof_passed`: see the
    module doc; callers without a proof pass True when there are no marks, else None.
    """

    pseudonym: str
    state: str
    consent: ConsentTerms | None
    disguise_chosen: bool = False
    copy_current: bool = False
    copy_disguised: bool = False
    marks: int = 0
    proof_passed: bool | None = None
    #: The failed proof's reason in words ("a marked span is not silent"), for the archivist.
    proof_message: str = ""
    transcript_approved: bool = True
    translation_approved: bool = True
    name_released: bool = False
    archive_key: bool = True


@dataclass(frozen=True)
class Verdict:
    """The policy's answer for one record: the record's decision and, when it goes, each
    artefact's."""

    decision: Decision
    artefacts: dict[str, Artefact] = field(default_factory=dict)

    @property
    def exportable(self) -> bool:
        """Whether the record goes at all."""
        return self.decision.exportable

    def includes(self, artefact: str) -> bool:
        """Whether `artefact` leaves with the record."""
        found = self.artefacts.get(artefact)
        return self.exportable and found is not None and found.included

    @property
    def audio(self) -> str | None:
        """Which audio leaves: "access_audio", "disguised_audio", or None."""
        for name in ("disguised_audio", "access_audio"):
            if self.includes(name):
                return name
        return None

    def columns(self) -> dict[str, str]:
        """One catalogue column per artefact."""
        return {name: self.artefacts[name].sentence for name in ARTEFACTS}


def held(pseudonym: str, reason: str, more: str = "") -> Decision:
    """A record held back for `reason` (a code of `REASONS`)."""
    return Decision(pseudonym, False, reason, f"{pseudonym}: {REASONS[reason]}{more}")


def record_decision(
    pseudonym: str, state: str, consent: ConsentTerms | None, today: date
) -> Decision:
    """The checks that need only the state and the consent: withdrawn, not approved,
    unconsented, embargoed, in that order, so that the reason given is the strongest one (a
    withdrawn record is reported as withdrawn even under embargo). The bag writer applies it
    again to whatever it is given; `decide` adds the rest."""
    if state == "withdrawn" or consent is None or consent.withdrawn:
        return held(pseudonym, "withdrawn")
    if state not in EXPORTABLE_STATES:
        return held(pseudonym, "not_approved", f" (it is {state})")
    if not (consent.publish_anonymised or consent.publish_named):
        return held(pseudonym, "unconsented")
    if consent.embargo_until is not None and today < consent.embargo_until:
        return held(pseudonym, "embargoed", f" until {consent.embargo_until.isoformat()}")
    return Decision(pseudonym, True)


def audio_rule(consent: ConsentTerms | None) -> str:
    """What the consent asks of the published audio: "none" (no audio may leave),
    "disguise_required" (the wording promised a disguised voice), "own_voice" (publication
    with the name, in the submitter's own voice; disguise is the archivist's choice) or
    "unknown_wording". For the access copies page and `decide` alike."""
    if consent is None or consent.withdrawn:
        return "none"
    promises = PROMISES.get(consent.wording_version)
    if promises is None:
        return "unknown_wording"
    named_voice = consent.publish_named and promises.named_includes_voice
    anonymised = (
        promises.anonymised_audio
        and consent.publish_anonymised
        and consent.publish_anonymised_audio
    )
    if named_voice:
        # Publication in the submitter's own voice, where consented, needs no disguise.
        return "own_voice"
    if anonymised:
        return "disguise_required" if promises.disguise else "own_voice"
    return "none"


def _audio(facts: Facts, consent: ConsentTerms) -> tuple[Artefact, Artefact, bool]:
    """(access audio, disguised audio, whether a disguised copy is owed but missing)."""
    rule = audio_rule(consent)
    if rule not in ("own_voice", "disguise_required"):
        no = Artefact(False, "no_audio_consent")
        return no, no, False
    # The consent's own promise decides, whatever the archivist chose.
    promised = rule == "disguise_required"
    if promised or facts.disguise_chosen:
        plain = Artefact(False, "disguise_promised" if promised else "disguise_chosen")
        owed = not (facts.disguise_chosen and facts.copy_disguised)
        return plain, Artefact(True), owed
    return Artefact(True), Artefact(False, "no_disguise"), False


def decide(facts: Facts, today: date, *, proof_required: bool = True) -> Verdict:
    """Decide one record and each of its artefacts (see the module doc and SPEC.md 7)."""
    consent = facts.consent
    decision = record_decision(facts.pseudonym, facts.state, consent, today)
    if not decision.exportable or consent is None:
        return Verdict(decision)
    if consent.wording_version not in PROMISES:
        return Verdict(held(facts.pseudonym, "unknown_wording", f" ({consent.wording_version!r})"))
    access, disguised, owed = _audio(facts, consent)
    p = facts.pseudonym
    if owed:
        return Verdict(held(p, "disguise_pending"))
    audio_leaves = access.included or disguised.included
    if audio_leaves and not facts.copy_current:
        return Verdict(held(p, "redaction_pending"))
    if audio_leaves and facts.proof_passed is False:
        why = f" ({facts.proof_message})" if facts.proof_message else ""
        return Verdict(held(p, "proof_failed", why))
    if audio_leaves and facts.proof_passed is None and proof_required:
        return Verdict(held(p, "proof_pending"))
    if not consent.transcribe:
        text = Artefact(False, "no_text_consent")
    elif not facts.transcript_approved:
        text = Artefact(False, "not_approved")
    else:
        text = Artefact(True)
    if not consent.translate:
        translation = Artefact(False, "no_translate_consent")
    elif not text.included:
        translation = Artefact(False, "no_transcript")
    elif not facts.translation_approved:
        translation = Artefact(False, "not_approved")
    else:
        translation = Artefact(True)
    if not consent.publish_named:
        name = Artefact(False, "no_named_consent")
    elif not facts.name_released:
        name = Artefact(False, "not_released")
    else:
        name = Artefact(False, "outside_bag")
    if not consent.archive:
        original = Artefact(False, "no_archive_consent")
    elif not facts.archive_key:
        original = Artefact(False, "no_archive_key")
    else:
        original = Artefact(True)
    return Verdict(
        decision,
        {
            "access_audio": access,
            "disguised_audio": disguised,
            "transcript_text": text,
            "word_list": text,
            "translation": translation,
            "name": name,
            "original": original,
            "event_history": Artefact(True),
        },
    )


def consented_content(record: ExportRecord) -> ExportRecord:
    """The record with only the text its consent allows and review approved: no text without
    consent to transcribe, no translation without consent to translate, and never a machine
    draft or an unapproved text, which would read as the archive's own. The bag writer applies
    it to whatever it is given, as a second line behind `decide`."""
    consent = record.consent
    transcript = record.transcript if consent.transcribe and _approved(record.transcript) else None
    translation = record.translation if transcript is not None and consent.translate else None
    if not _approved(translation):
        translation = None
    if transcript is record.transcript and translation is record.translation:
        return record
    if transcript is None:  # the index points and the citations leave only with the text
        return replace(
            record,
            transcript=None,
            translation=None,
            index_points=(),
            entities=(),
            recordings=tuple(replace(r, index_points=()) for r in record.recordings),
        )
    return replace(record, transcript=transcript, translation=translation)


def _approved(text: Transcript | None) -> bool:
    return text is not None and text.review_state == "approved" and not text.machine_draft


def facts_for(
    session: Session,
    testimony_id: int,
    *,
    archive_key: bool = True,
) -> Facts | None:
    """The policy's facts of one record, read from the database without opening any sealed
    content; None for no such record. The proof is the record's redaction proof over its
    current access copies (`redaction_proof.proof_for`)."""
    from intake.export.gather import consent_terms
    from intake.models import (
        AccessCopy,
        AudioFile,
        NameRelease,
        ReviewState,
        Segment,
        Testimony,
        TranslationSegment,
    )
    from intake.models import Transcript as TranscriptRow
    from intake.review import access_copies, redaction_proof

    testimony = session.get(Testimony, testimony_id)
    if testimony is None:
        return None
    marks = access_copies.marks_for(session, testimony_id)
    files = session.scalars(select(AudioFile).where(AudioFile.testimony_id == testimony_id)).all()
    copies = {
        c.audio_file_id: c
        for c in session.scalars(select(AccessCopy).where(AccessCopy.testimony_id == testimony_id))
    }
    segment_file: dict[int, int] = {
        segment_id: audio_file_id
        for segment_id, audio_file_id in session.execute(
            select(Segment.id, TranscriptRow.audio_file_id)
            .join(TranscriptRow, TranscriptRow.id == Segment.transcript_id)
            .where(TranscriptRow.testimony_id == testimony_id)
        )
    }
    current = bool(files)
    for audio in files:
        copy = copies.get(audio.id)
        own = [m for m in marks if segment_file.get(m.segment_id) == audio.id]
        if (
            copy is None
            or copy.marks_sha256 != access_copies.marks_digest(own)
            or copy.disguised != testimony.disguise_voice
        ):
            current = False
    segments = session.scalar(
        select(func.count())
        .select_from(Segment)
        .join(TranscriptRow, TranscriptRow.id == Segment.transcript_id)
        .where(TranscriptRow.testimony_id == testimony_id)
    )
    unapproved = session.scalar(
        select(func.count())
        .select_from(Segment)
        .join(TranscriptRow, TranscriptRow.id == Segment.transcript_id)
        .where(
            TranscriptRow.testimony_id == testimony_id,
            Segment.review_state != ReviewState.approved,
        )
    )
    translated = session.scalar(
        select(func.count())
        .select_from(TranslationSegment)
        .where(
            TranslationSegment.testimony_id == testimony_id,
            TranslationSegment.state == ReviewState.approved,
        )
    )
    released = session.scalar(
        select(NameRelease.id).where(NameRelease.testimony_id == testimony_id)
    )
    proof = redaction_proof.proof_for(session, testimony_id)
    return Facts(
        pseudonym=testimony.pseudonym,
        state=testimony.state.value,
        consent=consent_terms(testimony),
        disguise_chosen=testimony.disguise_voice,
        copy_current=current,
        copy_disguised=current and all(c.disguised for c in copies.values()),
        marks=len(marks),
        proof_passed=proof.passed if proof is not None else None,
        proof_message=proof.message if proof is not None else "",
        transcript_approved=bool(segments) and not unapproved,
        translation_approved=bool(segments) and translated == segments,
        name_released=released is not None,
        archive_key=archive_key,
    )


# --- the entities a record cites -----------------------------------------------------------------

#: Why an entity cited by a record leaves without its names (code to sentence).
ENTITY_WITHHELD = {
    "marked": "cited through a redaction mark, or where a mark of its kind hides words",
    "person_unnamed": "a person, in a record whose name may not leave",
}

#: The mark categories that may hide the words naming an entity of each kind ("other" may hide
#: anything).
MARKS_HIDING = {
    "person": frozenset({"person", "other"}),
    "prison": frozenset({"place", "other"}),
    "place": frozenset({"place", "other"}),
    "organisation": frozenset({"other"}),
    "date": frozenset({"date", "other"}),
}


def entities_leave(verdict: Verdict) -> bool:
    """Whether a record's cited entities go at all: only with its transcript's text, since a
    citation says what was said at a moment."""
    return verdict.includes("transcript_text")


def entity_withheld(
    verdict: Verdict, kind: str, *, through_mark: bool, marks_where_cited: frozenset[str]
) -> str | None:
    """None when a cited entity leaves with its names, else the code of `ENTITY_WITHHELD`.

    The rule: a citation through a redaction mark never carries a name (the mark hides it in
    the text, so the register must not give it back); nor does one where a mark of a category
    that may hide this kind of name lies (the cited segment's marks; for an index point, the
    record's); nor a person cited in a record whose name may not leave (no named publication
    with a name a custodian released: `name` withheld as anything but "outside_bag"), since
    the people around a survivor name the survivor. A withheld citation leaves its kind and
    time only, never the entity's id, which another record may name."""
    if through_mark or marks_where_cited & MARKS_HIDING.get(kind, frozenset({"other"})):
        return "marked"
    name = verdict.artefacts.get("name")
    if kind == "person" and (name is None or name.reason != "outside_bag"):
        return "person_unnamed"
    return None
