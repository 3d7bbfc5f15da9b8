"""The register of entities: people, prisons, places, organisations and dates, and where each
testimony cites them (SPEC.md section 9).

An entity's names and facts are sealed for the archive (`sealing.seal_entity`): a person's name
may be one a survivor spoke. Filtering by a typed name therefore opens the entries and compares
them normalised (`normalise`), in the staff app only. The register grows from the glossary
(`from_glossary`) and from the records (`cite` with a new entity, from a segment, an index point
or a redaction mark: a marked person linked without the name leaving the archive). An entity
made while citing a record remembers that record, so that withdrawing it erases the entity too
when nothing else cites it (`intake.records.erasure`, "orphans").

Merging keeps the survivor's names and shows the other's as spellings; the citations move and
the other points to the survivor, so a link to it still lands somewhere. The other's names stay
sealed in its own row and the survivor shows them from there (`read`), never copied into its
own: withdrawing the record the other grew from erases that row, and with it every name that
came from the record, from the survivor too. An edit is made on the version the indexer saw
("stale" otherwise, as for index points); a merge raises the survivor's version.
Events carry ids and counts, never a name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, object_session

from intake import sealing
from intake.crypto import Keyring
from intake.events import Action
from intake.models import (
    AudioFile,
    Entity,
    EntityCitation,
    EntityKind,
    GlossaryCategory,
    GlossaryTerm,
    IndexPoint,
    RedactionMark,
    Segment,
    Testimony,
    Transcript,
)
from intake.records import audit
from intake.review import solar_hijri, transcripts
from intake.review.normalise import normalise

#: The roles a person may have in the testimonies.
PERSON_ROLES = ("prisoner", "relative", "official", "other")
#: The kinds that may carry coordinates.
LOCATED = frozenset({EntityKind.place, EntityKind.prison})
#: Glossary categories to the kind of the entity each term becomes.
FROM_CATEGORY = {
    GlossaryCategory.prison: EntityKind.prison,
    GlossaryCategory.place: EntityKind.place,
    GlossaryCategory.organisation: EntityKind.organisation,
    GlossaryCategory.date: EntityKind.date,
}
MAX_NAME_CHARS = 200
MAX_NOTE_CHARS = 2000
MAX_SPELLINGS = 50
#: Seconds of a citation played when nothing gives its end (an index point, for now).
DEFAULT_SPAN_S = 30.0


class EntityError(Exception):
    """A register change that cannot be made; `reason` is a stable code for the message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Facts:
    """What the register knows of an entity: all of it sealed."""

    name_fa: str = ""
    name_en: str = ""
    spellings: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    latitude: float | None = None
    longitude: float | None = None
    date_text: str = ""
    date_start: date | None = None
    date_end: date | None = None
    note: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        """Every name and spelling, the Persian and English first, without repeats."""
        return tuple(dict.fromkeys(n for n in (self.name_fa, self.name_en, *self.spellings) if n))

    def as_json(self) -> dict[str, Any]:
        """The sealed payload."""
        return {
            "name_fa": self.name_fa,
            "name_en": self.name_en,
            "spellings": list(self.spellings),
            "roles": list(self.roles),
            "latitude": self.latitude,
            "longitude": self.longitude,
            "date": {
                "text": self.date_text,
                "start": self.date_start.isoformat() if self.date_start else None,
                "end": self.date_end.isoformat() if self.date_end else None,
            },
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Facts:
        """The facts of a sealed payload."""
        when = data.get("date") or {}
        return cls(
            name_fa=data.get("name_fa", ""),
            name_en=data.get("name_en", ""),
            spellings=tuple(data.get("spellings", ())),
            roles=tuple(data.get("roles", ())),
            latitude=data.get("latitude"),
            longitude=data.get("longitude"),
            date_text=when.get("text", ""),
            date_start=date.fromisoformat(when["start"]) if when.get("start") else None,
            date_end=date.fromisoformat(when["end"]) if when.get("end") else None,
            note=data.get("note", ""),
        )


@dataclass(frozen=True)
class EntityView:
    """An opened entity: its row's ids and its facts."""

    id: int
    kind: EntityKind
    facts: Facts
    merged_into_id: int | None = None
    glossary_term_id: int | None = None
    version: int = 1

    def label(self, language: str = "en") -> str:
        """The name to show in `language`, else any name it has."""
        first = self.facts.name_fa if language == "fa" else self.facts.name_en
        return first or next(iter(self.facts.names), f"#{self.id}")


@dataclass(frozen=True)
class CitationView:
    """One citation as the entity page shows it; `text` only for a reader of the record."""

    id: int
    entity_id: int
    pseudonym: str
    start_s: float
    end_s: float
    audio_position: int
    via: str  # "segment", "index_point" or "redaction_mark"
    text: str | None = None
    readable: bool = False


@dataclass(frozen=True)
class Cited:
    """A citation found at a place of a record (the citation form's list)."""

    citation_id: int
    entity: EntityView
    via: str


@dataclass
class _Target:
    segment: Segment | None = None
    mark: RedactionMark | None = None
    point: IndexPoint | None = None


# --- reading and writing the sealed facts ------------------------------------------------------


def _own(keyring: Keyring, entity: Entity) -> Facts:
    """The facts sealed in an entity's own row, without those of the entries merged into it."""
    return Facts.from_json(sealing.open_entity(keyring, entity.id, entity.sealed))


def _merged(session: Session | None, entity: Entity) -> list[Entity]:
    """The entries merged into a live entity, oldest first (none for a merged one)."""
    if session is None or entity.merged_into_id is not None:
        return []
    return list(
        session.scalars(
            select(Entity).where(Entity.merged_into_id == entity.id).order_by(Entity.id)
        )
    )


def _combine(mine: Facts, theirs: Facts) -> Facts:
    """`mine` with `theirs` merged in: their names as spellings, their roles, their
    coordinates and date where mine has none, both notes."""
    spellings = tuple(
        dict.fromkeys(
            n for n in (*mine.spellings, *theirs.names) if n not in (mine.name_fa, mine.name_en)
        )
    )
    return replace(
        mine,
        spellings=spellings,
        roles=tuple(r for r in PERSON_ROLES if r in {*mine.roles, *theirs.roles}),
        latitude=mine.latitude if mine.latitude is not None else theirs.latitude,
        longitude=mine.longitude if mine.latitude is not None else theirs.longitude,
        date_text=mine.date_text or theirs.date_text,
        date_start=mine.date_start or theirs.date_start,
        date_end=mine.date_end or theirs.date_end,
        note="\n".join(n for n in (mine.note, theirs.note) if n)[:MAX_NOTE_CHARS],
    )


def read(keyring: Keyring, entity: Entity, merged: list[Entity] | None = None) -> EntityView:
    """An entity row opened: a live one with the names and facts of the entries merged into
    it, each read from its own row (`merged` when the caller has them already, as the register
    does for all entries in one query)."""
    facts = _own(keyring, entity)
    if merged is None:
        merged = _merged(object_session(entity), entity)
    for other in merged:
        facts = _combine(facts, _own(keyring, other))
    return EntityView(
        entity.id,
        entity.kind,
        facts,
        entity.merged_into_id,
        entity.glossary_term_id,
        entity.version or 1,
    )


def _seal(keyring: Keyring, entity: Entity, facts: Facts) -> None:
    entity.sealed = sealing.seal_entity(keyring, entity.id, facts.as_json())


def _text(value: str, limit: int = MAX_NAME_CHARS) -> str:
    cleaned = " ".join(value.split())
    if len(cleaned) > limit:
        raise EntityError("too_long")
    return cleaned


def _number(value: str | float | None, reason: str) -> float | None:
    """A number typed in Latin or Persian digits (either decimal mark); None for nothing."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(normalise(str(value).replace("\u066b", ".")))
    except ValueError:
        raise EntityError(reason) from None
    if not math.isfinite(number):
        raise EntityError(reason)
    return number


def _coordinate(value: str | float | None, bound: float) -> float | None:
    number = _number(value, "coordinates")
    if number is not None and abs(number) > bound:
        raise EntityError("coordinates")
    return number


def seconds(value: str | float | None) -> float | None:
    """A time in seconds as a form gives it; None for nothing, EntityError("time") else."""
    return _number(value, "time")


def facts_from_form(
    kind: EntityKind,
    *,
    name_fa: str = "",
    name_en: str = "",
    spellings: str | Iterable[str] = "",
    roles: Iterable[str] = (),
    latitude: str | float | None = None,
    longitude: str | float | None = None,
    date_text: str = "",
    note: str = "",
) -> Facts:
    """Checked facts for an entity of `kind` as a form gives them; EntityError names the fault.

    A date reads its range from `date_text`, else from its names (Solar Hijri, `solar_hijri`);
    roles are kept for people, coordinates for places and prisons."""
    lines = spellings.splitlines() if isinstance(spellings, str) else list(spellings)
    others = tuple(dict.fromkeys(t for t in (_text(s) for s in lines) if t))
    if len(others) > MAX_SPELLINGS:
        raise EntityError("too_long")
    facts = Facts(
        name_fa=_text(name_fa),
        name_en=_text(name_en),
        spellings=others,
        note=_text(note, MAX_NOTE_CHARS),
    )
    if not any(normalise(n) for n in facts.names):
        raise EntityError("no_name")
    if kind == EntityKind.person:
        chosen = tuple(r for r in PERSON_ROLES if r in set(roles))
        if set(roles) - set(PERSON_ROLES):
            raise EntityError("role")
        facts = replace(facts, roles=chosen)
    if kind in LOCATED:
        lat, lon = _coordinate(latitude, 90.0), _coordinate(longitude, 180.0)
        if (lat is None) != (lon is None):
            raise EntityError("coordinates")
        facts = replace(facts, latitude=lat, longitude=lon)
    if kind == EntityKind.date:
        facts = _dated(facts, _text(date_text))
    return facts


def _dated(facts: Facts, date_text: str) -> Facts:
    """The facts of a date with its Gregorian range, from `date_text` or the first name that
    reads as a Solar Hijri date."""
    for candidate in (date_text, *facts.names):
        if not candidate:
            continue
        try:
            found = solar_hijri.parse(candidate)
        except solar_hijri.DateUnreadable:
            if candidate is date_text:
                raise EntityError("date") from None
            continue
        return replace(facts, date_text=candidate, date_start=found.start, date_end=found.end)
    raise EntityError("date")


# --- the register ------------------------------------------------------------------------------


def create(
    session: Session,
    keyring: Keyring,
    kind: EntityKind,
    facts: Facts,
    actor: str,
    *,
    origin_testimony_id: int | None = None,
    glossary_term_id: int | None = None,
) -> Entity:
    """Add an entity to the register (sealed once its row has an id to bind it to)."""
    entity = Entity(
        kind=kind,
        sealed=b"",
        created_by=actor,
        origin_testimony_id=origin_testimony_id,
        glossary_term_id=glossary_term_id,
    )
    session.add(entity)
    session.flush()
    _seal(keyring, entity, facts)
    session.flush()
    audit.record_event(session, None, actor, Action.entity_created, detail={"entity": entity.id})
    return entity


def get(session: Session, entity_id: int) -> Entity:
    """The entity `entity_id`; EntityError("not_found") when there is none."""
    entity = session.get(Entity, entity_id)
    if entity is None:
        raise EntityError("not_found")
    return entity


def resolve(session: Session, entity_id: int) -> Entity:
    """The entity a link to `entity_id` means now: itself, or the one it was merged into."""
    entity = get(session, entity_id)
    seen = {entity.id}
    while entity.merged_into_id is not None and entity.merged_into_id not in seen:
        entity = get(session, entity.merged_into_id)
        seen.add(entity.id)
    return entity


def edit(
    session: Session,
    keyring: Keyring,
    entity_id: int,
    facts: Facts,
    actor: str,
    *,
    version: int,
) -> Entity:
    """Make an entity show `facts`, if it is still at `version` (EntityError("stale") else:
    someone changed it since the indexer opened it).

    What the entries merged into it gave stays in their rows, so that it still goes with the
    record they grew from: a name kept stays there, a name removed is removed there, and only
    what the indexer typed anew is sealed in the entity's own row."""
    entity = get(session, entity_id)
    if (entity.version or 1) != version:
        raise EntityError("stale")
    shown = read(keyring, entity).facts
    own = _own(keyring, entity)
    typed = set(facts.names)
    others = _merged(session, entity)
    given: set[str] = set()
    given_roles: set[str] = set()
    for other in others:
        theirs = _own(keyring, other)
        kept = replace(
            theirs,
            name_fa=theirs.name_fa if theirs.name_fa in typed else "",
            name_en=theirs.name_en if theirs.name_en in typed else "",
            spellings=tuple(n for n in theirs.spellings if n in typed),
            roles=tuple(r for r in theirs.roles if r in facts.roles),
        )
        if _located(facts) != _located(shown):
            kept = replace(kept, latitude=None, longitude=None)
        if _dating(facts) != _dating(shown):
            kept = replace(kept, date_text="", date_start=None, date_end=None)
        if not _same_note(facts, shown):
            kept = replace(kept, note="")
        given.update(kept.names)
        given_roles.update(kept.roles)
        if kept != theirs:
            _seal(keyring, other, kept)
    mine = replace(
        facts,
        spellings=tuple(n for n in facts.spellings if n not in given),
        roles=tuple(r for r in facts.roles if r in own.roles or r not in given_roles),
        latitude=own.latitude if _located(facts) == _located(shown) else facts.latitude,
        longitude=own.longitude if _located(facts) == _located(shown) else facts.longitude,
        note=own.note if _same_note(facts, shown) else facts.note,
    )
    if _dating(facts) == _dating(shown):
        mine = replace(
            mine, date_text=own.date_text, date_start=own.date_start, date_end=own.date_end
        )
    _seal(keyring, entity, mine)
    entity.version = (entity.version or 1) + 1
    session.flush()
    audit.record_event(session, None, actor, Action.entity_edited, detail={"entity": entity.id})
    return entity


def _same_note(typed: Facts, shown: Facts) -> bool:
    """Whether the typed note is the one shown (a form gives it back with its lines joined)."""
    return typed.note == " ".join(shown.note.split())


def _located(facts: Facts) -> tuple[float | None, float | None]:
    return facts.latitude, facts.longitude


def _dating(facts: Facts) -> tuple[str, date | None, date | None]:
    return facts.date_text, facts.date_start, facts.date_end


def register(
    session: Session, keyring: Keyring, kind: EntityKind | None = None, query: str = ""
) -> list[EntityView]:
    """The register's live entries (merged ones left out), of one kind if given, whose names
    contain `query` compared normalised; sorted by kind and name."""
    rows = select(Entity).where(Entity.merged_into_id.is_(None))
    if kind is not None:
        rows = rows.where(Entity.kind == kind)
    wanted = normalise(query)
    # The merged entries of all the register's rows in one query, not one a row.
    merged: dict[int, list[Entity]] = {}
    for other in session.scalars(
        select(Entity).where(Entity.merged_into_id.is_not(None)).order_by(Entity.id)
    ):
        merged.setdefault(other.merged_into_id or 0, []).append(other)
    found = []
    for entity in session.scalars(rows):
        view = read(keyring, entity, merged.get(entity.id, []))
        if wanted and not any(wanted in normalise(n) for n in view.facts.names):
            continue
        found.append(view)
    return sorted(found, key=lambda v: (v.kind.value, normalise(v.label())))


def merge(session: Session, keyring: Keyring, keep_id: int, other_id: int, actor: str) -> Entity:
    """Merge `other_id` into `keep_id`: the survivor keeps its names and shows the other's as
    spellings (and its roles, and its coordinates or dates where it had none), read from the
    other's own row (`read`); the citations move; the other points to the survivor, and so do
    the entries merged into it before."""
    if keep_id == other_id:
        raise EntityError("same")
    keep, other = resolve(session, keep_id), resolve(session, other_id)
    if keep.id == other.id:
        raise EntityError("same")
    if keep.kind != other.kind:
        raise EntityError("kinds")
    keep.version = (keep.version or 1) + 1  # what it shows changes: an open edit is stale
    moved = session.execute(
        update(EntityCitation).where(EntityCitation.entity_id == other.id).values(entity_id=keep.id)
    )
    session.execute(
        update(Entity).where(Entity.merged_into_id == other.id).values(merged_into_id=keep.id)
    )
    other.merged_into_id = keep.id
    session.flush()
    audit.record_event(
        session,
        None,
        actor,
        Action.entities_merged,
        detail={"kept": keep.id, "merged": other.id, "citations": moved.rowcount},  # type: ignore[attr-defined]
    )
    return keep


def from_glossary(session: Session, keyring: Keyring, term: GlossaryTerm, actor: str) -> Entity:
    """The entity a glossary term became, made now if it has none (its Persian and English
    forms as names, its note; a date term reads its range from the Persian form)."""
    existing = session.scalar(select(Entity).where(Entity.glossary_term_id == term.id))
    if existing is not None:
        return resolve(session, existing.id)
    kind = FROM_CATEGORY[term.category]
    facts = facts_from_form(kind, name_fa=term.term_fa, name_en=term.term_en, note=term.note)
    return create(session, keyring, kind, facts, actor, glossary_term_id=term.id)


def from_glossary_all(session: Session, keyring: Keyring, actor: str) -> int:
    """Make an entity of every glossary term that has none; the number made. A date term whose
    words read as no Solar Hijri date is left for a person to enter."""
    taken = select(Entity.glossary_term_id).where(Entity.glossary_term_id.is_not(None))
    made = 0
    for term in session.scalars(select(GlossaryTerm).where(GlossaryTerm.id.not_in(taken))):
        try:
            from_glossary(session, keyring, term, actor)
        except EntityError:
            continue
        made += 1
    return made


# --- citations -----------------------------------------------------------------------------------


def _segment_of(session: Session, testimony_id: int, segment_id: int) -> Segment:
    segment = session.scalar(
        select(Segment)
        .join(Transcript, Transcript.id == Segment.transcript_id)
        .where(Segment.id == segment_id, Transcript.testimony_id == testimony_id)
    )
    if segment is None:
        raise EntityError("target")
    return segment


def _target(
    session: Session,
    testimony: Testimony,
    segment_id: int | None,
    index_point_id: int | None,
    redaction_mark_id: int | None,
) -> _Target:
    given = [x for x in (segment_id, index_point_id, redaction_mark_id) if x is not None]
    if redaction_mark_id is not None:
        mark = session.get(RedactionMark, redaction_mark_id)
        if mark is None or mark.testimony_id != testimony.id:
            raise EntityError("target")
        return _Target(segment=session.get(Segment, mark.segment_id), mark=mark)
    if len(given) != 1:
        raise EntityError("target")
    if segment_id is not None:
        return _Target(segment=_segment_of(session, testimony.id, segment_id))
    point = session.get(IndexPoint, index_point_id)
    if point is None or point.testimony_id != testimony.id:  # a point of another record
        raise EntityError("target")
    return _Target(point=point)


def cite(
    session: Session,
    testimony: Testimony,
    entity_id: int,
    actor: str,
    *,
    segment_id: int | None = None,
    index_point_id: int | None = None,
    redaction_mark_id: int | None = None,
    start_s: float | None = None,
) -> EntityCitation:
    """Cite an entity at a moment of `testimony`: by a segment, an index point or a redaction
    mark (whose segment comes with it). The time is the mark's, the segment's or the point's
    start unless given. The caller has opened the record (`record_access.open_for`)."""
    entity = resolve(session, entity_id)
    target = _target(session, testimony, segment_id, index_point_id, redaction_mark_id)
    if start_s is None:
        start_s = (
            target.mark.start_s
            if target.mark is not None
            else target.segment.start_s
            if target.segment is not None
            else target.point.start_s
            if target.point is not None
            else None
        )
    if start_s is None or not math.isfinite(start_s) or start_s < 0:
        raise EntityError("time")
    citation = EntityCitation(
        entity_id=entity.id,
        testimony_id=testimony.id,
        segment_id=target.segment.id if target.segment is not None else None,
        index_point_id=target.point.id if target.point is not None else None,
        redaction_mark_id=target.mark.id if target.mark is not None else None,
        start_s=float(start_s),
        created_by=actor,
    )
    session.add(citation)
    session.flush()
    audit.record_event(
        session,
        testimony.id,
        actor,
        Action.entity_cited,
        # The citation only, never the entity: the record's history leaves with its bag, and
        # an entity's id, named with its names in other bags and in entities.csv, would give
        # back a name the export withholds (a citation through a mark).
        detail={"citation": citation.id},
    )
    return citation


def cite_new(
    session: Session,
    keyring: Keyring,
    testimony: Testimony,
    kind: EntityKind,
    facts: Facts,
    actor: str,
    **where: Any,
) -> EntityCitation:
    """Make an entity from what is read at a place of `testimony` and cite it there; the entity
    remembers the record it grew from (withdrawal erases it when nothing else cites it)."""
    entity = create(session, keyring, kind, facts, actor, origin_testimony_id=testimony.id)
    return cite(session, testimony, entity.id, actor, **where)


def citation(session: Session, citation_id: int) -> EntityCitation:
    """The citation `citation_id`; EntityError("not_found") when there is none."""
    found = session.get(EntityCitation, citation_id)
    if found is None:
        raise EntityError("not_found")
    return found


def uncite(session: Session, citation_id: int, actor: str) -> None:
    """Remove one citation (the caller has opened its record)."""
    found = citation(session, citation_id)
    audit.record_event(
        session,
        found.testimony_id,
        actor,
        Action.entity_uncited,
        detail={"citation": found.id},  # as for entity_cited: no entity id in a record's history
    )
    session.delete(found)
    session.flush()


def via(row: EntityCitation) -> str:
    """What a citation cites: "redaction_mark", "index_point" or "segment"."""
    if row.redaction_mark_id is not None:
        return "redaction_mark"
    if row.index_point_id is not None:
        return "index_point"
    return "segment"


def _place(session: Session, row: EntityCitation) -> tuple[float, int, Segment | None]:
    """(end in seconds, audio file position, segment) of a citation: the mark's or the
    segment's end; for an index point, the segment that holds its start."""
    segment = session.get(Segment, row.segment_id) if row.segment_id is not None else None
    point = session.get(IndexPoint, row.index_point_id) if row.index_point_id else None
    if segment is None and point is not None:
        # The point's own recording: its time counts from that recording's start.
        segment = session.scalar(
            select(Segment)
            .join(Transcript, Transcript.id == Segment.transcript_id)
            .where(
                Transcript.audio_file_id == point.audio_file_id,
                Segment.start_s <= row.start_s,
                Segment.end_s > row.start_s,
            )
            .limit(1)
        )
    position = 1
    if segment is not None:
        position = (
            session.scalar(
                select(AudioFile.position)
                .join(Transcript, Transcript.audio_file_id == AudioFile.id)
                .where(Transcript.id == segment.transcript_id)
            )
            or 1
        )
    if point is not None:  # even in a pause no segment covers
        audio = session.get(AudioFile, point.audio_file_id)
        position = audio.position if audio is not None else position
    end = row.start_s + DEFAULT_SPAN_S
    if row.redaction_mark_id is not None:
        mark = session.get(RedactionMark, row.redaction_mark_id)
        end = mark.end_s if mark is not None else end
    elif row.segment_id is not None and segment is not None:
        end = segment.end_s
    return max(end, row.start_s + 0.1), position, segment


def citations(
    session: Session,
    keyring: Keyring,
    entity_id: int,
    may_read: Callable[[Testimony], bool],
) -> list[CitationView]:
    """Every citation of an entity across the testimonies, by pseudonym and time, with the
    cited segment's text only where `may_read` lets this reader open the record."""
    rows = session.scalars(
        select(EntityCitation).where(EntityCitation.entity_id == entity_id)
    ).all()
    found: list[CitationView] = []
    keys: dict[int, bytes | None] = {}
    for row in rows:
        testimony = session.get(Testimony, row.testimony_id)
        if testimony is None:
            continue
        end, position, segment = _place(session, row)
        if testimony.id not in keys:
            keys[testimony.id] = (
                transcripts.testimony_key(keyring, testimony) if may_read(testimony) else None
            )
        key = keys[testimony.id]
        text = None
        if key is not None and segment is not None:
            text = transcripts.unseal_segment(key, segment).text
        found.append(
            CitationView(
                row.id,
                row.entity_id,
                testimony.pseudonym,
                row.start_s,
                end,
                position,
                via(row),
                text,
                key is not None,
            )
        )
    return sorted(found, key=lambda c: (c.pseudonym, c.start_s))


def citations_at(
    session: Session,
    keyring: Keyring,
    testimony_id: int,
    segment_id: int | None = None,
    index_point_id: int | None = None,
) -> list[Cited]:
    """The entities cited at a segment or an index point of a record (the citation form)."""
    if segment_id is None and index_point_id is None:
        return []
    rows = select(EntityCitation).where(EntityCitation.testimony_id == testimony_id)
    if segment_id is not None:
        rows = rows.where(EntityCitation.segment_id == segment_id)
    else:
        rows = rows.where(EntityCitation.index_point_id == index_point_id)
    found = []
    for row in session.scalars(rows.order_by(EntityCitation.id)):
        found.append(Cited(row.id, read(keyring, get(session, row.entity_id)), via(row)))
    return found


def cited_by(session: Session, testimony_id: int) -> Sequence[EntityCitation]:
    """A record's citations, in time order (for the export)."""
    return session.scalars(
        select(EntityCitation)
        .where(EntityCitation.testimony_id == testimony_id)
        .order_by(EntityCitation.start_s, EntityCitation.id)
    ).all()
