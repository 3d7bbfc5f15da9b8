"""The OHMS `<index>` is written from the indexers' approved points of each recording, with
their words in both languages and their times from that recording's start; points not approved
stay home, and a record without approved points keeps the index made from its segments."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - parses what the export wrote
from pathlib import Path

import xmlschema
from flask import Flask
from sqlalchemy import select

from intake.config import Config
from intake.export.ohms import NAMESPACE
from intake.models import Testimony
from intake.review import index_points
from intake.review.index_points import PointText, Words
from tests.export.approved import approved_record
from tests.export.test_export_runs import NAMED, _export
from tests.support import worker_keyring

NS = {"o": NAMESPACE}
SCHEMA = Path(__file__).parents[2] / "intake" / "export" / "schemas" / "ohms.xsd"
A, B = "account:21", "account:22"


def _index_record(app: Flask, pseudonym: str) -> None:
    """Recording 1: an approved point at 1 s with both languages, one left unapproved;
    recording 2: an approved point at 0.5 s."""
    keys = worker_keyring(app)
    with app.extensions["testimony"].db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        first, second = sorted(testimony.audio_files, key=lambda f: f.position)
        both = PointText(
            Words("Arrest in 1988", "Taken at night.", "In 1988 I was", ("Evin",), ("prisons",)),
            Words("بازداشت ۱۳۶۷", "شبانه بردند.", "", ("اوین",), ()),
            "fa",
        )
        approved = index_points.add(s, keys, testimony, first.id, 1.0, both, A)
        index_points.approve(s, testimony, approved.id, approved.version, B)
        index_points.add(s, keys, testimony, first.id, 1.5, PointText(Words("Unapproved")), A)
        later = index_points.add(
            s, keys, testimony, second.id, 0.5, PointText(Words("Second recording")), B
        )
        index_points.approve(s, testimony, later.id, later.version, A)


def _index_of(document: bytes) -> list[dict[str, str]]:
    rec = ET.fromstring(document).find("o:record", NS)  # noqa: S314
    assert rec is not None
    return [
        {child.tag.split("}")[1]: child.text or "" for child in point}
        for point in rec.findall("o:index/o:point", NS)
    ]


def test_the_ohms_index_holds_the_approved_points_of_each_recording(
    app: Flask, migrated: Config, tmp_path: Path
) -> None:
    pseudonym = approved_record(app, recordings=2, consent=NAMED)
    _index_record(app, pseudonym)
    out = tmp_path / "out"
    assert _export(app, out)["exported"] == [pseudonym]
    schema = xmlschema.XMLSchema(str(SCHEMA))
    metadata = out / pseudonym / "data" / "metadata"
    first = (metadata / f"{pseudonym}-01.ohms.xml").read_bytes()
    second = (metadata / f"{pseudonym}-02.ohms.xml").read_bytes()
    schema.validate(first.decode())
    schema.validate(second.decode())
    assert _index_of(first) == [
        {
            "time": "1",
            "title": "Arrest in 1988",
            "title_alt": "بازداشت ۱۳۶۷",
            "partial_transcript": "In 1988 I was",
            "synopsis": "Taken at night.",
            "synopsis_alt": "شبانه بردند.",
            "keywords": "Evin",
            "keywords_alt": "اوین",
            "subjects": "prisons",
        }
    ]
    assert _index_of(second) == [{"time": "0", "title": "Second recording"}]
    assert b"Unapproved" not in first + second


def test_without_approved_points_the_index_is_made_from_the_segments(
    app: Flask, migrated: Config, tmp_path: Path
) -> None:
    pseudonym = approved_record(app, consent=NAMED)
    keys = worker_keyring(app)
    with app.extensions["testimony"].db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        audio = testimony.audio_files[0]
        index_points.add(s, keys, testimony, audio.id, 1.0, PointText(Words("Waiting")), A)
    out = tmp_path / "out"
    assert _export(app, out)["exported"] == [pseudonym]
    document = (out / pseudonym / "data" / "metadata" / f"{pseudonym}.ohms.xml").read_bytes()
    xmlschema.XMLSchema(str(SCHEMA)).validate(document.decode())
    points = _index_of(document)
    assert points and points[0]["time"] == "0" and b"Waiting" not in document


def test_the_points_stay_home_when_the_transcript_text_may_not_leave(
    app: Flask, migrated: Config, tmp_path: Path
) -> None:
    pseudonym = approved_record(app, recordings=2, consent=NAMED)
    _index_record(app, pseudonym)
    with app.extensions["testimony"].db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        assert testimony.consent is not None
        testimony.consent.transcribe = False  # as a narrowed consent leaves it
    out = tmp_path / "out"
    assert _export(app, out)["exported"] == [pseudonym]
    for number in ("01", "02"):
        document = out / pseudonym / "data" / "metadata" / f"{pseudonym}-{number}.ohms.xml"
        written = document.read_bytes()
        assert b"Arrest" not in written and b"Second recording" not in written
        assert _index_of(written) == []


def test_a_marked_word_is_replaced_in_the_points_and_their_other_language_needs_consent(
    app: Flask, migrated: Config, tmp_path: Path
) -> None:
    no_translation = {**NAMED, "translate": ""}
    pseudonym = approved_record(
        app, consent=no_translation, texts=["They held him in Qezel Hesar"], marked=["Hesar"]
    )
    keys = worker_keyring(app)
    with app.extensions["testimony"].db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        # The indexer copied the marked word from the unredacted transcript (in another case).
        text = PointText(
            Words("Held at hesar", "He was in HESAR.", "They held him", ("Hesar",), ()),
            Words("Otherwise said", "", "", (), ()),
            "fa",
        )
        point = index_points.add(s, keys, testimony, testimony.audio_files[0].id, 0.0, text, A)
        index_points.approve(s, testimony, point.id, point.version, B)
    out = tmp_path / "out"
    assert _export(app, out)["exported"] == [pseudonym]
    document = (out / pseudonym / "data" / "metadata" / f"{pseudonym}.ohms.xml").read_bytes()
    xmlschema.XMLSchema(str(SCHEMA)).validate(document.decode())
    (written,) = _index_of(document)
    assert b"esar" not in document.lower().replace(b"qezel", b"")  # in no field, any case
    assert written["title"] == "Held at [place]" and written["keywords"] == "[place]"
    assert written["synopsis"] == "He was in [place]."
    # No consent to translate: the indexer's other language stays home.
    assert not written.get("title_alt") and b"Otherwise" not in document
