"""The archive's glossary: Persian terms and their English forms, kept by admins.

Prisons, places, organisations and Persian-calendar dates have settled English forms that an
archive's readers search by ("Evin Prison", not "Evin jail"). The glossary is shown beside each
segment that contains one of its terms, a check flags a translation that does not use the
glossary's form, and the same terms can be given to Whisper as hotwords.

Terms are matched after `intake.review.normalise` on both sides, so a term typed with Arabic
letters, without its half-space or with Persian digits is still found. All the terms of one language
are matched in one pass over the text (an Aho-Corasick automaton, `Matcher`), built once per
change of the glossary and kept for the process, so a page of segments costs the same with ten
terms or ten thousand (it took 20 s with 10,000 terms matched one by one). Imports are all or
nothing: a CSV with any bad row imports no row and reports every bad one, so an admin fixes the
file once instead of guessing which half went in.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import ahocorasick
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from intake import offload
from intake.events import Action
from intake.models import Entity, GlossaryCategory, GlossaryTerm
from intake.records import audit
from intake.review.normalise import normalise

COLUMNS = ("term_fa", "term_en", "category", "note")
MAX_TERM_CHARS = 200
MAX_NOTE_CHARS = 2000
MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_ROWS = 10_000


class GlossaryError(Exception):
    """A glossary change that cannot be made; `reason` is a stable code for the message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Problem:
    """One bad row of an import: its line in the file and why it was refused."""

    line: int
    reason: str


class ImportRefused(Exception):
    """An import with bad rows: every problem, and nothing was imported."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(f"{len(problems)} bad rows")
        self.problems = list(problems)


@dataclass(frozen=True)
class Entry:
    """A glossary term as the translation pages use it (read once per page)."""

    id: int
    fa: str
    en: str
    category: GlossaryCategory
    note: str

    def term(self, language: str) -> str:
        """The term in `language` ("fa" or "en")."""
        return self.fa if language == "fa" else self.en


@dataclass(frozen=True)
class ImportResult:
    """How many terms an import added and how many it updated."""

    added: int
    updated: int


def entries(session: Session) -> list[Entry]:
    """Every term, by category then Persian term."""
    rows = session.scalars(
        select(GlossaryTerm).order_by(GlossaryTerm.category, GlossaryTerm.key)
    ).all()
    return [Entry(t.id, t.term_fa, t.term_en, t.category, t.note) for t in rows]


def _clean(term_fa: str, term_en: str, category: str, note: str) -> tuple[str, str, str, str]:
    """The row's fields stripped and checked; GlossaryError names the first fault."""
    fa, en, note = term_fa.strip(), term_en.strip(), note.strip()
    if not fa:
        raise GlossaryError("empty_fa")
    if not en:
        raise GlossaryError("empty_en")
    if not normalise(fa) or not normalise(en):
        raise GlossaryError("no_letters")
    if len(fa) > MAX_TERM_CHARS or len(en) > MAX_TERM_CHARS or len(note) > MAX_NOTE_CHARS:
        raise GlossaryError("too_long")
    if category.strip() not in {c.value for c in GlossaryCategory}:
        raise GlossaryError("category")
    return fa, en, category.strip(), note


def add(
    session: Session, term_fa: str, term_en: str, category: str, note: str, actor: str
) -> GlossaryTerm:
    """Add one term; GlossaryError when a field is bad or the Persian term is there already."""
    fa, en, cat, text = _clean(term_fa, term_en, category, note)
    key = normalise(fa)
    if session.scalars(select(GlossaryTerm.id).where(GlossaryTerm.key == key)).first():
        raise GlossaryError("duplicate")
    term = GlossaryTerm(key=key, term_fa=fa, term_en=en, category=GlossaryCategory(cat), note=text)
    session.add(term)
    session.flush()
    audit.record_event(session, None, actor, Action.glossary_changed, detail={"added": 1})
    return term


def remove(session: Session, term_id: int, actor: str) -> None:
    """Remove one term; GlossaryError("not_found") when there is none."""
    term = session.get(GlossaryTerm, term_id)
    if term is None:
        raise GlossaryError("not_found")
    # An entity grown from the term stays in the register, no longer tied to it.
    session.execute(
        update(Entity).where(Entity.glossary_term_id == term_id).values(glossary_term_id=None)
    )
    session.delete(term)
    audit.record_event(session, None, actor, Action.glossary_changed, detail={"removed": 1})


def import_csv(session: Session, data: bytes, actor: str) -> ImportResult:
    """Add or update terms from a CSV with the header `term_fa,term_en,category,note`.

    A term whose Persian form (normalised) is in the glossary already is updated. Raises
    ImportRefused listing every bad row, and writes nothing, when any row is bad.
    """
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportRefused([Problem(0, "too_big")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused([Problem(0, "encoding")]) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (StopIteration, csv.Error):
        raise ImportRefused([Problem(1, "header")]) from None
    if header[: len(COLUMNS)] != list(COLUMNS) and header[:3] != list(COLUMNS[:3]):
        raise ImportRefused([Problem(1, "header")])
    problems: list[Problem] = []
    wanted: dict[str, tuple[str, str, str, str]] = {}
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue  # blank lines are allowed
            if len(wanted) + len(problems) >= MAX_IMPORT_ROWS:
                problems.append(Problem(line, "too_many"))
                break
            if len(row) not in (3, 4):
                problems.append(Problem(line, "columns"))
                continue
            try:
                fields = _clean(row[0], row[1], row[2], row[3] if len(row) == 4 else "")
            except GlossaryError as exc:
                problems.append(Problem(line, exc.reason))
                continue
            key = normalise(fields[0])
            if key in wanted:
                problems.append(Problem(line, "duplicate"))
                continue
            wanted[key] = fields
    except csv.Error:
        problems.append(Problem(reader.line_num, "columns"))
    if problems:
        raise ImportRefused(problems)
    existing = {
        t.key: t
        for t in session.scalars(select(GlossaryTerm).where(GlossaryTerm.key.in_(list(wanted))))
    }
    added = updated = 0
    for key, (fa, en, cat, note) in wanted.items():
        term = existing.get(key)
        if term is None:
            session.add(
                GlossaryTerm(
                    key=key, term_fa=fa, term_en=en, category=GlossaryCategory(cat), note=note
                )
            )
            added += 1
        elif (term.term_fa, term.term_en, term.category.value, term.note) != (fa, en, cat, note):
            term.term_fa, term.term_en, term.category, term.note = (
                fa,
                en,
                GlossaryCategory(cat),
                note,
            )
            updated += 1
    session.flush()
    audit.record_event(
        session,
        None,
        actor,
        Action.glossary_changed,
        detail={"imported": True, "added": added, "updated": updated},
    )
    return ImportResult(added, updated)


def export_csv(session: Session) -> str:
    """Every term as CSV, in the import's format (so an export imports back unchanged)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for e in entries(session):
        writer.writerow([_safe_cell(e.fa), _safe_cell(e.en), e.category.value, _safe_cell(e.note)])
    return out.getvalue()


def _safe_cell(value: str) -> str:
    # A cell starting with = + - @ is run as a formula by spreadsheets: quote it with an
    # apostrophe, as OWASP advises for CSV exports.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


class Matcher:
    """Every term of the glossary in one automaton per language, matched as `normalise.contains`
    matches one term: compared normalised, whole words only, and a half-space (ZWNJ) either
    dropped or read as a word boundary, so "اوین‌ها" finds "اوین".

    Built once per change of the glossary (`matcher`); read-only afterwards, so the threads and
    greenlets of a web worker share it.
    """

    def __init__(self, terms: Iterable[Entry]) -> None:
        self.entries = list(terms)
        self._automata = {lang: _automaton(self.entries, lang) for lang in ("fa", "en")}

    def _hits(self, text: str, language: str) -> set[int]:
        automaton = self._automata["fa" if language == "fa" else "en"]
        hits: set[int] = set()
        if automaton is None:
            return hits
        # The two readings of a half-space, as `normalise.contains` tries them.
        for hay in {normalise(text), normalise(text.replace("\u200c", " "))}:
            if not hay:
                continue
            for end, (length, indexes) in automaton.iter(hay):
                start = end - length + 1
                if _boundary(hay, start - 1) and _boundary(hay, end + 1):
                    hits.update(indexes)
        return hits

    def found_in(self, text: str, language: str) -> list[Entry]:
        """The glossary terms that occur in `text`, written in `language`, in glossary order."""
        return [self.entries[i] for i in sorted(self._hits(text, language))]

    def missing_in(
        self, translation: str, target_language: str, found: Iterable[Entry]
    ) -> list[Entry]:
        """The terms found in the source whose glossary form the translation does not use."""
        used = {self.entries[i].id for i in self._hits(translation, target_language)}
        return [e for e in found if e.id not in used]


def _boundary(text: str, index: int) -> bool:
    # As `normalise.find`: the edge of the text or a character that is no letter or digit.
    return index < 0 or index >= len(text) or not text[index].isalnum()


def _automaton(terms: Sequence[Entry], language: str) -> Any:
    """An automaton over the normalised terms in `language`; each key carries its length and
    the indexes of the entries that normalise to it (two English forms may be one). None when
    there is no term."""
    automaton = ahocorasick.Automaton()
    for index, entry in enumerate(terms):
        key = normalise(entry.term(language))
        if not key:
            continue
        if key in automaton:
            automaton.get(key)[1].append(index)
        else:
            automaton.add_word(key, (len(key), [index]))
    if len(automaton) == 0:
        return None
    automaton.make_automaton()
    return automaton


# Matchers by database and glossary stamp: one process serves one database, tests several.
_matchers: dict[tuple[str, tuple[Any, ...]], Matcher] = {}
_matchers_lock = threading.Lock()
_MATCHERS_KEPT = 4


def _stamp(session: Session) -> tuple[Any, ...]:
    """What changes whenever a term is added, removed or edited: the count, the highest id and
    the latest `updated_at` (edits bump it; a removal lowers the count, an addition raises the
    count or, after a removal, the id or the time)."""
    # Three subqueries, not one SELECT of three aggregates: each alone is answered from an
    # index (SQLite scans the whole table for a combined one: 18 ms at 10,000 terms).
    row = session.execute(
        select(
            select(func.count()).select_from(GlossaryTerm).scalar_subquery(),
            select(func.max(GlossaryTerm.id)).scalar_subquery(),
            select(func.max(GlossaryTerm.updated_at)).scalar_subquery(),
        )
    ).one()
    return tuple(row)


def matcher(session: Session) -> Matcher:
    """The glossary's matcher, rebuilt only when the glossary changed since it was built."""
    key = (session.get_bind().engine.url.render_as_string(hide_password=True), _stamp(session))
    found = _matchers.get(key)
    if found is not None:
        return found
    # One build at a time (two pages opened after an import wait for the first build rather
    # than each make their own), off the web server's event loop: seconds at 10,000 terms.
    with _matchers_lock:
        found = _matchers.get(key)
        if found is None:
            found = offload.blocking(Matcher, entries(session))
            if len(_matchers) >= _MATCHERS_KEPT:
                _matchers.pop(next(iter(_matchers)))
            _matchers[key] = found
    return found


def found_in(text: str, language: str, terms: Iterable[Entry]) -> list[Entry]:
    """The glossary terms that occur in `text`, written in `language` (for a few terms; a page
    of segments uses `matcher`)."""
    return Matcher(terms).found_in(text, language)


def missing_in(translation: str, target_language: str, found: Iterable[Entry]) -> list[Entry]:
    """The terms found in the source whose glossary form the translation does not use."""
    kept = list(found)
    return Matcher(kept).missing_in(translation, target_language, kept)


def hotwords(session: Session, language: str) -> str:
    """The glossary's terms in `language` as one hotword string for Whisper ("" for none).

    For an unknown language both forms are given. Whisper reads hotwords as a prompt of at
    most about 220 tokens, so the list is cut there rather than overflow it.
    """
    words: list[str] = []
    for e in entries(session):
        if language in ("fa", "en"):
            words.append(e.term(language))
        else:
            words.extend((e.fa, e.en))
    return " ".join(words)[:600]
