"""Translation of approved transcripts, segment by segment: drafts, saving, four-eyes approval.

A translation is aligned to the review segments: one `TranslationSegment` per transcript
segment, with its own state machine < edited < approved (as review, and as Weblate's
translated < approved). Each saved translation remembers the version of the source segment it
translated, so a segment changed since (split, merged, corrected) is caught instead of pairing
a translation with text it does not translate. Saving also carries the translation's own
version, so a concurrent edit is never overwritten silently; nobody approves a translation they
last edited. Machine drafts (Whisper's translate task over each segment's time span, stored by
the worker through `add_drafts`) are offered beside the segment and labelled; accepting one
makes the translation `edited`, never approved.

A translation carries redaction marks of its own (`TranslationMark`: offsets into its text
and a category), suggested from its source segment's marks and the glossary; it cannot be
approved while its source marks a category it does not, and the export replaces its marked
spans as it does the transcript's. The state machine (versions, four eyes, marks reopening
approved work, events) is `intake.review.segment_work`, shared with review.

When every segment's translation is approved the testimony moves in_translation ->
translation_review -> approved. Events carry ids and states only; text is sealed with the
testimony's key (`intake.sealing`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from intake import sealing
from intake.crypto import Keyring
from intake.events import Action, Actor
from intake.models import (
    AudioFile,
    Job,
    JobKind,
    JobStatus,
    RedactionCategory,
    RedactionMark,
    ReviewState,
    Role,
    Segment,
    SegmentDraft,
    Testimony,
    TestimonyState,
    Transcript,
    TranslationMark,
    TranslationSegment,
)
from intake.records import audit, jobs, lifecycle, record_access
from intake.review import (
    glossary,
    normalise,
    redaction_marks,
    search_index,
    segment_work,
    transcripts,
)

# Testimonies listed for translators (with translation consent), and those whose
# translations can still change.
QUEUE_STATES = record_access.WORK[Role.translator].states
OPEN_STATES = frozenset({TestimonyState.transcript_approved, TestimonyState.in_translation})
PAGE_SEGMENTS = 100
# Whisper translates into English only: drafts exist for Persian sources.
DRAFT_SOURCES = frozenset({"fa"})


class TranslationError(segment_work.WorkError):
    """A translation action refused; `reason` is its code for the translator's message."""


# A concurrent save of the same translation: both texts, for the translator to choose.
Conflict = segment_work.Conflict
# The translation's side of the state machine shared with review.
KIND = segment_work.Kind(
    state_column="state",
    error=TranslationError,
    edited=Action.translation_edited,
    approved=Action.translation_segment_approved,
    reopened=Action.translation_reopened,
    ids=lambda row: {"translation": row.id, "segment": row.segment_id},
    waiting=TestimonyState.transcript_approved,
    working=TestimonyState.in_translation,
    started=Action.translation_started,
)


def target_language(source_language: str) -> str:
    """The language a transcript is translated into: Persian to English, else to Persian."""
    return "en" if source_language == "fa" else "fa"


def drafts_possible(source_language: str) -> bool:
    """Whether Whisper can draft a translation of this language (into English only)."""
    return source_language in DRAFT_SOURCES


@dataclass(frozen=True)
class QueueRow(segment_work.Waiting):
    """One testimony waiting for translation, with its progress."""

    translated: int
    approved: int


def _consents(testimony: Testimony) -> bool:
    return testimony.consent is not None and bool(testimony.consent.translate)


def queue(session: Session) -> list[QueueRow]:
    """Testimonies whose approved transcript waits for translation, oldest first; only those
    whose submitter consented to translation."""
    rows = session.execute(
        select(
            Testimony,
            func.count(Segment.id),
            func.count(TranslationSegment.id),
            func.count(TranslationSegment.approved_by),
        )
        .join(Transcript, Transcript.testimony_id == Testimony.id)
        .join(Segment, Segment.transcript_id == Transcript.id)
        .outerjoin(TranslationSegment, TranslationSegment.segment_id == Segment.id)
        # The same rule the workbench opens records by (`intake.records.record_access`).
        .where(record_access.where(Role.translator))
        .group_by(Testimony.id)
        .order_by(Testimony.created_at)
    ).all()
    return [
        QueueRow(t.pseudonym, t.state, t.language.value, t.created_at, n, done, ok)
        for t, n, done, ok in rows
    ]


def find(session: Session, pseudonym: str) -> Testimony:
    """The testimony with this pseudonym, if its transcript is approved and its submitter
    consented to translation; TranslationError otherwise."""
    testimony = session.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).first()
    if testimony is None or testimony.wrapped_key is None:
        raise TranslationError("not_found")
    if testimony.state not in (*QUEUE_STATES, TestimonyState.approved):
        raise TranslationError("not_found")
    if not _consents(testimony):
        raise TranslationError("no_consent")
    return testimony


@dataclass(frozen=True)
class RowView:
    """One segment on the translation page: source, translation, draft and glossary."""

    segment_id: int
    start_s: float
    source: str
    source_version: int
    text: str
    state: ReviewState | None
    version: int
    from_draft: bool
    edited_by: str | None
    approved_by: str | None
    stale: bool
    draft: str | None
    terms: list[glossary.Entry]
    missing: list[glossary.Entry]
    # The translation's own marks, and the spans its source's marks suggest marking.
    marks: tuple[redaction_marks.Span, ...] = ()
    suggestions: tuple[redaction_marks.Span, ...] = ()
    # The categories the source marks and the translation does not yet.
    unmarked: tuple[RedactionCategory, ...] = ()

    @property
    def clock(self) -> str:
        """The start time as h:mm:ss."""
        whole = int(self.start_s)
        return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"

    @property
    def redacted(self) -> Markup:
        """The translation with its marked spans highlighted, each piece escaped."""
        return redaction_marks.highlighted(self.text, self.marks)

    @property
    def flagged(self) -> bool:
        """A translation that leaves out the glossary's form of a term of its source."""
        return bool(self.text) and bool(self.missing)


@dataclass
class FileView:
    """One recording's transcript and its translation."""

    audio_position: int
    source_language: str
    target_language: str
    drafts_possible: bool
    rows: list[RowView] = field(default_factory=list)


@dataclass(frozen=True)
class Workbench:
    """One page of the translation view and where it sits among pages."""

    files: list[FileView]
    page: int
    pages: int
    segments: int


def workbench(
    session: Session,
    keyring: Keyring,
    testimony: Testimony,
    page: int = 1,
    per_page: int = PAGE_SEGMENTS,
) -> Workbench:
    """One page of source segments with their translations, drafts and glossary terms."""
    key = transcripts.testimony_key(keyring, testimony)
    matcher = glossary.matcher(session)
    base = (
        select(Segment, Transcript, AudioFile.position, TranslationSegment, SegmentDraft)
        .join(Transcript, Transcript.id == Segment.transcript_id)
        .join(AudioFile, AudioFile.id == Transcript.audio_file_id)
        .outerjoin(TranslationSegment, TranslationSegment.segment_id == Segment.id)
        .outerjoin(SegmentDraft, SegmentDraft.segment_id == Segment.id)
        .where(Transcript.testimony_id == testimony.id)
    )
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = session.execute(
        base.order_by(AudioFile.position, Segment.position)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    files: dict[int, FileView] = {}
    source_marks = redaction_marks.of_segments(session, (row[0].id for row in rows))
    own_marks = marks_of(session, (row[3].id for row in rows if row[3] is not None))
    for seg, transcript, position, done, draft in rows:
        source_lang = transcript.language
        target = target_language(source_lang)
        view = files.get(transcript.id)
        if view is None:
            view = FileView(position, source_lang, target, drafts_possible(source_lang))
            files[transcript.id] = view
        source = transcripts.unseal_segment(key, seg).text
        text = sealing.open_translation(key, testimony.id, seg.id, done.sealed) if done else ""
        found = matcher.found_in(source, source_lang)
        view.rows.append(
            RowView(
                segment_id=seg.id,
                start_s=seg.start_s,
                source=source,
                source_version=seg.version,
                text=text,
                state=done.state if done else None,
                version=done.version if done else 0,
                from_draft=bool(done and done.from_draft),
                edited_by=done.edited_by if done else None,
                approved_by=done.approved_by if done else None,
                stale=bool(done and done.source_version != seg.version),
                draft=(
                    sealing.open_segment_draft(key, testimony.id, seg.id, draft.sealed)
                    if draft
                    else None
                ),
                terms=found,
                missing=matcher.missing_in(text, target, found) if text else [],
                **_mark_views(
                    source,
                    source_lang,
                    text,
                    source_marks.get(seg.id, []),
                    own_marks.get(done.id, []) if done else [],
                    found,  # the glossary's terms in this source segment
                ),
            )
        )
    return Workbench(list(files.values()), page, pages, total)


def page_of(session: Session, segment_id: int, per_page: int = PAGE_SEGMENTS) -> int:
    """The workbench page that shows `segment_id` (for the redirect after saving it)."""
    return transcripts.page_of_segment(session, segment_id, per_page)


def _source(session: Session, testimony: Testimony, segment_id: int) -> tuple[Segment, str]:
    """The approved source segment and its transcript's language, locked for this change."""
    seg = session.get(Segment, segment_id, with_for_update=True)
    transcript = session.get(Transcript, seg.transcript_id) if seg else None
    if seg is None or transcript is None or transcript.testimony_id != testimony.id:
        # A segment merged away since the page was loaded is gone: its translation with it.
        raise TranslationError("source_changed")
    if not _consents(testimony):
        raise TranslationError("no_consent")
    if testimony.state not in OPEN_STATES:
        raise TranslationError("closed")
    if seg.review_state != ReviewState.approved:
        raise TranslationError("source_changed")
    return seg, transcript.language


def _row(session: Session, segment_id: int) -> TranslationSegment | None:
    return session.scalars(
        select(TranslationSegment)
        .where(TranslationSegment.segment_id == segment_id)
        .with_for_update()
    ).first()


def save(
    session: Session,
    keyring: Keyring,
    testimony: Testimony,
    segment_id: int,
    text: str,
    source_version: int,
    version: int,
    actor: str,
    max_chars: int,
    from_draft: bool = False,
) -> TranslationSegment:
    """Save a segment's translation, if the source segment is still at `source_version` and
    nobody saved a translation since `version` (0: none existed).

    Raises TranslationError ("source_changed" when the source was split, merged or corrected
    since; "empty", "too_long", "closed", "no_consent") or Conflict (with both texts);
    nothing is written in either case.
    """
    cleaned = text.replace("\r\n", "\n").strip()
    if not cleaned:
        raise TranslationError("empty")
    if len(cleaned) > max_chars:
        raise TranslationError("too_long")
    seg, source_language = _source(session, testimony, segment_id)
    if seg.version != source_version:
        raise TranslationError("source_changed")
    key = transcripts.testimony_key(keyring, testimony)
    row = _row(session, seg.id)
    current = sealing.open_translation(key, testimony.id, seg.id, row.sealed) if row else ""
    segment_work.check_text_version(seg.id, row.version if row else 0, version, cleaned, current)
    if (
        row is not None
        and cleaned == current
        and row.source_version == seg.version
        and row.from_draft == from_draft
    ):
        return row  # nothing changed: no new version, no event
    if row is None:
        row = TranslationSegment(
            testimony_id=testimony.id,
            segment_id=seg.id,
            target_language=target_language(source_language),
            version=0,
        )
        session.add(row)
    row.sealed = sealing.seal_translation(key, testimony.id, seg.id, cleaned)
    row.source_version = seg.version
    row.from_draft = from_draft
    dropped = _reanchor(session, row, current, cleaned) if row.id is not None else 0
    action = Action.translation_draft_accepted if from_draft else None
    extra: dict[str, object] = {"source_version": seg.version, "marks_dropped": dropped}
    segment_work.Change(session, KIND, testimony, row, actor).edited(action, extra)
    return row


def accept_draft(
    session: Session,
    keyring: Keyring,
    testimony: Testimony,
    segment_id: int,
    source_version: int,
    version: int,
    actor: str,
    max_chars: int,
) -> TranslationSegment:
    """Take the segment's machine draft as its translation: `edited`, labelled, never
    approved by this. TranslationError("no_draft") when there is no draft."""
    draft = session.scalars(
        select(SegmentDraft).where(
            SegmentDraft.segment_id == segment_id, SegmentDraft.testimony_id == testimony.id
        )
    ).first()
    if draft is None:
        raise TranslationError("no_draft")
    key = transcripts.testimony_key(keyring, testimony)
    text = sealing.open_segment_draft(key, testimony.id, segment_id, draft.sealed)
    return save(
        session,
        keyring,
        testimony,
        segment_id,
        text,
        source_version,
        version,
        actor,
        max_chars,
        from_draft=True,
    )


def approve(
    session: Session,
    testimony: Testimony,
    segment_id: int,
    version: int,
    actor: str,
    keyring: Keyring | None = None,
) -> TranslationSegment:
    """Approve a segment's translation as it stands at `version`; never by the one who last
    edited it, never when its source changed since. The last approval approves the testimony
    and, given the `keyring` (the staff app's), indexes its translation for search."""
    seg, _ = _source(session, testimony, segment_id)
    row = _row(session, seg.id)
    if row is None:
        raise TranslationError("untranslated")
    segment_work.check_version(KIND, row, version)
    if row.source_version != seg.version:
        raise TranslationError("source_changed")
    if row.state != ReviewState.approved and unmarked_categories(session, seg.id, row.id):
        raise TranslationError("unmarked")
    if segment_work.Change(session, KIND, testimony, row, actor).approve(version):
        _finish_if_approved(session, testimony, actor, keyring)
    return row


# --- the translation's redaction marks ---------------------------------------------------------


def marks_of(session: Session, translation_ids: Iterable[int]) -> dict[int, list[TranslationMark]]:
    """The marks of each of these translations, in text order."""
    return redaction_marks.grouped(session, TranslationMark, "translation_id", translation_ids)


def unmarked_categories(
    session: Session, segment_id: int, translation_id: int
) -> tuple[RedactionCategory, ...]:
    """The categories the source segment marks and its translation marks nowhere."""
    source = redaction_marks.of_segments(session, [segment_id]).get(segment_id, [])
    return redaction_marks.unmatched(
        source, marks_of(session, [translation_id]).get(translation_id, [])
    )


def suggestions(
    source_text: str,
    source_language: str,
    text: str,
    source_marks: Sequence[RedactionMark],
    own: Sequence[TranslationMark],
    terms: Sequence[glossary.Entry],
) -> list[redaction_marks.Span]:
    """Spans of the translation `text` that the source's marks suggest marking, with the
    source mark's category: the glossary's form of the marked words in the target language
    where the glossary has them, else the words as the source writes them (a name kept in
    Latin letters). Spans marked already are left out."""
    target = target_language(source_language)
    found: dict[tuple[int, int], RedactionCategory] = {}
    for mark in source_marks:
        piece = source_text[mark.char_start : mark.char_end]
        forms = [
            e.term(target)
            for e in terms
            if normalise.contains(piece, e.term(source_language))
            or normalise.contains(e.term(source_language), piece)
        ] or [piece]
        for form in forms:
            for span in normalise.find(text, form) if form.strip() else []:
                if not any(m.char_start < span[1] and m.char_end > span[0] for m in own):
                    found.setdefault(span, mark.category)
    return [
        redaction_marks.Span(a, b, text[a:b], category)
        for (a, b), category in sorted(found.items())
    ]


def _mark_views(
    source: str,
    source_language: str,
    text: str,
    source_marks: Sequence[RedactionMark],
    own: Sequence[TranslationMark],
    terms: Sequence[glossary.Entry],
) -> dict[str, Any]:
    return {
        "marks": tuple(
            redaction_marks.Span(
                m.char_start, m.char_end, text[m.char_start : m.char_end], m.category, m.id
            )
            for m in own
        ),
        "suggestions": tuple(suggestions(source, source_language, text, source_marks, own, terms))
        if text
        else (),
        "unmarked": redaction_marks.unmatched(source_marks, own) if text else (),
    }


def _reanchor(session: Session, row: TranslationSegment, old_text: str, new_text: str) -> int:
    """Move the translation's marks onto the same words in its new text; drop those whose
    words are gone. Returns how many went."""
    dropped = 0
    for mark in marks_of(session, [row.id]).get(row.id, []):
        moved = redaction_marks.relocate(old_text, new_text, mark.char_start, mark.char_end)
        if moved is None:
            session.delete(mark)
            dropped += 1
        else:
            mark.char_start, mark.char_end = moved
    return dropped


def _marking(
    session: Session, keyring: Keyring, testimony: Testimony, segment_id: int
) -> tuple[TranslationSegment, str]:
    """The translation to mark, locked, and its text; TranslationError when there is none."""
    seg, _ = _source(session, testimony, segment_id)
    row = _row(session, seg.id)
    if row is None:
        raise TranslationError("untranslated")
    if row.source_version != seg.version:
        raise TranslationError("source_changed")
    key = transcripts.testimony_key(keyring, testimony)
    return row, sealing.open_translation(key, testimony.id, seg.id, row.sealed)


def mark_words(
    session: Session,
    keyring: Keyring,
    testimony: Testimony,
    segment_id: int,
    version: int,
    chosen: segment_work.Selection,
    category: RedactionCategory,
    actor: str,
) -> TranslationMark:
    """Mark the `chosen` words of a segment's translation for redaction, if the translation
    is still at `version` (the offsets refer to the text the translator saw). An approved
    translation goes back to `edited`: another translator approves it again."""
    row, text = _marking(session, keyring, testimony, segment_id)
    existing = marks_of(session, [row.id]).get(row.id, [])

    def make(first: int, last: int) -> TranslationMark:
        mark = TranslationMark(testimony_id=testimony.id, translation_id=row.id, created_by=actor)
        mark.char_start, mark.char_end = redaction_marks.checked_span(text, first, last, existing)
        mark.category = category
        return mark

    change = segment_work.Change(session, KIND, testimony, row, actor)
    mark = change.add_mark(version, text, existing, make, chosen)
    assert isinstance(mark, TranslationMark)
    return mark


def unmark(
    session: Session,
    keyring: Keyring,
    testimony: Testimony,
    segment_id: int,
    mark_id: int,
    version: int,
    actor: str,
) -> None:
    """Remove one mark of a segment's translation still at `version`; an approved translation
    goes back to `edited`."""
    row, _ = _marking(session, keyring, testimony, segment_id)
    found = session.get(TranslationMark, mark_id)
    if found is not None and found.translation_id != row.id:
        found = None  # another segment's mark: as if there were none
    segment_work.Change(session, KIND, testimony, row, actor).remove_mark(version, found)


def _finish_if_approved(
    session: Session, testimony: Testimony, actor: str, keyring: Keyring | None
) -> None:
    waiting = session.scalar(
        select(func.count())
        .select_from(Segment)
        .join(Transcript, Transcript.id == Segment.transcript_id)
        .outerjoin(
            TranslationSegment,
            (TranslationSegment.segment_id == Segment.id)
            & (TranslationSegment.state == ReviewState.approved)
            & (TranslationSegment.source_version == Segment.version),
        )
        .where(Transcript.testimony_id == testimony.id, TranslationSegment.id.is_(None))
    )
    if waiting or testimony.state != TestimonyState.in_translation:
        return
    lifecycle.transition(
        session,
        testimony,
        TestimonyState.translation_review,
        actor,
        Action.translation_completed,
    )
    lifecycle.transition(
        session, testimony, TestimonyState.approved, actor, Action.translation_approved
    )
    if keyring is not None:
        search_index.index_testimony(session, keyring, testimony)


# --- machine drafts ---------------------------------------------------------------------------


def queue_drafts(session: Session, testimony: Testimony) -> list[Job]:
    """Queue a draft job per Persian transcript of an approved testimony, if the submitter
    consented to translation and no live job exists for that file. Published after commit."""
    if not _consents(testimony):
        return []
    files = session.scalars(
        select(Transcript.audio_file_id).where(
            Transcript.testimony_id == testimony.id,
            Transcript.language.in_(list(DRAFT_SOURCES)),
        )
    ).all()
    existing = set(
        session.scalars(
            select(Job.audio_file_id).where(
                Job.testimony_id == testimony.id,
                Job.kind == JobKind.translate_draft,
                Job.status.in_([JobStatus.queued, JobStatus.running, JobStatus.done]),
            )
        ).all()
    )
    return [
        jobs.enqueue(session, testimony.id, JobKind.translate_draft, audio_file_id)
        for audio_file_id in files
        if audio_file_id not in existing
    ]


@dataclass(frozen=True)
class Span:
    """A segment's time span in its recording, for the draft job."""

    segment_id: int
    start_s: float
    end_s: float


def draft_spans(session: Session, audio_file_id: int) -> tuple[str, list[Span]]:
    """The source language and the approved segments' spans of one file's transcript."""
    transcript = session.scalars(
        select(Transcript).where(Transcript.audio_file_id == audio_file_id)
    ).first()
    if transcript is None:
        return "unknown", []
    segs = session.scalars(
        select(Segment)
        .where(
            Segment.transcript_id == transcript.id,
            Segment.review_state == ReviewState.approved,
        )
        .order_by(Segment.position)
    ).all()
    return transcript.language, [Span(s.id, s.start_s, s.end_s) for s in segs]


def add_drafts(
    session: Session,
    keyring: Keyring,
    testimony: Testimony,
    job_id: int | None,
    drafts: dict[int, str],
    model_name: str,
    actor: Actor,
    withheld: int = 0,
) -> int:
    """Store one machine draft per segment id (sealed); segments that have a draft already,
    or belong to another testimony, are skipped. Returns how many were stored. `withheld` is
    how many spans the worker drafted but did not offer (`intake.review.draft_quality`); the
    event counts both, so a job that offered nothing still shows that it judged every span."""
    key = transcripts.testimony_key(keyring, testimony)
    own = set(
        session.scalars(
            select(Segment.id)
            .join(Transcript, Transcript.id == Segment.transcript_id)
            .where(Transcript.testimony_id == testimony.id, Segment.id.in_(list(drafts)))
        )
    )
    have = set(
        session.scalars(select(SegmentDraft.segment_id).where(SegmentDraft.segment_id.in_(own)))
    )
    stored = 0
    for segment_id, text in drafts.items():
        if segment_id not in own or segment_id in have or not text.strip():
            continue
        session.add(
            SegmentDraft(
                testimony_id=testimony.id,
                segment_id=segment_id,
                job_id=job_id,
                target_language="en",
                sealed=sealing.seal_segment_draft(key, testimony.id, segment_id, text.strip()),
                model_name=model_name,
            )
        )
        stored += 1
    audit.record_event(
        session,
        testimony.id,
        actor,
        Action.machine_draft_stored,
        detail={"job": job_id, "segments": stored, "withheld": withheld},
    )
    return stored
