"""The entities a record cites leave in its bag (`metadata/PSEUDONYM.entities.json`) and in the
run's `entities.csv`, as the publication policy lets them: none through a redaction mark or
where a mark of their kind hides words, no person's name from a record whose name may not
leave, and a withheld citation without even its entity's id."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from intake.export import policy
from intake.export.record import ConsentTerms
from intake.models import (
    EntityKind,
    RedactionCategory,
    RedactionMark,
    Segment,
    Testimony,
    Transcript,
)
from intake.review import entities, index_points
from tests.export.approved import APPROVER, approved_record
from tests.export.test_export_runs import _export
from tests.support import worker_keyring

ANONYMISED = ConsentTerms(True, True, True, True, False, wording_version="2026-11-26")
NAMED = ConsentTerms(True, True, True, True, True, wording_version="2026-11-26")


def _verdict(consent: ConsentTerms, released: bool = False) -> policy.Verdict:
    facts = policy.Facts(
        "T-AAAA-BBBB",
        "approved",
        consent,
        copy_current=True,
        proof_passed=True,
        name_released=released,
    )
    return policy.decide(facts, date(2030, 1, 1))


def test_the_policy_withholds_marked_citations_and_unnamed_persons() -> None:
    anonymised, named = _verdict(ANONYMISED), _verdict(NAMED, released=True)
    none: frozenset[str] = frozenset()
    assert (
        policy.entity_withheld(anonymised, "prison", through_mark=False, marks_where_cited=none)
        is None
    )
    assert (
        policy.entity_withheld(anonymised, "prison", through_mark=True, marks_where_cited=none)
        == "marked"
    )
    assert (
        policy.entity_withheld(
            anonymised, "prison", through_mark=False, marks_where_cited=frozenset({"place"})
        )
        == "marked"
    )
    assert (
        policy.entity_withheld(
            anonymised, "date", through_mark=False, marks_where_cited=frozenset({"place"})
        )
        is None
    )
    assert (
        policy.entity_withheld(anonymised, "person", through_mark=False, marks_where_cited=none)
        == "person_unnamed"
    )
    # Named publication with a released name: a person cited openly may be named.
    assert (
        policy.entity_withheld(named, "person", through_mark=False, marks_where_cited=none) is None
    )
    assert (
        policy.entity_withheld(named, "person", through_mark=True, marks_where_cited=none)
        == "marked"
    )
    # No text consent: no entity leaves at all.
    silent = _verdict(ConsentTerms(True, False, False, True, False, wording_version="2026-11-26"))
    assert not policy.entities_leave(silent)


# Which mark categories may hide the words naming each kind of entity, written out here.
HIDDEN_BY = {
    EntityKind.person: {"person", "other"},
    EntityKind.prison: {"place", "other"},
    EntityKind.place: {"place", "other"},
    EntityKind.organisation: {"other"},
    EntityKind.date: {"date", "other"},
}


def test_a_mark_withholds_exactly_the_kinds_of_name_it_may_hide() -> None:
    # Named publication with a released name, so that only the marks decide.
    named = _verdict(NAMED, released=True)
    assert set(HIDDEN_BY) == set(EntityKind)
    for kind, hiding in HIDDEN_BY.items():
        for category in RedactionCategory:
            found = policy.entity_withheld(
                named, kind.value, through_mark=False, marks_where_cited=frozenset({category})
            )
            assert found == ("marked" if category.value in hiding else None), (kind, category)
    # A person is named only where the record's own name is released for publication.
    unreleased = _verdict(NAMED, released=False)
    none: frozenset[str] = frozenset()
    assert (
        policy.entity_withheld(unreleased, "person", through_mark=False, marks_where_cited=none)
        == "person_unnamed"
    )
    assert (
        policy.entity_withheld(unreleased, "place", through_mark=False, marks_where_cited=none)
        is None
    )


def _segments(app: Flask, pseudonym: str) -> list[Segment]:
    with app.extensions["testimony"].db.session() as s:
        return list(
            s.scalars(
                select(Segment)
                .join(Transcript)
                .join(Testimony, Testimony.id == Transcript.testimony_id)
                .where(Testimony.pseudonym == pseudonym)
                .order_by(Segment.position)
            )
        )


def test_the_bag_and_the_entity_catalogue_carry_what_may_leave(app: Flask, tmp_path: Path) -> None:
    marked = approved_record(app, marked=["Evin"])  # a place mark on its first segment
    plain = approved_record(app)
    keys = worker_keyring(app)
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        one = s.scalars(select(Testimony).where(Testimony.pseudonym == marked)).one()
        two = s.scalars(select(Testimony).where(Testimony.pseudonym == plain)).one()
        first, second = _segments(app, marked)
        other_first, other_second = _segments(app, plain)
        evin = entities.create(
            s,
            keys,
            EntityKind.prison,
            entities.facts_from_form(EntityKind.prison, name_fa="اوین", name_en="Evin Prison"),
            APPROVER,
        ).id
        summer = entities.create(
            s,
            keys,
            EntityKind.date,
            entities.facts_from_form(EntityKind.date, name_en="Mordad 1367"),
            APPROVER,
        ).id
        canary = entities.create(
            s,
            keys,
            EntityKind.person,
            entities.facts_from_form(
                EntityKind.person, name_en="Canary Person", roles=["official"]
            ),
            APPROVER,
        ).id
        mark = s.scalars(select(RedactionMark).where(RedactionMark.testimony_id == one.id)).one()
        entities.cite(s, one, evin, APPROVER, segment_id=first.id)  # where "Evin" is marked
        entities.cite(s, one, summer, APPROVER, segment_id=second.id)
        entities.cite(s, one, canary, APPROVER, redaction_mark_id=mark.id)
        entities.cite(s, two, evin, APPROVER, segment_id=other_first.id)
        entities.cite(s, two, summer, APPROVER, segment_id=other_second.id)
        entities.cite(s, two, canary, APPROVER, segment_id=other_second.id)
    out = tmp_path / "out"
    outcome = _export(app, out)
    assert sorted(outcome["exported"]) == sorted([marked, plain])  # type: ignore[arg-type]
    first_json = json.loads(
        (out / marked / "data" / "metadata" / f"{marked}.entities.json").read_text()
    )
    second_json = json.loads(
        (out / plain / "data" / "metadata" / f"{plain}.entities.json").read_text()
    )
    assert first_json["entities"] == [
        {"kind": "prison", "start": 0.0, "withheld": "marked"},
        {"kind": "person", "start": 0.0, "withheld": "marked"},
        {
            "kind": "date",
            "start": 0.5,
            "entity": summer,
            "names": ["Mordad 1367"],
            "roles": [],
            "date": {"solar_hijri": "Mordad 1367", "start": "1988-07-23", "end": "1988-08-22"},
        },
    ]
    named = {e.get("entity"): e for e in second_json["entities"]}
    assert named[evin]["names"] == ["اوین", "Evin Prison"]
    assert {"kind": "person", "start": 0.5, "withheld": "person_unnamed"} in second_json["entities"]
    rows = list(csv.DictReader(io.StringIO((out / "entities.csv").read_text(encoding="utf-8"))))
    by_id = {int(r["entity"]): r for r in rows}
    assert set(by_id) == {evin, summer}  # the person is named by no record
    assert (by_id[evin]["citations"], by_id[evin]["records"]) == ("1", "1")
    assert (by_id[summer]["citations"], by_id[summer]["records"]) == ("2", "2")
    assert (by_id[summer]["date_start"], by_id[summer]["date_end"]) == ("1988-07-23", "1988-08-22")
    # The person's name leaves in no file of the export.
    for path in out.rglob("*"):
        if path.is_file():
            assert b"Canary" not in path.read_bytes(), path


def test_an_entity_withheld_once_is_withheld_throughout_and_a_points_citations_wait_for_it(
    app: Flask, tmp_path: Path
) -> None:
    pseudonym = approved_record(app, marked=["Evin"])  # a place mark on its first segment
    first, second = _segments(app, pseudonym)
    keys = worker_keyring(app)
    with app.extensions["testimony"].db.session() as s:
        record = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        evin = entities.create(
            s, keys, EntityKind.prison, entities.Facts(name_en="Evin Prison"), APPROVER
        ).id
        summer = entities.create(
            s, keys, EntityKind.date, entities.Facts(name_en="Summer 1988"), APPROVER
        ).id
        entities.cite(s, record, evin, APPROVER, segment_id=first.id)  # where it is marked
        entities.cite(s, record, evin, APPROVER, segment_id=second.id)  # and where it is not
        waiting = index_points.add(
            s,
            keys,
            record,
            record.audio_files[0].id,
            0.5,
            index_points.PointText(index_points.Words(title="That summer")),
            "account:31",
        )
        entities.cite(s, record, summer, APPROVER, index_point_id=waiting.id)
    out = tmp_path / "out"
    _export(app, out)
    written = (out / pseudonym / "data" / "metadata" / f"{pseudonym}.entities.json").read_text()
    cited = json.loads(written)["entities"]
    # Named at the unmarked segment, the prison would give back what the mark hid.
    assert cited == [
        {"kind": "prison", "start": 0.0, "withheld": "marked"},
        {"kind": "prison", "start": second.start_s, "withheld": "marked"},
    ]
    assert "Evin" not in written and "Summer" not in written  # the point is not approved
    # Nor does the record's history name the entity: its events carry the citation only.
    events = json.loads(
        (out / pseudonym / "data" / "history" / f"{pseudonym}.events.json").read_text()
    )["events"]
    cites = [e for e in events if e["action"] == "entity_cited"]
    assert len(cites) == 3 and all(set(e["detail"]) == {"citation"} for e in cites), cites
