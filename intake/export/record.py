"""One record as the export sees it: a plain, in-memory description, free of the database.

Every export format is written from an `ExportRecord` alone, so the formats can be built, read
and tested without a database, a key or a worker; the code that fills it from the database
(approved, redacted text; the redacted access audio; the audit chain) lives with the task.

Everything here is already what may leave the archive's hands: redacted text, pseudonyms of
staff, never a submitter's name. The checks in `__post_init__` refuse what a subtitle player or
an OHMS viewer would show wrongly (cues out of order, ending before they start), so a bad record
fails before anything is written rather than in a reader's player.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, BinaryIO

#: The languages the archive works in, by code, with their English names (OHMS wants names).
LANGUAGE_NAMES = {"fa": "Persian", "en": "English"}
RIGHT_TO_LEFT = frozenset({"fa"})


class ExportError(Exception):
    """A record that cannot be exported as described, or an export that failed; says why."""


@dataclass(frozen=True)
class Word:
    """One word with its time in seconds from the start of the recording."""

    start: float
    end: float
    text: str
    probability: float | None = None


@dataclass(frozen=True)
class Segment:
    """One reviewed segment: a sentence or two, with its times, speaker and review state."""

    start: float
    end: float
    text: str
    speaker: str | None = None
    words: tuple[Word, ...] = ()
    review_state: str = "approved"
    approved_by: str | None = None


@dataclass(frozen=True)
class Transcript:
    """The transcript or the translation of one record, segment by segment."""

    language: str
    segments: tuple[Segment, ...]
    review_state: str = "approved"
    approved_by: str | None = None
    machine_draft: bool = False

    def __post_init__(self) -> None:
        if self.language not in LANGUAGE_NAMES:
            raise ExportError(f"unknown language {self.language!r}")
        previous_start = -1
        for index, segment in enumerate(self.segments):
            start, end = to_millis(segment.start), to_millis(segment.end)
            # Times are checked as they will be written (whole milliseconds): two cues that
            # differ only below a millisecond would be equal, or reversed, in the files.
            if start < 0 or end <= start:
                raise ExportError(f"segment {index}: end {segment.end} not after start")
            if start <= previous_start:
                raise ExportError(f"segment {index}: starts before the segment before it")
            previous_start = start

    @property
    def right_to_left(self) -> bool:
        """Whether the language is written right to left (Persian)."""
        return self.language in RIGHT_TO_LEFT


@dataclass(frozen=True)
class ConsentTerms:
    """What the submitter agreed to, as the export needs it."""

    archive: bool
    transcribe: bool
    translate: bool
    publish_anonymised: bool
    publish_named: bool
    embargo_until: date | None = None
    wording_version: str = ""
    withdrawn: bool = False
    #: Publication of the anonymised audio, a use of its own (`Consent.publish_anonymised_audio`).
    publish_anonymised_audio: bool = False


@dataclass(frozen=True)
class HistoryEvent:
    """One entry of the record's append-only history, with its audit-chain hashes."""

    at: datetime
    actor: str
    action: str
    from_state: str | None = None
    to_state: str | None = None
    detail: dict[str, Any] | None = None
    hash: str | None = None
    prev_hash: str | None = None
    #: The entry's place in the audit chain, and the actor and staff account id exactly as
    #: the chain hashed them (`actor` above names staff by `events.staff_ref`).
    seq: int | None = None
    chain_actor: str | None = None
    account_id: int | None = None


@dataclass(frozen=True)
class IndexPoint:
    """An approved index point: a moment of one recording with its title and description, in
    the record's language and (`*_alt`) the other one where the indexer wrote it."""

    start: float
    title: str
    partial_transcript: str = ""
    synopsis: str = ""
    keywords: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()
    title_alt: str = ""
    partial_transcript_alt: str = ""
    synopsis_alt: str = ""
    keywords_alt: tuple[str, ...] = ()
    subjects_alt: tuple[str, ...] = ()


@dataclass(frozen=True)
class CitedEntity:
    """An entity a record cites, as it may leave: with its names and facts, or, where the
    publication policy withholds them (`policy.entity_withheld`), its kind and time only,
    without even its id (an id named elsewhere would give the name back)."""

    kind: str
    start: float
    entity_id: int | None = None
    names: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    latitude: float | None = None
    longitude: float | None = None
    date_text: str = ""
    date_start: date | None = None
    date_end: date | None = None
    withheld: str | None = None


#: Opens the access audio for reading; called once per export, the stream is closed after.
AudioOpener = Callable[[], BinaryIO]


@dataclass(frozen=True)
class Recording:
    """One of several recordings the submitter sent for a record, with its own access audio
    and its own texts, timed from its own start."""

    number: int
    duration: float
    audio: AudioOpener | None
    transcript: Transcript | None = None
    translation: Transcript | None = None
    #: The recording's approved index points, timed from its own start.
    index_points: tuple[IndexPoint, ...] = ()


@dataclass(frozen=True)
class ExportRecord:
    """Everything one access bag is written from."""

    record_id: int
    pseudonym: str
    state: str
    language: str
    duration: float
    received_at: datetime
    approved_at: datetime | None
    consent: ConsentTerms
    transcript: Transcript | None
    translation: Transcript | None = None
    events: tuple[HistoryEvent, ...] = ()
    audio: AudioOpener | None = None
    audio_suffix: str = ".flac"
    audio_media_type: str = "audio/flac"
    #: The redaction proof of the access audio (`intake.review.redaction_proof.proof_json`), written
    #: into the bag as `redaction-proof.json`.
    redaction_proof: str | None = None
    rights: str | None = None
    description: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    #: With several recordings, each one (the fields above then describe them joined: the
    #: transcript with times from the start of the first, the duration of all).
    recordings: tuple[Recording, ...] = ()
    #: The approved index points (of the one recording, or with several, of all of them timed
    #: from the start of the first); empty where none is approved or the transcript may not
    #: leave. The OHMS index is written from them when there are any.
    index_points: tuple[IndexPoint, ...] = ()
    #: The entities the record cites that its consent and marks let leave (`gather`).
    entities: tuple[CitedEntity, ...] = ()

    def __post_init__(self) -> None:
        if self.received_at.tzinfo is None or (
            self.approved_at is not None and self.approved_at.tzinfo is None
        ):
            raise ExportError(f"{self.pseudonym}: dates must carry their time zone")
        if self.duration < 0:
            raise ExportError(f"{self.pseudonym}: negative duration")

    @property
    def recording_count(self) -> int:
        """How many recordings the submitter sent for this record."""
        return max(1, len(self.recordings))

    @property
    def languages(self) -> tuple[str, ...]:
        """The record's languages: the transcript's, then the translation's."""
        found = [self.language]
        if self.translation is not None and self.translation.language not in found:
            found.append(self.translation.language)
        return tuple(found)


def to_millis(seconds: float) -> int:
    """Seconds as whole milliseconds, rounded half away from zero the same way everywhere."""
    return int(seconds * 1000 + 0.5)


def clock(seconds: float, separator: str = ".") -> str:
    """`HH:MM:SS.mmm` (WebVTT) or, with `separator=","`, `HH:MM:SS,mmm` (SRT)."""
    millis = to_millis(seconds)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def canonical_json(document: Any) -> str:
    """The one JSON layout of the export: sorted keys, UTF-8 text, two-space indent."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True, indent=2) + "\n"
