"""Canaries for the search index: after indexing, no word of a transcript or translation, nor
any 3-letter piece of one, is anywhere in plaintext (as tests/workers/test_canaries.py does for
the whole intake, here without the worker: the index is made by the staff app).

A Persian canary and each of its pieces is looked for in every value of every table (reflected
from the database itself) and in every file under the instance folder (the SQLite database
among them): a Persian piece is six UTF-8 bytes, which neither sealed bytes nor the schema's
own text hold by chance. The English canary of the translation is looked for whole everywhere,
and its pieces in every text value of the database (a JSON list of tokens among them): three
ASCII letters turn up by chance in a few megabytes of ciphertext and in the schema's words.

A search that finds nothing proves nothing unless it could have found something: the test first
finds each canary through the index, so the entries do hold them (keyed).
"""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask
from sqlalchemy import Engine, MetaData, select

from intake.config import Config
from intake.db import make_engine
from intake.models import Base, Testimony
from intake.review import search_index, translation
from tests.test_search import find, keys_of, reviewed
from tests.translation_support import source_segments

PERSIAN = ("زمهریرستان", "قلندرآباد", "سنگلجیان")
ENGLISH = "Quorzelwick"
TEXTS = (
    f"او را به {PERSIAN[0]} بردند",
    f"از {PERSIAN[1]} نامه‌ای آمد",
    f"در {PERSIAN[2]} ماندیم",
)


def _needles() -> dict[bytes, str]:
    """Each Persian canary, its normalised form and each of its pieces; the English canary."""
    found: dict[bytes, str] = {}
    for word in PERSIAN:
        for form in {word, *search_index.words_of(word)}:
            found[form.encode()] = word
            found[form.encode("utf-16-le")] = word
            for piece in search_index.pieces_of(form):
                found[piece.encode()] = f"{word} (piece {piece})"
    found[ENGLISH.lower().encode()] = ENGLISH
    return found


def _text_needles() -> dict[bytes, str]:
    """The English canary's pieces, looked for in text values only."""
    low = ENGLISH.lower()
    return {p.encode(): f"{ENGLISH} (piece {p})" for p in search_index.pieces_of(low)}


def _hits(where: str, data: bytes, needles: dict[bytes, str]) -> list[str]:
    low = data.lower()
    return [f"{name!r} in {where}" for needle, name in needles.items() if needle in low]


def _scan_database(engine: Engine) -> list[str]:
    meta = MetaData()
    meta.reflect(bind=engine)
    assert "search_entry" in meta.tables and not set(Base.metadata.tables) - set(meta.tables)
    needles, text_needles = _needles(), _text_needles()
    hits: list[str] = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                for column, value in row._mapping.items():
                    where = f"database {table.name}.{column}"
                    if isinstance(value, bytes | memoryview):
                        hits += _hits(where, bytes(value), needles)
                    elif value is not None:
                        text = json.dumps(value, ensure_ascii=False, default=str).encode()
                        hits += _hits(where, text, {**needles, **text_needles})
    return hits


def _scan_folder(folder: Path) -> list[str]:
    hits: list[str] = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            hits += _hits(f"file {path}", path.read_bytes(), _needles())
    return hits


def test_no_canary_word_or_piece_in_plaintext_after_indexing(
    app: Flask, staff_app: Flask, migrated: Config
) -> None:
    keys = keys_of(staff_app)
    reviewed(app, keys, TEXTS)
    translated = reviewed(app, keys, [f"پدرم در {PERSIAN[0]} بود"])
    # The second record's translation, approved: its English canary is indexed too.
    (seg,) = source_segments(app, translated)
    with app.extensions["testimony"].db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == translated)).one()
        text = f"My father was in {ENGLISH}"
        translation.save(s, keys, t, seg.id, text, seg.version, 0, "account:1", 4000)
        translation.approve(s, t, seg.id, 1, "account:2", keys)

    # The control: the index holds every canary and every piece, keyed.
    for word in PERSIAN:
        assert find(app, keys, word).hits, word
        for piece in search_index.pieces_of(word):
            assert find(app, keys, piece, partial=True).hits, piece
    assert find(app, keys, ENGLISH.upper()).hits
    assert find(app, keys, ENGLISH[2:7], partial=True).hits

    app.extensions["testimony"].db.dispose()
    staff_app.extensions["testimony"].db.dispose()
    engine = make_engine(migrated.database_url)
    try:
        hits = _scan_database(engine)
    finally:
        engine.dispose()
    hits += _scan_folder(migrated.instance_path)
    assert hits == []
