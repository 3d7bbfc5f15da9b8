"""The entity register: sealed names, Solar Hijri ranges, merges, entities from the glossary,
citations across testimonies with and without the right to read them, the indexer's guard, and
erasure on withdrawal. Real database and staff app, real forms with their CSRF tokens."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

import pytest
from flask import Flask
from sqlalchemy import select, text

from intake.events import Action
from intake.models import (
    Entity,
    EntityCitation,
    EntityKind,
    Event,
    GlossaryTerm,
    RedactionCategory,
    RedactionMark,
    Role,
    Testimony,
    TestimonyState,
)
from intake.public import submissions
from intake.review import entities, glossary, index_points, solar_hijri
from tests.staff_support import ready_account, sign_in, staff_client, transcribed_testimony
from tests.support import csrf_token, worker_keyring
from tests.translation_support import add_terms, approved_testimony, source_segments

INDEXER = "account:1"


@pytest.mark.parametrize(
    ("spoken", "start", "end"),
    [
        ("Mordad 1367", date(1988, 7, 23), date(1988, 8, 22)),
        ("مرداد ۱۳۶۷", date(1988, 7, 23), date(1988, 8, 22)),
        ("1367", date(1988, 3, 21), date(1989, 3, 20)),
        ("۱۳۶۷", date(1988, 3, 21), date(1989, 3, 20)),
        ("۵ مرداد ۱۳۶۷", date(1988, 7, 27), date(1988, 7, 27)),
        ("6 Shahrivar 1367", date(1988, 8, 28), date(1988, 8, 28)),
        ("1367/05", date(1988, 7, 23), date(1988, 8, 22)),
        ("اسفند ۱۳۹۹", date(2021, 2, 19), date(2021, 3, 20)),  # a leap year's 30 days
    ],
)
def test_solar_hijri_dates_read_as_gregorian_ranges(spoken: str, start: date, end: date) -> None:
    found = solar_hijri.parse(spoken)
    assert (found.start, found.end) == (start, end)


@pytest.mark.parametrize("bad", ["", "Mordad", "summer 1367", "32 Mordad 1367", "1367/13"])
def test_words_that_are_no_solar_hijri_date_are_refused(bad: str) -> None:
    with pytest.raises(solar_hijri.DateUnreadable):
        solar_hijri.parse(bad)


def _keys(app: Flask):  # type: ignore[no-untyped-def]
    return worker_keyring(app)


def _make(app: Flask, kind: EntityKind, **fields: str) -> int:
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        facts = entities.facts_from_form(kind, **fields)  # type: ignore[arg-type]
        return entities.create(s, _keys(app), kind, facts, INDEXER).id


def test_a_date_entity_carries_its_range_and_nothing_is_stored_in_clear(app: Flask) -> None:
    entity_id = _make(app, EntityKind.person, name_fa="کاناری زندانی", name_en="Canary Prisoner")
    date_id = _make(app, EntityKind.date, name_fa="مرداد ۱۳۶۷", name_en="Mordad 1367")
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        opened = entities.read(_keys(app), s.get(Entity, date_id))  # type: ignore[arg-type]
        assert (opened.facts.date_start, opened.facts.date_end) == (
            date(1988, 7, 23),
            date(1988, 8, 22),
        )
        raw = b"".join(
            bytes(cell) if isinstance(cell, bytes | memoryview) else str(cell).encode()
            for row in s.execute(text("SELECT * FROM entity")).all()
            for cell in row
            if cell is not None
        )
        assert entity_id and raw
        for word in ("Canary", "کاناری", "Mordad", "مرداد", "1988"):
            assert word.encode() not in raw, word


def test_merge_keeps_both_spellings_and_moves_the_citations(app: Flask) -> None:
    first = approved_testimony(app, ["Evin", "later"], language="en")
    svc = app.extensions["testimony"]
    keep = _make(app, EntityKind.prison, name_fa="اوین", name_en="Evin Prison")
    other = _make(app, EntityKind.prison, name_en="Evin jail", spellings="Evin House")
    segment = source_segments(app, first)[0]
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == first)).one()
        entities.cite(s, testimony, other, INDEXER, segment_id=segment.id)
    with svc.db.session() as s:
        entities.merge(s, _keys(app), keep, other, INDEXER)
    with svc.db.session() as s:
        kept = entities.read(_keys(app), s.get(Entity, keep))  # type: ignore[arg-type]
        assert kept.facts.name_en == "Evin Prison"
        assert {"Evin jail", "Evin House"} <= set(kept.facts.spellings)
        cited = s.scalars(select(EntityCitation.entity_id)).all()
        assert cited == [keep]
        assert s.get(Entity, other).merged_into_id == keep  # type: ignore[union-attr]
        assert entities.resolve(s, other).id == keep
        # The register lists the survivor alone, found by any of its spellings, typed with
        # Arabic letters too (ي for ی).
        found = entities.register(s, _keys(app), query="evin house")
        assert [v.id for v in found] == [keep]
        assert [v.id for v in entities.register(s, _keys(app), query="اوين")] == [keep]
        with pytest.raises(entities.EntityError):
            entities.merge(s, _keys(app), keep, keep, INDEXER)


def test_glossary_terms_become_entities_of_their_kind(app: Flask) -> None:
    add_terms(
        app,
        [
            ("زندان اوین", "Evin Prison", "prison"),
            ("مرداد ۱۳۶۷", "Mordad 1367", "date"),
            ("سازمان مجاهدین", "People's Mojahedin", "organisation"),
        ],
    )
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        assert entities.from_glossary_all(s, _keys(app), INDEXER) == 3
        assert entities.from_glossary_all(s, _keys(app), INDEXER) == 0  # once per term
    with svc.db.session() as s:
        kinds = {}
        for entity in s.scalars(select(Entity)):
            view = entities.read(_keys(app), entity)
            kinds[view.facts.name_en] = (view.kind, view.facts.date_start)
        assert kinds == {
            "Evin Prison": (EntityKind.prison, None),
            "Mordad 1367": (EntityKind.date, date(1988, 7, 23)),
            "People's Mojahedin": (EntityKind.organisation, None),
        }
        term = s.scalars(select(GlossaryTerm).where(GlossaryTerm.term_en == "Evin Prison")).one()
        made = entities.from_glossary(s, _keys(app), term, INDEXER)
        assert made.glossary_term_id == term.id
        # An admin removing the term leaves the entity in the register, untied.
        glossary.remove(s, term.id, "account:2")
        s.flush()
    with svc.db.session() as s:
        untied = s.scalars(select(Entity).where(Entity.kind == EntityKind.prison)).one()
        assert untied.glossary_term_id is None


def _sign_in(staff_app: Flask, email: str, roles: list[Role]):  # type: ignore[no-untyped-def]
    client = staff_client(staff_app)
    sign_in(client, ready_account(staff_app, email, roles))
    return client


def test_citations_across_testimonies_show_text_only_to_readers(
    app: Flask, staff_app: Flask
) -> None:
    one = approved_testimony(app, ["they took us to Evin", "in summer"], language="en")
    two = approved_testimony(app, ["my brother was in Evin"], language="en")
    evin = _make(app, EntityKind.prison, name_fa="اوین", name_en="Evin")
    indexer = _sign_in(staff_app, "indexer@example.org", [Role.indexer])
    token = csrf_token(indexer, "/staff/entities/")
    for pseudonym in (one, two):
        segment = source_segments(app, pseudonym)[0]
        r = indexer.post(
            "/staff/entities/cite",
            data={
                "csrf_token": token,
                "pseudonym": pseudonym,
                "entity_id": evin,
                "segment_id": segment.id,
                "next": "/staff/entities/",
            },
        )
        assert r.status_code == 303 and r.location.endswith("/staff/entities/"), r.status_code
    page = indexer.get(f"/staff/entities/{evin}").get_data(as_text=True)
    assert one in page and two in page
    assert "they took us to Evin" in page and "my brother was in Evin" in page
    assert 'preload="none"' in page
    assert f"/staff/index/{one}/audio/1#t=0.00,0.50" in page
    # The second record leaves the indexer's work (withdrawn): still listed, its text not shown.
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == two)).one()
        testimony.consent.transcribe = False
    page = indexer.get(f"/staff/entities/{evin}").get_data(as_text=True)
    assert "they took us to Evin" in page
    assert "my brother was in Evin" not in page and two in page
    assert "You may not read this record" in page
    # A cited record opened for its text wrote the reader's first-open event.
    with svc.db.session() as s:
        opened = s.scalars(select(Event).where(Event.action == Action.content_opened)).all()
        assert opened
        cited = s.scalars(select(Event).where(Event.action == Action.entity_cited)).all()
        # A record's events name the citation, never the entity (the history leaves in bags).
        assert len(cited) == 2 and all(set(e.detail or {}) == {"citation"} for e in cited)


def test_citing_outside_the_indexers_work_is_404_and_next_stays_in_the_staff_app(
    app: Flask, staff_app: Flask
) -> None:
    under_review = transcribed_testimony(app, ["one two"])
    approved = approved_testimony(app, ["Evin"], language="en")
    evin = _make(app, EntityKind.prison, name_en="Evin")
    indexer = _sign_in(staff_app, "indexer@example.org", [Role.indexer])
    token = csrf_token(indexer, "/staff/entities/")
    segment = source_segments(app, under_review)[0]
    base = {"csrf_token": token, "entity_id": evin}
    r = indexer.post(
        "/staff/entities/cite", data={**base, "pseudonym": under_review, "segment_id": segment.id}
    )
    assert r.status_code == 404
    r = indexer.post(
        "/staff/entities/cite", data={**base, "pseudonym": "T-NONE-NONE", "segment_id": 1}
    )
    assert r.status_code == 404
    # A segment of another record is refused in the approved one.
    r = indexer.post(
        "/staff/entities/cite", data={**base, "pseudonym": approved, "segment_id": segment.id}
    )
    assert r.status_code == 400
    own = source_segments(app, approved)[0]
    r = indexer.post(
        "/staff/entities/cite",
        data={**base, "pseudonym": approved, "segment_id": own.id, "next": "//evil.example/"},
    )
    assert r.status_code == 303 and r.location.endswith("/staff/entities/")
    # A reviewer cannot reach the register at all.
    reviewer = _sign_in(staff_app, "reviewer@example.org", [Role.reviewer])
    assert reviewer.get("/staff/entities/").status_code == 403
    # Removing a citation of a record out of the indexer's work is 404 too.
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        citation_id = s.scalars(select(EntityCitation.id)).one()
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == approved)).one()
        testimony.state = TestimonyState.in_review
    r = indexer.post(f"/staff/entities/citations/{citation_id}/remove", data={"csrf_token": token})
    assert r.status_code == 404
    with svc.db.session() as s:
        s.scalars(
            select(Testimony).where(Testimony.pseudonym == approved)
        ).one().state = TestimonyState.transcript_approved
    r = indexer.post(f"/staff/entities/citations/{citation_id}/remove", data={"csrf_token": token})
    assert r.status_code == 303
    with svc.db.session() as s:
        assert s.scalars(select(EntityCitation)).all() == []


def test_the_register_pages_create_edit_and_filter(app: Flask, staff_app: Flask) -> None:
    indexer = _sign_in(staff_app, "indexer@example.org", [Role.indexer])
    token = csrf_token(indexer, "/staff/entities/")
    r = indexer.post(
        "/staff/entities/",
        data={
            "csrf_token": token,
            "kind": "person",
            "name_fa": "علي",
            "name_en": "Ali",
            "roles": ["prisoner", "relative"],
        },
    )
    assert r.status_code == 303
    entity_page = r.location
    r = indexer.post(
        "/staff/entities/",
        data={"csrf_token": token, "kind": "date", "name_en": "the summer", "date_text": "x"},
    )
    assert r.status_code == 400 and "Solar Hijri" in r.get_data(as_text=True)
    r = indexer.post(
        f"{entity_page}/edit",
        data={
            "csrf_token": token,
            "version": "1",
            "name_fa": "علی",
            "name_en": "Ali",
            "spellings": "Aly",
        },
    )
    assert r.status_code == 303
    listed = indexer.get("/staff/entities/?q=علی&kind=person").get_data(as_text=True)
    assert "Aly" in listed
    assert "no-entities" in indexer.get("/staff/entities/?q=Ali&kind=prison").get_data(as_text=True)


def test_withdrawal_erases_the_citations_and_the_entities_grown_from_them(app: Flask) -> None:
    gone = approved_testimony(app, ["Canary was with me", "and Evin"], language="en")
    kept = approved_testimony(app, ["Evin again"], language="en")
    svc = app.extensions["testimony"]
    keys = _keys(app)
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == gone)).one()
        other = s.scalars(select(Testimony).where(Testimony.pseudonym == kept)).one()
        first, second = source_segments(app, gone)
        mark = RedactionMark(
            testimony_id=testimony.id,
            segment_id=first.id,
            char_start=0,
            char_end=6,
            start_s=0.0,
            end_s=0.4,
            category=RedactionCategory.person,
            created_by=INDEXER,
        )
        s.add(mark)
        s.flush()
        person = entities.facts_from_form(EntityKind.person, name_en="Canary")
        marked = entities.cite_new(
            s, keys, testimony, EntityKind.person, person, INDEXER, redaction_mark_id=mark.id
        ).entity_id
        prison = entities.facts_from_form(EntityKind.prison, name_en="Evin")
        shared = entities.cite_new(
            s, keys, testimony, EntityKind.prison, prison, INDEXER, segment_id=second.id
        ).entity_id
        entities.cite(s, other, shared, INDEXER, segment_id=source_segments(app, kept)[0].id)
        registered = entities.create(s, keys, EntityKind.place, prison, INDEXER).id
        # An entity grown from the other record: the withdrawal leaves it, and where it grew.
        witness = entities.facts_from_form(EntityKind.person, name_en="Witness")
        theirs = entities.cite_new(
            s,
            keys,
            other,
            EntityKind.person,
            witness,
            INDEXER,
            segment_id=source_segments(app, kept)[0].id,
        ).entity_id
        other_id = other.id
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == gone)).one()
        submissions.withdraw(s, svc.store, testimony)
    with svc.db.session() as s:
        assert s.get(Entity, marked) is None  # grown from the withdrawn record, cited nowhere
        survivor = s.get(Entity, shared)
        assert survivor is not None and survivor.origin_testimony_id is None
        assert s.get(Entity, registered) is not None
        grown = s.get(Entity, theirs)
        assert grown is not None and grown.origin_testimony_id == other_id
        left = s.scalars(select(EntityCitation.testimony_id)).all()
        assert left and set(left) != {testimony.id}


def _names_left(app: Flask) -> set[str]:
    """Every name and spelling the register's rows still hold, merged entries' own included."""
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        return {
            n
            for row in s.scalars(select(Entity))
            for n in (
                *entities.read(_keys(app), row).facts.names,
                *entities._own(_keys(app), row).names,
            )
        }


def test_two_entities_grown_from_a_record_and_merged_go_with_its_withdrawal(app: Flask) -> None:
    gone = approved_testimony(app, ["Canary was in Evin", "the Evin jail"], language="en")
    svc = app.extensions["testimony"]
    keys = _keys(app)
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == gone)).one()
        first, second = source_segments(app, gone)
        keep = entities.cite_new(
            s,
            keys,
            testimony,
            EntityKind.prison,
            entities.facts_from_form(EntityKind.prison, name_en="Evin qv1"),
            INDEXER,
            segment_id=first.id,
        ).entity_id
        other = entities.cite_new(
            s,
            keys,
            testimony,
            EntityKind.prison,
            entities.facts_from_form(EntityKind.prison, name_en="Evin jail qv2"),
            INDEXER,
            segment_id=second.id,
        ).entity_id
        entities.merge(s, keys, keep, other, INDEXER)
        s.commit()
    assert {"Evin qv1", "Evin jail qv2"} <= _names_left(app)
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == gone)).one()
        submissions.withdraw(s, svc.store, testimony)
    with svc.db.session() as s:
        assert s.get(Entity, keep) is None and s.get(Entity, other) is None
        assert s.scalars(select(Entity)).first() is None
        assert s.scalars(select(EntityCitation)).first() is None
    assert not _names_left(app)


def test_names_a_withdrawn_record_gave_a_survivor_go_with_it(app: Flask) -> None:
    """An entity grown from a record, merged into one another record cites: the survivor keeps
    its own names and those typed later, and loses every one that came from the record."""
    gone = approved_testimony(app, ["Canary was in Evin"], language="en")
    kept = approved_testimony(app, ["Evin again"], language="en")
    svc = app.extensions["testimony"]
    keys = _keys(app)
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == gone)).one()
        other_record = s.scalars(select(Testimony).where(Testimony.pseudonym == kept)).one()
        survivor = entities.cite_new(
            s,
            keys,
            other_record,
            EntityKind.person,
            entities.facts_from_form(EntityKind.person, name_en="Mr Kept zp1", roles=["official"]),
            INDEXER,
            segment_id=source_segments(app, kept)[0].id,
        ).entity_id
        grown = entities.cite_new(
            s,
            keys,
            testimony,
            EntityKind.person,
            entities.facts_from_form(
                EntityKind.person,
                name_fa="کاناری",
                name_en="Canary zp2",
                spellings="Kanari zp3",
                roles=["prisoner"],
                note="spoke of zp4",
            ),
            INDEXER,
            segment_id=source_segments(app, gone)[0].id,
        ).entity_id
        merged = entities.merge(s, keys, survivor, grown, INDEXER)
        shown = entities.read(keys, merged).facts
        assert {"Canary zp2", "Kanari zp3", "کاناری"} <= set(shown.spellings)
        assert shown.roles == ("prisoner", "official") and "zp4" in shown.note
        # An edit that keeps the merged names and adds one does not copy them into the
        # survivor's own row; one merged name removed by the edit is removed where it is.
        typed = replace(shown, spellings=(*shown.spellings[1:], "Typed zp5"))
        entities.edit(s, keys, survivor, typed, INDEXER, version=merged.version)
        s.commit()
    with svc.db.session() as s:
        edited = entities.read(keys, entities.get(s, survivor)).facts
        assert set(edited.names) == {"Mr Kept zp1", *shown.spellings[1:], "Typed zp5"}
        assert "zp4" in edited.note
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == gone)).one()
        submissions.withdraw(s, svc.store, testimony)
    with svc.db.session() as s:
        assert s.get(Entity, grown) is None
        left = entities.read(keys, entities.get(s, survivor)).facts
        assert set(left.names) == {"Mr Kept zp1", "Typed zp5"}
        assert left.roles == ("official",) and "zp4" not in left.note
    names = _names_left(app)
    for word in ("Canary zp2", "Kanari zp3", "کاناری"):
        assert word not in names


def test_an_edit_made_from_an_older_version_is_refused_and_keeps_what_was_typed(
    app: Flask, staff_app: Flask
) -> None:
    entity_id = _make(app, EntityKind.person, name_en="Stored zr1")
    first = _sign_in(staff_app, "indexer@example.org", [Role.indexer])
    second = _sign_in(staff_app, "indexer2@example.org", [Role.indexer])
    page = f"/staff/entities/{entity_id}"
    opened = []
    for client in (first, second):
        html = client.get(page).get_data(as_text=True)
        version = re.search(r'name="version" type="hidden" value="(\d+)"', html)
        assert version, html
        opened.append((csrf_token(client, page), version.group(1)))
    r = first.post(
        f"{page}/edit",
        data={"csrf_token": opened[0][0], "version": opened[0][1], "name_en": "First zr2"},
    )
    assert r.status_code == 303
    for language, says in (
        ("en", "Someone changed this entity since you opened it."),
        ("fa", "کس دیگری این مدخل را پس از باز کردن شما تغییر داده است."),
    ):
        r = second.post(
            f"{page}/edit",
            data={
                "csrf_token": opened[1][0],
                "version": opened[1][1],
                "name_en": "Second zr3",
                "spellings": "Typed zr4",
                "note": "kept note zr5",
            },
            headers={"Accept-Language": language},
        )
        assert r.status_code == 409
        html = r.get_data(as_text=True)
        assert says in html
        facts = html.split('class="facts"')[1].split("</dl>")[0]
        assert "First zr2" in facts and "Second zr3" not in facts  # what is stored now
        form = html.split('class="entity-form"')[1].split("</form>")[0]
        assert 'value="Second zr3"' in form and "Typed zr4" in form and "kept note zr5" in form
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        stored = entities.get(s, entity_id)
        assert entities.read(_keys(app), stored).facts.name_en == "First zr2"
        assert stored.version == 2
    # Saved again from the version now shown, it is saved.
    current = re.search(r'name="version" type="hidden" value="(\d+)"', html)
    assert current and current.group(1) == "2"
    r = second.post(
        f"{page}/edit",
        data={"csrf_token": opened[1][0], "version": current.group(1), "name_en": "Second zr3"},
    )
    assert r.status_code == 303
    with svc.db.session() as s:
        assert entities.read(_keys(app), entities.get(s, entity_id)).facts.name_en == "Second zr3"


def test_a_merge_makes_an_open_edit_of_the_survivor_stale(app: Flask) -> None:
    keep = _make(app, EntityKind.place, name_en="Kept place")
    other = _make(app, EntityKind.place, name_en="Other place")
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        seen = entities.read(_keys(app), entities.get(s, keep))
        entities.merge(s, _keys(app), keep, other, INDEXER)
        with pytest.raises(entities.EntityError) as refused:
            entities.edit(s, _keys(app), keep, seen.facts, INDEXER, version=seen.version)
        assert refused.value.reason == "stale"


INCLUDE = (
    "{% with cite_pseudonym=p, cite_segment_id=s, cite_index_point_id=None, cite_start_s=0.0 %}"
    '{% include "staff/entities/_cite.html" ignore missing %}{% endwith %}'
)


def _form_as_indexer(staff_app: Flask, account_id: int, pseudonym: str, segment_id: int) -> str:
    """The citation form as an index page including it would render it for this account."""
    from flask import render_template_string
    from flask_login import login_user

    from intake.models import StaffAccount
    from intake.services import request_session
    from intake.views.staff.user import StaffUser

    with staff_app.test_request_context("/staff/entities/"):
        login_user(StaffUser(request_session().get(StaffAccount, account_id)))  # type: ignore[arg-type]
        return render_template_string(INCLUDE, p=pseudonym, s=segment_id)


def test_the_included_citation_form_lists_the_entities_cited_there(
    app: Flask, staff_app: Flask
) -> None:
    pseudonym = approved_testimony(app, ["in Mordad 1367", "later"], language="en")
    first, second = source_segments(app, pseudonym)
    evin = _make(app, EntityKind.prison, name_en="Evin Prison")
    staff = ready_account(staff_app, "indexer@example.org", [Role.indexer])
    client = staff_client(staff_app)
    sign_in(client, staff)
    form = _form_as_indexer(staff_app, staff.id, pseudonym, first.id)
    assert 'name="entity_id"' in form and f'value="{evin}"' in form and "Evin Prison" in form
    assert f'name="segment_id" type="hidden" value="{first.id}"' in form
    assert 'class="uncite"' not in form  # nothing cited here yet
    token = csrf_token(client, "/staff/entities/")
    here = f"/staff/index/{pseudonym}"
    r = client.post(
        "/staff/entities/cite",
        data={
            "csrf_token": token,
            "pseudonym": pseudonym,
            "segment_id": first.id,
            "start_s": "۰٫۲",
            "entity_id": "",
            "name_fa": "مرداد ۱۳۶۷",
            "kind": "date",
            "next": here,
        },
    )
    assert r.status_code == 303 and r.location.endswith(here)
    form = _form_as_indexer(staff_app, staff.id, pseudonym, first.id)
    assert "مرداد ۱۳۶۷" in form and 'class="uncite"' in form
    assert 'class="uncite"' not in _form_as_indexer(staff_app, staff.id, pseudonym, second.id)
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        made = s.scalars(select(EntityCitation)).one()
        assert made.start_s == pytest.approx(0.2)
        entity = s.get(Entity, made.entity_id)
        assert entity is not None and entity.kind == EntityKind.date
        assert entity.origin_testimony_id is not None  # grown from this record
        opened = entities.read(_keys(app), entity)
        assert opened.facts.date_start == date(1988, 7, 23)
    # Anyone but an indexer gets an empty list from the form's globals.
    reviewer = ready_account(staff_app, "reviewer@example.org", [Role.reviewer])
    assert "مرداد ۱۳۶۷" not in _form_as_indexer(staff_app, reviewer.id, pseudonym, first.id)


def test_an_index_point_is_cited_at_its_time_and_played_from_the_segment_there(
    app: Flask,
) -> None:
    pseudonym = approved_testimony(app, ["first words", "Evin later"], language="en")
    evin = _make(app, EntityKind.prison, name_en="Evin")
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        point = index_points.add(
            s,
            _keys(app),
            testimony,
            testimony.audio_files[0].id,
            0.6,
            index_points.PointText(index_points.Words(title="Later")),
            INDEXER,
        )
        with pytest.raises(entities.EntityError):  # a point of no record (or another's)
            entities.cite(s, testimony, evin, INDEXER, index_point_id=point.id + 1)
        with pytest.raises(entities.EntityError):  # one place only
            entities.cite(s, testimony, evin, INDEXER, index_point_id=point.id, segment_id=1)
        entities.cite(s, testimony, evin, INDEXER, index_point_id=point.id)  # at its time
        point_id = point.id
    with svc.db.session() as s:
        (found,) = entities.citations(s, _keys(app), evin, lambda t: True)
        assert (found.via, found.start_s, found.audio_position) == ("index_point", 0.6, 1)
        assert found.end_s == pytest.approx(0.6 + entities.DEFAULT_SPAN_S)
        assert found.text == "Evin later"  # the segment that holds its start
        record_id = found_testimony_id(s, pseudonym)
        cited = entities.citations_at(s, _keys(app), record_id, None, point_id)
        assert [c.entity.id for c in cited] == [evin]


def found_testimony_id(session: object, pseudonym: str) -> int:
    """A record's id by its pseudonym."""
    return session.scalars(  # type: ignore[attr-defined,no-any-return]
        select(Testimony.id).where(Testimony.pseudonym == pseudonym)
    ).one()


def test_a_marked_person_is_cited_through_the_mark_from_the_form(
    app: Flask, staff_app: Flask
) -> None:
    pseudonym = approved_testimony(app, ["Hamid was taken", "later"], language="en")
    first, second = source_segments(app, pseudonym)
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        mark = RedactionMark(
            testimony_id=testimony.id,
            segment_id=first.id,
            char_start=0,
            char_end=5,
            start_s=0.1,
            end_s=0.5,
            category=RedactionCategory.person,
            created_by=INDEXER,
        )
        s.add(mark)
        s.flush()
        mark_id = mark.id
    staff = ready_account(staff_app, "indexer@example.org", [Role.indexer])
    client = staff_client(staff_app)
    sign_in(client, staff)
    # The form offers the segment's mark (and only there), by its category, never its words.
    form = _form_as_indexer(staff_app, staff.id, pseudonym, first.id)
    assert 'name="redaction_mark_id"' in form and f'value="{mark_id}"' in form
    assert "Hamid" not in form
    assert 'name="redaction_mark_id"' not in _form_as_indexer(
        staff_app, staff.id, pseudonym, second.id
    )
    r = client.post(
        "/staff/entities/cite",
        data={
            "csrf_token": csrf_token(client, "/staff/entities/"),
            "pseudonym": pseudonym,
            "segment_id": first.id,
            "redaction_mark_id": mark_id,
            "entity_id": "",
            "name_en": "Hamid",
            "kind": "person",
            "next": f"/staff/index/{pseudonym}",
        },
    )
    assert r.status_code == 303
    with svc.db.session() as s:
        made = s.scalars(select(EntityCitation)).one()
        assert (made.redaction_mark_id, made.segment_id) == (mark_id, first.id)
        assert made.start_s == pytest.approx(0.1)  # the mark's time
