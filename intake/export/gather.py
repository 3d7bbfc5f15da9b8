"""Fill an `ExportRecord` from the database: the one place the export reads testimony content.

Everything the bag will hold is gathered here, already cut down to what may leave the archive's
hands: approved segment text (opened through `intake.review.transcripts`, which goes through
`intake.sealing`), staff named by `events.staff_ref` ids (never an email), the consent as it
stands now, and the record's event history with its audit-chain hashes.

Redaction (SPEC.md sections 6 and 7): the reviewers' marks (`access_copies.marks_for`) are
applied here to the transcript's text and to its words, the audio, where the publication
policy (`intake.export.policy`) lets it leave, is the redacted (and, where promised or chosen,
disguised) access copy made from the same marks (a record whose copy is missing or older than
its marks is held back), and a translated segment is redacted by the translator's own marks on
it (a name may be spelled any way in a translation, so the source's offsets cannot serve); one
approved without marks for a category its source marks (from before translations had marks)
goes as placeholders only.
A name a custodian released for publication is never gathered into the access bag
(`released_name`): publication with the name is the archive's own decision, outside it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from typing import BinaryIO, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake import sealing
from intake.config import Config
from intake.crypto import Keyring
from intake.events import Action, Actor, Group, staff_ref
from intake.export import policy
from intake.export.record import (
    LANGUAGE_NAMES,
    CitedEntity,
    ConsentTerms,
    ExportError,
    ExportRecord,
    HistoryEvent,
    IndexPoint,
    Recording,
    Segment,
    Transcript,
    Word,
)
from intake.models import (
    AccessCopy,
    AudioFile,
    Event,
    ReviewState,
    Testimony,
    TestimonyState,
    TranslationSegment,
)
from intake.models import IndexPoint as IndexPointRow
from intake.models import Segment as SegmentRow
from intake.models import Transcript as TranscriptRow
from intake.redaction import Category, Mark, placeholder, redact_text
from intake.review import (
    access_copies,
    alignment,
    entities,
    index_points,
    redaction_marks,
    redaction_proof,
    transcripts,
)
from intake.review.alignment import AlignedWord
from intake.storage import Store


class HeldBack(ExportError):
    """A record that may not go yet for a reason found while gathering it (`reason` is a code
    of the catalogue's held-back list)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def consent_terms(testimony: Testimony) -> ConsentTerms | None:
    """The record's consent as the export reads it; None when there is no consent row."""
    consent = testimony.consent
    if consent is None:
        return None
    return ConsentTerms(
        archive=consent.archive,
        transcribe=consent.transcribe,
        translate=consent.translate,
        publish_anonymised=consent.publish_anonymised,
        publish_named=consent.publish_named,
        embargo_until=consent.embargo_until,
        wording_version=consent.wording_version,
        withdrawn=consent.withdrawn_at is not None or testimony.wrapped_key is None,
        publish_anonymised_audio=consent.publish_anonymised_audio,
    )


def _actor_name(event: Event) -> str:
    if event.actor == Actor.staff and event.account_id is not None:
        return staff_ref(event.account_id)
    return str(event.actor)


def _in_history(event: Event) -> bool:
    """Events about exporting are left out of the exported history, so that exporting a record
    again writes the same history, byte for byte (the catalogue and the log keep them)."""
    action = Action(event.action)
    return action.group is not Group.export and event.to_state != TestimonyState.archived.value


def history(session: Session, testimony_id: int) -> tuple[HistoryEvent, ...]:
    """The record's events in the order of the audit chain, with their hashes."""
    rows = session.scalars(
        select(Event).where(Event.testimony_id == testimony_id).order_by(Event.seq)
    ).all()
    return tuple(
        HistoryEvent(
            at=event.at,
            actor=_actor_name(event),
            action=str(event.action),
            from_state=event.from_state,
            to_state=event.to_state,
            detail=event.detail,
            hash=event.hash,
            prev_hash=event.prev_hash,
            seq=event.seq,
            chain_actor=str(event.actor),
            account_id=event.account_id,
        )
        for event in rows
        if _in_history(event)
    )


def _approved_at(events: tuple[HistoryEvent, ...]) -> datetime | None:
    moments = [e.at for e in events if e.to_state == TestimonyState.approved.value]
    return moments[-1] if moments else None


def _approver(events: tuple[HistoryEvent, ...]) -> str | None:
    found = [e.actor for e in events if e.action == Action.transcript_approved.value]
    return found[-1] if found else None


def _words(words: list[AlignedWord], offset: float) -> tuple[Word, ...]:
    return tuple(
        Word(start=w.start + offset, end=w.end + offset, text=w.text, probability=w.probability)
        for w in words
    )


def approved_transcript(
    session: Session,
    keyring: Keyring,
    testimony: Testimony,
    files: list[AudioFile],
    approver: str | None,
    *,
    redacted: bool = True,
) -> Transcript | None:
    """The reviewed transcript of every file in order, segment times counted from the start
    of the whole recording; None unless every segment is approved. Its word lists are the
    approved words with their aligned times (`intake.review.alignment`), never the machine's; a
    segment whose current text is not aligned yet holds the record back (HeldBack). With
    `redacted=False`, the text as spoken, for the sealed preservation bag only."""
    key = transcripts.testimony_key(keyring, testimony)
    marks = _marks_by_segment(session, testimony.id) if redacted else {}
    segments: list[Segment] = []
    languages: set[str] = set()
    offset = 0.0
    for audio in files:
        row = session.scalars(
            select(TranscriptRow).where(TranscriptRow.audio_file_id == audio.id)
        ).one_or_none()
        if row is None:
            return None
        languages.add(row.language)
        for seg in session.scalars(
            select(SegmentRow)
            .where(SegmentRow.transcript_id == row.id)
            .order_by(SegmentRow.position)
        ):
            if seg.review_state != ReviewState.approved:
                return None
            content = transcripts.unseal_segment(key, seg)
            aligned = alignment.current_words(
                key, seg, content.text, alignment.alignments_of(session, [seg.id]).get(seg.id)
            )
            if aligned is None:
                raise HeldBack(
                    "alignment_pending",
                    f"{testimony.pseudonym}: the reviewed words are not aligned to the audio yet",
                )
            own = marks.get(seg.id, [])
            segments.append(
                Segment(
                    start=seg.start_s + offset,
                    end=seg.end_s + offset,
                    text=redact_text(content.text, own, row.language).strip(),
                    words=_words(_redact_words(aligned, own, row.language), offset),
                    review_state=seg.review_state.value,
                    approved_by=seg.approved_by,
                )
            )
        offset += audio.duration_s
    language = _record_language(testimony, languages)
    return Transcript(
        language=language, segments=tuple(segments), review_state="approved", approved_by=approver
    )


def _marks_by_segment(session: Session, testimony_id: int) -> dict[int, list[Mark]]:
    found: dict[int, list[Mark]] = {}
    for mark in access_copies.marks_for(session, testimony_id):
        found.setdefault(mark.segment_id, []).append(mark)
    return found


def _redact_words(words: list[AlignedWord], marks: list[Mark], language: str) -> list[AlignedWord]:
    """The approved words with every word a mark touches (by its place in the text) replaced
    by the mark's placeholder: the words carry the text too, and must not give back what the
    text hides."""
    out: list[AlignedWord] = []
    previous: Mark | None = None
    for word in words:
        hit = next(
            (m for m in marks if word.char_start < m.char_end and word.char_end > m.char_start),
            None,
        )
        if hit is not None and hit is previous:  # one placeholder for a mark of several words
            out[-1] = replace(out[-1], end=word.end, char_end=word.char_end)
        else:
            out.append(replace(word, text=placeholder(hit.category, language)) if hit else word)
        previous = hit
    return out


def _record_language(testimony: Testimony, found: set[str]) -> str:
    candidates = found or {testimony.detected_language or testimony.language.value}
    if len(candidates) != 1:
        raise ExportError(f"{testimony.pseudonym}: files in several languages {sorted(found)}")
    language = candidates.pop()
    if language not in LANGUAGE_NAMES:
        raise ExportError(f"{testimony.pseudonym}: language {language!r} is not exported")
    return language


def translation_of(
    session: Session,
    keyring: Keyring,
    testimony: Testimony,
    transcript: Transcript,
    *,
    redacted: bool = True,
) -> Transcript | None:
    """The approved translation of the record, segment aligned with the transcript; None
    unless every source segment has an approved translation. Each is redacted by its own
    marks; one whose source marks a category its translation does not goes as placeholders.
    With `redacted=False`, whole, for the sealed preservation bag only."""
    key = transcripts.testimony_key(keyring, testimony)
    marks = _marks_by_segment(session, testimony.id) if redacted else {}
    translated_marks = redaction_marks.of_translations(session, testimony.id) if redacted else {}
    rows = session.execute(
        select(SegmentRow, TranslationSegment)
        .join(TranscriptRow, TranscriptRow.id == SegmentRow.transcript_id)
        .join(AudioFile, AudioFile.id == TranscriptRow.audio_file_id)
        .outerjoin(TranslationSegment, TranslationSegment.segment_id == SegmentRow.id)
        .where(TranscriptRow.testimony_id == testimony.id)
        .order_by(AudioFile.position, SegmentRow.position)
    ).all()
    if not rows or len(rows) != len(transcript.segments):
        return None
    segments: list[Segment] = []
    language = ""
    approver: str | None = None
    for (seg, row), source in zip(rows, transcript.segments, strict=True):
        if row is None or row.state != ReviewState.approved or row.source_version != seg.version:
            return None
        language = row.target_language
        approver = row.approved_by
        own = marks.get(seg.id, [])
        hidden = [
            Mark(seg.id, m.char_start, m.char_end, 0.0, 0.0, Category(m.category))
            for m in translated_marks.get(row.id, [])
        ]
        if redaction_marks.unmatched(own, hidden):
            # Approved before translations had marks of their own: the source's names may
            # stand in it anywhere, so only the placeholders go.
            text = " ".join(dict.fromkeys(placeholder(m.category, language) for m in own))
        else:
            opened = sealing.open_translation(key, testimony.id, seg.id, row.sealed)
            text = redact_text(opened, hidden, language).strip()
        segments.append(
            Segment(
                start=source.start,
                end=source.end,
                text=text,
                words=(),
                review_state=row.state.value,
                approved_by=row.approved_by,
            )
        )
    if language not in LANGUAGE_NAMES:
        return None
    return Transcript(
        language=language, segments=tuple(segments), review_state="approved", approved_by=approver
    )


def redacted_audio(session: Session, testimony: Testimony, audio: AudioFile) -> str | None:
    """The store name of the file's redacted access copy, if one was made from the marks as
    they are now; None when it is missing or older than the marks."""
    copy = session.scalar(select(AccessCopy).where(AccessCopy.audio_file_id == audio.id))
    if copy is None:
        return None
    current = [
        m
        for m in access_copies.marks_for(session, testimony.id)
        if m.segment_id in _segment_ids_of(session, audio.id)
    ]
    if copy.marks_sha256 != access_copies.marks_digest(current):
        return None
    return copy.audio_name


def _segment_ids_of(session: Session, audio_file_id: int) -> set[int]:
    return set(
        session.scalars(
            select(SegmentRow.id)
            .join(TranscriptRow, TranscriptRow.id == SegmentRow.transcript_id)
            .where(TranscriptRow.audio_file_id == audio_file_id)
        )
    )


def released_name(session: Session, testimony: Testimony) -> str | None:
    """A name a custodian released for publication with this record (`identity.released_name`)
    is not put in the access bag: the bag stays anonymous, and publishing with a name is the
    archive's step after it. Kept as the one place that would read it."""
    return None


class _StoredAudio(io.RawIOBase):
    """A stored file opened for reading its plaintext, closed (file and cipher) as one."""

    def __init__(self, store: Store, key: bytes, storage_id: str, name: str) -> None:
        super().__init__()
        self._stack = ExitStack()
        self._reader = self._stack.enter_context(store.open(key, storage_id, name))

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        return self._reader.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self._stack.close()
        super().close()


def _opener(store: Store, key: bytes, storage_id: str, name: str) -> Callable[[], BinaryIO]:
    return lambda: cast(BinaryIO, _StoredAudio(store, key, storage_id, name))


@dataclass(frozen=True)
class Gathered:
    """An export record and, for the preservation bag, the store names of the originals and
    the unredacted transcript and translation; with the publication policy's verdict."""

    record: ExportRecord
    originals: tuple[str, ...]
    storage_id: str
    verdict: policy.Verdict | None = None
    original_transcript: Transcript | None = None
    original_translation: Transcript | None = None
    #: The data key of each original, in the order of `originals` (each file has its own).
    original_keys: tuple[bytes, ...] = ()


def gather(
    session: Session,
    keyring: Keyring,
    store: Store,
    testimony: Testimony,
    *,
    today: date | None = None,
    archive_key: bool = True,
    config: Config | None = None,
) -> Gathered:
    """Everything one record's bags are written from, cut down to what the publication policy
    lets leave (`policy.decide`, which reads the redaction proof too). Raises HeldBack when the
    record may not go yet, ExportError when its data cannot be exported as it stands. `config`
    describes the proof's method in the bag."""
    consent = consent_terms(testimony)
    if consent is None or testimony.wrapped_key is None:
        raise HeldBack("withdrawn", f"{testimony.pseudonym}: consent was withdrawn")
    facts = policy.facts_for(session, testimony.id, archive_key=archive_key)
    assert facts is not None
    verdict = policy.decide(facts, today or date.today())
    if not verdict.exportable:
        raise HeldBack(verdict.decision.reason or "", verdict.decision.message or "")
    files = list(
        session.scalars(
            select(AudioFile)
            .where(AudioFile.testimony_id == testimony.id)
            .order_by(AudioFile.position)
        )
    )
    if not files:
        raise ExportError(f"{testimony.pseudonym}: no audio")
    access_names: list[str] = []
    if verdict.audio:  # None: the publication policy withheld the audio
        for audio in files:
            redacted = redacted_audio(session, testimony, audio)
            if redacted is None:
                raise HeldBack(
                    "redaction_pending",
                    f"{testimony.pseudonym}: its redacted access copy is not made yet, or is "
                    "older than its redaction marks",
                )
            access_names.append(redacted)
    # The proof the policy read (it held the record back where audio leaves unproven).
    proof = redaction_proof.proof_for(session, testimony.id) if verdict.audio else None
    events = history(session, testimony.id)
    approver = _approver(events)
    transcript = approved_transcript(session, keyring, testimony, files, approver)
    if not verdict.includes("transcript_text"):
        transcript = None
    translation = translation_of(session, keyring, testimony, transcript) if transcript else None
    if not verdict.includes("translation"):
        translation = None
    # Each redacted copy is encrypted under its file's own key (older files: the testimony's).
    keys = [transcripts.audio_key(keyring, testimony, audio) for audio in files]
    openers: list[Callable[[], BinaryIO] | None] = (
        [
            _opener(store, key, testimony.storage_id, name)
            for key, name in zip(keys, access_names, strict=True)
        ]
        if access_names
        else [None] * len(files)  # the publication policy withheld the audio
    )
    language = transcript.language if transcript else _record_language(testimony, set())
    # The indexers' approved points leave with the transcript's text, never without it, with
    # every marked word replaced as in the texts, and their other language only where the
    # submitter consented to translation.
    points = (
        _redacted_points(
            index_points.approved_by_recording(session, keyring, testimony),
            _marked_words(session, keyring, testimony),
            language,
            keep_other=consent.translate,
        )
        if transcript
        else {}
    )
    recordings = (
        _recordings(session, files, openers, transcript, translation, points)
        if len(files) > 1
        else ()
    )
    record = ExportRecord(
        record_id=testimony.id,
        pseudonym=testimony.pseudonym,
        state=testimony.state.value,
        language=language,
        duration=sum(f.duration_s for f in files),
        received_at=testimony.created_at,
        approved_at=_approved_at(events),
        consent=consent,
        transcript=transcript,
        translation=translation,
        events=events,
        audio=openers[0],
        recordings=recordings,
        index_points=_joined_points(files, points),
        redaction_proof=(
            redaction_proof.proof_json(proof, config or Config()) if proof is not None else None
        ),
        entities=cited_entities(session, keyring, testimony, files, verdict),
    )
    kept = [(f.original_name, key) for f, key in zip(files, keys, strict=True) if f.original_name]
    if not consent.archive:
        kept = []
    whole = whole_translation = None
    if verdict.includes("original"):
        whole = approved_transcript(session, keyring, testimony, files, approver, redacted=False)
        if whole is not None and consent.translate:
            whole_translation = translation_of(session, keyring, testimony, whole, redacted=False)
    return Gathered(
        record,
        tuple(name for name, _ in kept),
        testimony.storage_id,
        verdict=verdict,
        original_transcript=whole,
        original_translation=whole_translation,
        original_keys=tuple(key for _, key in kept),
    )


def cited_entities(
    session: Session,
    keyring: Keyring,
    testimony: Testimony,
    files: list[AudioFile],
    verdict: policy.Verdict,
) -> tuple[CitedEntity, ...]:
    """The entities the record cites, each as the publication policy lets it leave
    (`policy.entity_withheld`), timed from the start of the whole recording; none where the
    transcript's text stays behind."""
    if not policy.entities_leave(verdict):
        return ()
    offsets: dict[int, float] = {}  # by segment id
    file_offsets: dict[int, float] = {}  # by audio file id, for index points
    offset = 0.0
    for audio in files:
        file_offsets[audio.id] = offset
        for segment_id in _segment_ids_of(session, audio.id):
            offsets[segment_id] = offset
        offset += audio.duration_s
    marks: dict[int, set[str]] = {}
    for mark in access_copies.marks_for(session, testimony.id):
        marks.setdefault(mark.segment_id, set()).add(str(mark.category))
    everywhere = frozenset().union(*marks.values()) if marks else frozenset()
    rows = []
    for row in entities.cited_by(session, testimony.id):
        point = session.get(IndexPointRow, row.index_point_id) if row.index_point_id else None
        if row.index_point_id is not None and (
            point is None or point.state != ReviewState.approved
        ):
            continue  # a point's citations leave with the point, once a second indexer approved it
        entity = entities.resolve(session, row.entity_id)
        if row.segment_id is not None:
            start = row.start_s + offsets.get(row.segment_id, 0.0)
        else:  # an index point's time counts from its own recording's start
            start = row.start_s + (file_offsets.get(point.audio_file_id, 0.0) if point else 0.0)
        where = frozenset(marks.get(row.segment_id, ())) if row.segment_id else everywhere
        withheld = policy.entity_withheld(
            verdict,
            entity.kind.value,
            through_mark=row.redaction_mark_id is not None,
            marks_where_cited=where,
        )
        rows.append((entity, start, withheld))
    # An entity withheld at one of its citations is withheld at all of them in this record:
    # named elsewhere in the bag, it would give back what the mark hid.
    hidden = {entity.id: w for entity, _, w in rows if w is not None}
    found = []
    for entity, start, withheld in rows:
        withheld = withheld or hidden.get(entity.id)
        if withheld is not None:
            found.append(CitedEntity(kind=entity.kind.value, start=start, withheld=withheld))
            continue
        facts = entities.read(keyring, entity).facts
        found.append(
            CitedEntity(
                kind=entity.kind.value,
                start=start,
                entity_id=entity.id,
                names=facts.names,
                roles=facts.roles,
                latitude=facts.latitude,
                longitude=facts.longitude,
                date_text=facts.date_text,
                date_start=facts.date_start,
                date_end=facts.date_end,
            )
        )
    return tuple(found)


def _recordings(
    session: Session,
    files: list[AudioFile],
    openers: list[Callable[[], BinaryIO] | None],
    transcript: Transcript | None,
    translation: Transcript | None,
    points: dict[int, list[index_points.PointView]],
) -> tuple[Recording, ...]:
    """Each of several recordings with its own audio and its share of the joined texts, timed
    from its own start (the joined texts run from the start of the first recording)."""
    counts = [
        len(_segment_ids_of(session, audio.id)) if transcript is not None else 0 for audio in files
    ]
    found = []
    offset, first = 0.0, 0
    for number, (audio, opener, count) in enumerate(
        zip(files, openers, counts, strict=True), start=1
    ):
        found.append(
            Recording(
                number=number,
                duration=audio.duration_s,
                audio=opener,
                transcript=_part(transcript, first, count, offset),
                translation=_part(translation, first, count, offset),
                index_points=tuple(_export_point(p) for p in points.get(audio.id, [])),
            )
        )
        offset += audio.duration_s
        first += count
    return tuple(found)


def _marked_words(
    session: Session, keyring: Keyring, testimony: Testimony
) -> list[tuple[str, Category]]:
    """The words the reviewers and translators marked in the record, with their categories,
    longest first: what an index point written from the unredacted text must not carry."""
    key = transcripts.testimony_key(keyring, testimony)
    found: dict[str, Category] = {}
    by_segment = _marks_by_segment(session, testimony.id)
    for seg in session.scalars(select(SegmentRow).where(SegmentRow.id.in_(list(by_segment)))):
        text = transcripts.unseal_segment(key, seg).text
        for mark in by_segment[seg.id]:
            found.setdefault(text[mark.char_start : mark.char_end].strip(), mark.category)
    for row_id, marks in redaction_marks.of_translations(session, testimony.id).items():
        row = session.get(TranslationSegment, row_id)
        if row is None:
            continue
        text = sealing.open_translation(key, testimony.id, row.segment_id, row.sealed)
        for m in marks:
            found.setdefault(text[m.char_start : m.char_end].strip(), Category(m.category))
    return sorted(((w, c) for w, c in found.items() if w), key=lambda wc: -len(wc[0]))


#: Letters written two ways in Persian text (Arabic and Persian yeh and kaf): a marked word is
#: found in a point however the indexer typed it.
_SAME_LETTER = {"ي": "[يی]", "ی": "[يی]", "ك": "[كک]", "ک": "[كک]"}


def _word_pattern(word: str) -> re.Pattern[str]:
    return re.compile("".join(_SAME_LETTER.get(ch, re.escape(ch)) for ch in word), re.IGNORECASE)


def _clean_point_words(
    words: index_points.Words, marked: list[tuple[str, Category]], language: str
) -> index_points.Words:
    def clean(text: str) -> str:
        for word, category in marked:
            text = _word_pattern(word).sub(placeholder(category, language), text)
        return text

    return index_points.Words(
        title=clean(words.title),
        synopsis=clean(words.synopsis),
        partial_transcript=clean(words.partial_transcript),
        keywords=tuple(clean(k) for k in words.keywords),
        subjects=tuple(clean(k) for k in words.subjects),
    )


def _redacted_points(
    points: dict[int, list[index_points.PointView]],
    marked: list[tuple[str, Category]],
    language: str,
    *,
    keep_other: bool,
) -> dict[int, list[index_points.PointView]]:
    """The points with every marked word replaced by its category's placeholder (an indexer
    copies from the unredacted transcript), without their other language unless `keep_other`
    (the submitter consented to translation)."""
    out: dict[int, list[index_points.PointView]] = {}
    for audio_id, views in points.items():
        out[audio_id] = []
        for view in views:
            text = view.text
            main = _clean_point_words(text.main, marked, language)
            alt = (
                _clean_point_words(text.alt, marked, text.alt_language or "en")
                if keep_other and text.alt is not None
                else None
            )
            other = text.alt_language if alt is not None else None
            out[audio_id].append(
                replace(view, text=replace(text, main=main, alt=alt, alt_language=other))
            )
    return out


def _export_point(point: index_points.PointView, offset: float = 0.0) -> IndexPoint:
    """An approved index point as the export writes it, `offset` seconds later."""
    main, alt = point.text.main, point.text.alt or index_points.Words()
    return IndexPoint(
        start=point.start_s + offset,
        title=main.title,
        partial_transcript=main.partial_transcript,
        synopsis=main.synopsis,
        keywords=main.keywords,
        subjects=main.subjects,
        title_alt=alt.title,
        partial_transcript_alt=alt.partial_transcript,
        synopsis_alt=alt.synopsis,
        keywords_alt=alt.keywords,
        subjects_alt=alt.subjects,
    )


def _joined_points(
    files: list[AudioFile], points: dict[int, list[index_points.PointView]]
) -> tuple[IndexPoint, ...]:
    """Every recording's approved points, timed from the start of the first recording (as the
    joined transcript is)."""
    found: list[IndexPoint] = []
    offset = 0.0
    for audio in files:
        found.extend(_export_point(p, offset) for p in points.get(audio.id, []))
        offset += audio.duration_s
    return tuple(found)


def _part(text: Transcript | None, first: int, count: int, offset: float) -> Transcript | None:
    """Segments `first`..`first+count` of a joined text, timed from `offset`."""
    if text is None or count == 0:
        return None
    segments = tuple(
        replace(
            segment,
            start=max(0.0, segment.start - offset),
            end=segment.end - offset,
            words=tuple(
                replace(w, start=max(0.0, w.start - offset), end=w.end - offset)
                for w in segment.words
            ),
        )
        for segment in text.segments[first : first + count]
    )
    return replace(text, segments=segments)


def approved_since(session: Session, since: date) -> set[int]:
    """Ids of testimonies approved on or after `since` (by their approval event)."""
    start = datetime.combine(since, time.min, tzinfo=UTC)
    found = session.scalars(
        select(Event.testimony_id).where(
            Event.to_state == TestimonyState.approved.value, Event.at >= start
        )
    ).all()
    return {testimony_id for testimony_id in found if testimony_id is not None}
