"""Search across approved transcripts and translations that keeps the text encrypted.

The database holds no word of a testimony in plaintext, so it cannot search text. It holds a
blind index instead (`SearchEntry`): for each approved segment (and approved translation of
one), the set of its tokens, each token the HMAC-SHA256 of a normalised word or of a 3-letter
piece of one under the search key, which the staff app holds (never the workers, the public
app or the database). A query is turned into tokens the same way; the database finds
the segments whose token set holds them all (`tokens @> ARRAY[...]`, answered from a GIN index
on PostgreSQL); the staff app then opens each candidate with the testimony's key and checks it
against the normalised query, which removes the false positives of truncated tokens.

Words are compared in `normalise`'s form, so ي/ی, ك/ک, diacritics, digits of either script and
upper/lower case fold together; a half-space both joins a word (سال‌ها = سالها) and separates
it (سال‌ها holds سال), as the glossary's `contains` does.

Token width: 32 bits (one PostgreSQL `integer`). A truncated HMAC lets two different words
share a token; with a few million distinct tokens in an archive, a query token collides with
another in about one case in a thousand, and such a candidate fails the check after
decryption, so a collision costs a decryption, never a wrong answer. Fewer bits also reveal
less: someone holding the database sees tokens whose collisions blur which word is which. The
width keeps the array small (4 bytes a token) and the GIN index compact. What the index still
reveals is written in docs/security.md.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    delete,
    exists,
    false,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.orm import Session

from intake import sealing
from intake.crypto import Keyring
from intake.models import (
    Consent,
    ReviewState,
    Role,
    SearchEntry,
    Segment,
    Testimony,
    Transcript,
    TranslationSegment,
)
from intake.records import record_access
from intake.review import normalise, transcripts

# The width of a stored token, in bits (see the module doc for why 32).
TOKEN_BITS = 32
# Pieces of this many letters let a part of a word be found.
PIECE = 3
# Results on one page.
PAGE_SIZE = 20
# Candidates read from the database at a time, and at most per page (each is decrypted).
BATCH = 100
MAX_CANDIDATES = 2000
# Entries tested in id order before the token index is asked (see `candidates`).
WINDOW = 5000
# Separates this use of the search key from any other; "w" and "p" keep a word and a piece
# of the same letters apart.
_PURPOSE = b"testimony-search-token:v1\x00"
_ZWNJ = "\u200c"
_WORD = re.compile(r"\w+")
# A transcript is in the index while the record is in one of these states.
INDEXED_STATES = record_access.WORK[Role.indexer].states
# Roles whose records' text search may show: those that open approved transcripts. The
# reviewer is not one: its records end at the approval, where the index begins, so it would
# be offered a box that can never find anything. The archivist's records are approved but it
# reads no transcript (record_access.WORK).
SEARCH_ROLES = (Role.indexer, Role.translator)


class SearchError(Exception):
    """A query that cannot be searched (a stable `reason` code names it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- tokens --------------------------------------------------------------------------------------


def words_of(text: str) -> set[str]:
    """The normalised words of `text`: with a half-space dropped (one word) and read as a
    space (two words), so both spellings of a joined word are found."""
    joined = _WORD.findall(normalise.normalise(text))
    apart = _WORD.findall(normalise.normalise(text.replace(_ZWNJ, " ")))
    return {*joined, *apart}


def pieces_of(word: str) -> set[str]:
    """The 3-letter pieces of a normalised word (none for a shorter word)."""
    return {word[i : i + PIECE] for i in range(len(word) - PIECE + 1)}


def plain_tokens(text: str) -> set[str]:
    """What is keyed for `text`: each word ("w" + word) and each piece of a word ("p" + piece).
    Never stored: only their keyed form leaves this function's caller."""
    words = words_of(text)
    return {"w" + w for w in words} | {"p" + p for w in words for p in pieces_of(w)}


def token(key: bytes, plain: str) -> int:
    """The keyed token of one plain token: HMAC-SHA256 truncated to TOKEN_BITS, as a signed
    integer (PostgreSQL's `integer`)."""
    digest = hmac.new(key, _PURPOSE + plain.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[: TOKEN_BITS // 8], "big", signed=True)


def tokens_of(key: bytes, text: str) -> list[int]:
    """The distinct keyed tokens of `text`, sorted (the stored form)."""
    return sorted({token(key, p) for p in plain_tokens(text)})


# --- indexing ------------------------------------------------------------------------------------


def _transcript_rows(
    session: Session, key: bytes, search_key: bytes, testimony: Testimony
) -> list[dict[str, object]]:
    found = session.execute(
        select(Segment, Transcript.language)
        .join(Transcript, Transcript.id == Segment.transcript_id)
        .where(
            Transcript.testimony_id == testimony.id,
            Segment.review_state == ReviewState.approved,
        )
        .order_by(Transcript.id, Segment.position)
    ).all()
    return [
        {
            "testimony_id": testimony.id,
            "segment_id": seg.id,
            "language": language,
            "tokens": tokens_of(search_key, transcripts.unseal_segment(key, seg).text),
        }
        for seg, language in found
    ]


def _translation_rows(
    session: Session, key: bytes, search_key: bytes, testimony: Testimony
) -> list[dict[str, object]]:
    if testimony.consent is None or not testimony.consent.translate:
        return []
    found = session.scalars(
        select(TranslationSegment)
        .where(
            TranslationSegment.testimony_id == testimony.id,
            TranslationSegment.state == ReviewState.approved,
        )
        .order_by(TranslationSegment.id)
    ).all()
    return [
        {
            "testimony_id": testimony.id,
            "translation_segment_id": row.id,
            "language": row.target_language,
            "tokens": tokens_of(
                search_key,
                sealing.open_translation(key, testimony.id, row.segment_id, row.sealed),
            ),
        }
        for row in found
    ]


def remove_testimony(session: Session, testimony_id: int) -> int:
    """Take a testimony out of the index (erasure does the same through the table's mark)."""
    result = session.execute(delete(SearchEntry).where(SearchEntry.testimony_id == testimony_id))
    return int(getattr(result, "rowcount", 0) or 0)


def index_testimony(session: Session, keyring: Keyring, testimony: Testimony) -> int:
    """Replace the testimony's entries with its approved segments and approved translations;
    return how many were written. A record not (or no longer) approved, or withdrawn, is
    only removed. Safe to run twice; runs in the caller's transaction."""
    remove_testimony(session, testimony.id)
    if testimony.wrapped_key is None or testimony.state not in INDEXED_STATES:
        return 0
    key = transcripts.testimony_key(keyring, testimony)
    search_key = keyring.search_key
    rows = _transcript_rows(session, key, search_key, testimony)
    rows += _translation_rows(session, key, search_key, testimony)
    if rows:
        session.execute(insert(SearchEntry), rows)
    return len(rows)


def reindex(session: Session, keyring: Keyring) -> tuple[int, int]:
    """Rebuild the whole index (after a new search key): every record is indexed again and
    each committed on its own; returns (records, entries)."""
    session.execute(
        delete(SearchEntry).where(
            ~exists().where(
                Testimony.id == SearchEntry.testimony_id, Testimony.state.in_(INDEXED_STATES)
            )
        )
    )
    session.commit()
    ids = session.scalars(
        select(Testimony.id)
        .where(Testimony.state.in_(INDEXED_STATES), Testimony.wrapped_key.is_not(None))
        .order_by(Testimony.id)
    ).all()
    entries = 0
    for testimony_id in ids:
        testimony = session.get(Testimony, testimony_id)
        if testimony is not None:
            entries += index_testimony(session, keyring, testimony)
        session.commit()
    return len(ids), entries


# --- queries -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """A parsed query: its normalised words, and whether they may be parts of words."""

    words: tuple[str, ...]
    partial: bool

    def plain_tokens(self) -> set[str]:
        """The plain tokens a matching segment must hold: words, or each word's pieces."""
        if self.partial:
            return {"p" + p for w in self.words for p in pieces_of(w)}
        return {"w" + w for w in self.words}


def parse(text: str, partial: bool = False) -> Query:
    """The query typed as `text`; SearchError "empty" when it has no word, "short" when a part
    of a word has fewer than 3 letters (it has no piece to look for)."""
    words = tuple(dict.fromkeys(_WORD.findall(normalise.normalise(text))))
    if not words:
        raise SearchError("empty")
    if partial and any(len(w) < PIECE for w in words):
        raise SearchError("short")
    return Query(words, partial)


def _holds_all(dialect: str, tokens: Sequence[int]) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return SearchEntry.tokens.contains(list(tokens))
    conditions = []
    for value in tokens:
        each = func.json_each(SearchEntry.tokens).table_valued("value").alias()
        conditions.append(exists(select(each.c.value).where(each.c.value == value)))
    return and_(*conditions)


def _readable(roles: Iterable[Role]) -> ColumnElement[bool]:
    """Records the roles open: the union of their queues' conditions; a translation's text
    only where its submitter still consents to translation."""
    allowed = [record_access.where(r) for r in SEARCH_ROLES if r in set(roles)]
    if not allowed:
        return false()
    translated = exists().where(
        Consent.testimony_id == SearchEntry.testimony_id, Consent.translate.is_(True)
    )
    return or_(*allowed) & or_(SearchEntry.translation_segment_id.is_(None), translated)


@dataclass(frozen=True)
class Candidate:
    """An entry whose tokens hold the query's: where its text is, not yet opened."""

    entry_id: int
    testimony_id: int
    segment_id: int | None
    translation_segment_id: int | None
    language: str


_CANDIDATE_COLUMNS = (
    SearchEntry.id,
    SearchEntry.testimony_id,
    SearchEntry.segment_id,
    SearchEntry.translation_segment_id,
    SearchEntry.language,
)


def _candidate_rows(
    matching: ColumnElement[bool], roles: Iterable[Role], limit: int
) -> Select[int, int, int | None, int | None, str]:
    return (
        select(*_CANDIDATE_COLUMNS)
        .join(Testimony, Testimony.id == SearchEntry.testimony_id)
        .where(matching, _readable(roles))
        .order_by(SearchEntry.id)
        .limit(limit)
    )


def _continued(found: list[Candidate], limit: int) -> tuple[list[Candidate], int | None]:
    # A full batch may be followed by more; a short one was all there was.
    return found, found[-1].entry_id if len(found) == limit else None


def _as_candidates(rows: Iterable[Any]) -> list[Candidate]:
    return [Candidate(row[0], row[1], row[2], row[3], row[4]) for row in rows]


def candidates(
    session: Session,
    keyring: Keyring,
    roles: Iterable[Role],
    query: Query,
    after: int,
    limit: int,
    window: int = WINDOW,
) -> tuple[list[Candidate], int | None]:
    """Up to `limit` entries past `after` whose tokens hold every token of `query`, in the
    records `roles` open, in id order (a stable order, so the next page starts after the last
    one read); and the entry to continue after, None when no entry is left to read.

    On PostgreSQL in two steps, since no one plan is fast for every word: the next `window`
    entries in id order are tested first, and where they hold a page's worth (a frequent word)
    they are the answer, in a few milliseconds; otherwise the GIN index is asked for every
    entry past them holding the tokens (a rare word, whose entries are few), its answer kept
    apart from the ordering so that the planner cannot trade it for a walk along the ids.
    """
    tokens = sorted({token(keyring.search_key, p) for p in query.plain_tokens()})
    dialect = session.get_bind().dialect.name
    holds = _holds_all(dialect, tokens)
    if dialect != "postgresql":
        rows = session.execute(_candidate_rows((SearchEntry.id > after) & holds, roles, limit))
        return _continued(_as_candidates(rows), limit)
    ahead = (
        select(SearchEntry.id).where(SearchEntry.id > after).order_by(SearchEntry.id).limit(window)
    ).subquery()
    end = session.scalar(select(func.max(ahead.c.id)))
    if end is None:
        return [], None
    near = (SearchEntry.id > after) & (SearchEntry.id <= end) & holds
    found = _as_candidates(session.execute(_candidate_rows(near, roles, limit)))
    if len(found) == limit:
        return found, found[-1].entry_id
    if len(found) >= PAGE_SIZE:
        return found, end
    # MATERIALIZED: the entries holding the tokens, found through the GIN index, first; then
    # joined in their id order.
    held = select(SearchEntry.id).where(SearchEntry.id > end, holds).cte("held")
    held = held.prefix_with("MATERIALIZED")
    rest = session.execute(
        select(*_CANDIDATE_COLUMNS)
        .select_from(held)
        .join(SearchEntry, SearchEntry.id == held.c.id)
        .join(Testimony, Testimony.id == SearchEntry.testimony_id)
        .where(_readable(roles))
        .order_by(held.c.id)
        .limit(limit - len(found))
    )
    return _continued(found + _as_candidates(rest), limit)


# --- checking and showing ------------------------------------------------------------------------


def _part_spans(text: str, part: str) -> list[tuple[int, int]]:
    """Every occurrence of the normalised `part` inside the words of `text`, as offsets."""
    hay = normalise.normalise_with_origin(text)
    spans = []
    at = hay.text.find(part)
    while at >= 0:
        spans.append((hay.origin[at], hay.origin[at + len(part) - 1] + 1))
        at = hay.text.find(part, at + 1)
    return spans


def _word_spans(text: str, word: str) -> list[tuple[int, int]]:
    # A half-space read as a space keeps every offset (one character for one).
    return normalise.find(text, word) + normalise.find(text.replace(_ZWNJ, " "), word)


def match_spans(text: str, query: Query) -> list[tuple[int, int]] | None:
    """Where each word of `query` occurs in `text` (offsets, sorted, merged), or None when one
    of them does not: the check that removes the index's false positives."""
    found: list[tuple[int, int]] = []
    for word in query.words:
        spans = _part_spans(text, word) if query.partial else _word_spans(text, word)
        if not spans:
            return None
        found += spans
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def highlighted(text: str, spans: Sequence[tuple[int, int]]) -> Markup:
    """`text` escaped, each span in a <mark>."""
    out, at = Markup(), 0
    for start, end in spans:
        out += escape(text[at:start]) + Markup("<mark>") + escape(text[start:end])
        out += Markup("</mark>")
        at = end
    return out + escape(text[at:])


@dataclass(frozen=True)
class Hit:
    """One segment that matches: where it is and its text with the match marked."""

    entry_id: int
    testimony_id: int
    pseudonym: str
    language: str
    start_s: float
    translated: bool
    text: Markup


@dataclass(frozen=True)
class Page:
    """A page of hits, and the entry to continue after (None: nothing more to read)."""

    hits: list[Hit]
    next_after: int | None


class _Opener:
    """Opens a batch of candidates: their rows read in three queries, each testimony's key
    unsealed once per page."""

    def __init__(self, session: Session, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring
        self.keys: dict[int, bytes] = {}
        self.testimonies: dict[int, Testimony] = {}
        self.segments: dict[int, Segment] = {}
        self.translations: dict[int, TranslationSegment] = {}

    def load(self, batch: Sequence[Candidate]) -> None:
        """Read the rows of `batch` that are not read yet."""
        wanted = {c.testimony_id for c in batch} - set(self.testimonies)
        if wanted:
            found = self.session.scalars(select(Testimony).where(Testimony.id.in_(wanted)))
            self.testimonies.update((t.id, t) for t in found)
        rows = {c.translation_segment_id for c in batch if c.translation_segment_id is not None}
        if rows:
            found_rows = self.session.scalars(
                select(TranslationSegment).where(TranslationSegment.id.in_(rows))
            )
            self.translations.update((r.id, r) for r in found_rows)
        segments = {c.segment_id for c in batch if c.segment_id is not None}
        segments |= {r.segment_id for r in self.translations.values()}
        segments -= set(self.segments)
        if segments:
            found_segs = self.session.scalars(select(Segment).where(Segment.id.in_(segments)))
            self.segments.update((seg.id, seg) for seg in found_segs)

    def key(self, testimony: Testimony) -> bytes:
        if testimony.id not in self.keys:
            self.keys[testimony.id] = transcripts.testimony_key(self.keyring, testimony)
        return self.keys[testimony.id]

    def text_and_time(self, found: Candidate, testimony: Testimony) -> tuple[str, float] | None:
        key = self.key(testimony)
        if found.segment_id is not None:
            seg = self.segments.get(found.segment_id)
            if seg is None:
                return None
            return transcripts.unseal_segment(key, seg).text, seg.start_s
        row = self.translations.get(found.translation_segment_id or 0)
        source = self.segments.get(row.segment_id) if row is not None else None
        if row is None or source is None or row.state != ReviewState.approved:
            return None  # a translation being corrected again shows once it is approved
        text = sealing.open_translation(key, testimony.id, row.segment_id, row.sealed)
        return text, source.start_s


def _hit(opener: _Opener, found: Candidate, query: Query) -> Hit | None:
    testimony = opener.testimonies.get(found.testimony_id)
    if testimony is None or testimony.wrapped_key is None:
        return None
    opened = opener.text_and_time(found, testimony)
    spans = match_spans(opened[0], query) if opened is not None else None
    if opened is None or spans is None:
        return None
    return Hit(
        entry_id=found.entry_id,
        testimony_id=testimony.id,
        pseudonym=testimony.pseudonym,
        language=found.language,
        start_s=opened[1],
        translated=found.translation_segment_id is not None,
        text=highlighted(opened[0], spans),
    )


def search(
    session: Session,
    keyring: Keyring,
    roles: Iterable[Role],
    query: Query,
    after: int = 0,
    page_size: int = PAGE_SIZE,
    window: int = WINDOW,
) -> Page:
    """The first `page_size` segments after entry `after` that match `query`, in the records
    `roles` may open: candidates from the index, each opened and checked, until the page is
    full. At most MAX_CANDIDATES are opened for one page; the page then ends early and
    `next_after` continues from there."""
    roles = frozenset(roles)
    opener = _Opener(session, keyring)
    hits: list[Hit] = []
    read = 0
    while read < MAX_CANDIDATES:
        batch, resume = candidates(session, keyring, roles, query, after, BATCH, window)
        opener.load(batch)
        for found in batch:
            after = found.entry_id
            read += 1
            hit = _hit(opener, found, query)
            if hit is not None:
                hits.append(hit)
                if len(hits) == page_size:
                    return Page(hits, after)
        if resume is None:
            return Page(hits, None)
        after = resume
    return Page(hits, after)
