"""Which records a role opens: every content route, as each content role, against one record
moved through every state under each consent, answers exactly what the queues list.

The expected sets are written out here, not read from `intake.records.record_access`, so that a
change to the rule (or a content route that forgets it) makes a test fail. A record outside a
role's work answers 404, exists or not, and leaves no trace; the first open of a record's
content by an account writes one event naming the account id alone.
"""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from intake.events import Action, staff_ref
from intake.models import Event, Role, Testimony, TestimonyState
from intake.records import audit
from intake.review import index_points
from tests.staff_support import (
    Staff,
    ready_account,
    segments_of,
    sign_in,
    staff_client,
    transcribed_testimony,
)
from tests.support import csrf_token, worker_keyring

REVIEW_ROUTES = {
    "staff_review.editor",
    "staff_review.audio",
    "staff_review.save",
    "staff_review.approve",
    "staff_review.mark",
    "staff_review.unmark",
    "staff_review.split",
    "staff_review.merge",
    "staff_review.widen",
}
TRANSLATE_ROUTES = {
    "staff_translate.workbench",
    "staff_translate.save",
    "staff_translate.accept_draft",
    "staff_translate.approve",
    "staff_translate.mark",
    "staff_translate.unmark",
}
INDEX_ROUTES = {
    "staff_index.record",
    "staff_index.audio",
    "staff_index.add",
    "staff_index.edit",
    "staff_index.approve",
    "staff_index.delete",
}
# The record page and its preview: open where any of the account's roles works on the record.
RECORD_ROUTES = {"staff_records.record", "staff_records.preview_audio", "staff_records.ask"}
# Routes that name a record but serve none of its content (pseudonyms, hashes, counts).
NO_CONTENT = {"staff_access.disguise"}

S = TestimonyState
REVIEWABLE = {S.transcribed, S.in_review}
TRANSLATABLE = {S.transcript_approved, S.in_translation, S.translation_review}
INDEXABLE = TRANSLATABLE | {S.approved, S.archived}
# (transcribe, translate) consents; archive-only is the last.
CONSENTS = [(True, True), (True, False), (False, False)]


def _url(rule: str, values: dict[str, str]) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: values[m.group(1)], rule)


def _set(
    app: Flask, pseudonym: str, state: TestimonyState, transcribe: bool, translate: bool
) -> None:
    # Test set-up: the row is put straight into each state and consent, as the state machine
    # and the submitter's narrowing would leave it.
    with app.extensions["testimony"].db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        t.state = state
        assert t.consent is not None
        t.consent.transcribe, t.consent.translate = transcribe, translate


def _opened(
    client: FlaskClient, app: Flask, rules: list[tuple[str, str, bool]], values: dict[str, str]
) -> set[str]:
    """The endpoints among `rules` that did not answer 404 (nor the guard's 403)."""
    token = csrf_token(client, "/staff/")
    opened = set()
    for endpoint, rule, post in rules:
        url = _url(rule, values)
        response = client.post(url, data={"csrf_token": token}) if post else client.get(url)
        if response.status_code not in (403, 404):
            opened.add(endpoint)
        response.close()
    return opened


def _a_point(app: Flask, pseudonym: str) -> int:
    """An index point on the record, so the point routes have one to name."""
    with app.extensions["testimony"].db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        words = index_points.PointText(index_points.Words(title="A moment"))
        point = index_points.add(
            s, worker_keyring(app), t, t.audio_files[0].id, 0.0, words, "account:1"
        )
        return point.id


def _content_rules(app: Flask) -> list[tuple[str, str, bool]]:
    return [
        (r.endpoint, r.rule, "POST" in (r.methods or ()))
        for r in app.url_map.iter_rules()
        if r.endpoint in REVIEW_ROUTES | TRANSLATE_ROUTES | INDEX_ROUTES
    ]


def test_every_route_naming_a_record_is_classified(staff_app: Flask) -> None:
    naming = {r.endpoint for r in staff_app.url_map.iter_rules() if "<pseudonym>" in r.rule}
    assert naming == REVIEW_ROUTES | TRANSLATE_ROUTES | INDEX_ROUTES | RECORD_ROUTES | NO_CONTENT


def test_content_routes_and_queues_open_exactly_the_records_of_the_role(
    app: Flask, staff_app: Flask
) -> None:
    pseudonym = transcribed_testimony(app, ["one two three", "four five six"])
    segment = segments_of(staff_app, pseudonym)[0]
    values = {
        "pseudonym": pseudonym,
        "segment_id": str(segment.id),
        "position": "1",
        "mark_id": "1",
        "point_id": str(_a_point(app, pseudonym)),
    }
    people: dict[Role, Staff] = {
        role: ready_account(staff_app, f"{role.value}@example.org", [role])
        for role in (Role.reviewer, Role.translator, Role.indexer)
    }
    clients: dict[Role, FlaskClient] = {}
    for role, person in people.items():
        clients[role] = staff_client(staff_app)
        sign_in(clients[role], person)
    rules = _content_rules(staff_app)
    assert {e for e, _, _ in rules} == REVIEW_ROUTES | TRANSLATE_ROUTES | INDEX_ROUTES
    queues = {
        Role.reviewer: "/staff/review/",
        Role.translator: "/staff/translate/",
        Role.indexer: "/staff/index/",
    }

    for state in TestimonyState:
        for transcribe, translate in CONSENTS:
            _set(staff_app, pseudonym, state, transcribe, translate)
            expected = {
                Role.reviewer: REVIEW_ROUTES if state in REVIEWABLE and transcribe else set(),
                Role.translator: (
                    TRANSLATE_ROUTES if state in TRANSLATABLE and translate else set()
                ),
                Role.indexer: INDEX_ROUTES if state in INDEXABLE and transcribe else set(),
            }
            for role, client in clients.items():
                where = (state.value, transcribe, translate, role.value)
                assert _opened(client, staff_app, rules, values) == expected[role], where
                listed = pseudonym in client.get(queues[role]).get_data(as_text=True)
                assert listed == bool(expected[role]), where


def test_a_reviewer_cannot_stream_a_received_archive_only_record(
    app: Flask, staff_app: Flask
) -> None:
    pseudonym = transcribed_testimony(app, ["one two three"])
    _set(staff_app, pseudonym, S.received, False, False)
    reviewer = ready_account(staff_app, "r@example.org", [Role.reviewer])
    client = staff_client(staff_app)
    sign_in(client, reviewer)
    assert client.get(f"/staff/review/{pseudonym}/audio/1").status_code == 404
    assert client.get(f"/staff/review/{pseudonym}").status_code == 404
    # Exactly the answer for a record that does not exist.
    assert client.get("/staff/review/NO-SUCH-NAME/audio/1").status_code == 404
    with staff_app.extensions["testimony"].db.session() as s:
        opened = s.scalars(select(Event).where(Event.action == Action.content_opened)).all()
    assert opened == []


def test_a_translator_gets_404_without_translation_consent_whatever_the_state(
    app: Flask, staff_app: Flask
) -> None:
    pseudonym = transcribed_testimony(app, ["one two three"])
    translator = ready_account(staff_app, "t@example.org", [Role.translator])
    client = staff_client(staff_app)
    sign_in(client, translator)
    for state in TRANSLATABLE:
        _set(staff_app, pseudonym, state, True, False)
        assert client.get(f"/staff/translate/{pseudonym}").status_code == 404, state
        assert pseudonym not in client.get("/staff/translate/").get_data(as_text=True)
        _set(staff_app, pseudonym, state, True, True)
        assert client.get(f"/staff/translate/{pseudonym}").status_code == 200, state


def test_the_first_open_by_each_account_writes_one_event(app: Flask, staff_app: Flask) -> None:
    pseudonym = transcribed_testimony(app, ["one two three"])
    first = ready_account(staff_app, "first@example.org", [Role.reviewer])
    second = ready_account(staff_app, "second@example.org", [Role.reviewer])
    a, b = staff_client(staff_app), staff_client(staff_app)
    sign_in(a, first)
    sign_in(b, second)
    # The queue shows no content: no event.
    assert a.get("/staff/review/").status_code == 200
    assert _opens(staff_app) == []
    # Audio first, then the editor, then byte ranges: one event for this account.
    assert a.get(f"/staff/review/{pseudonym}/audio/1").status_code == 200
    assert a.get(f"/staff/review/{pseudonym}").status_code == 200
    ranged = a.get(f"/staff/review/{pseudonym}/audio/1", headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206
    assert _opens(staff_app) == [(first.id, {"role": "reviewer"})]
    assert b.get(f"/staff/review/{pseudonym}").status_code == 200
    assert b.get(f"/staff/review/{pseudonym}").status_code == 200
    both = [(first.id, {"role": "reviewer"}), (second.id, {"role": "reviewer"})]
    assert _opens(staff_app) == both


def _opens(app: Flask) -> list[tuple[int | None, object]]:
    with app.extensions["testimony"].db.session() as s:
        rows = s.scalars(
            select(Event).where(Event.action == Action.content_opened).order_by(Event.seq)
        ).all()
        return [(e.account_id, e.detail) for e in rows]


def test_the_record_page_opens_by_the_same_rule_as_the_work(app: Flask, staff_app: Flask) -> None:
    # The record page shows history and a preview of content: a role sees it only while the
    # record is in that role's work (state and consent), like the editor and the workbench.
    pseudonym = transcribed_testimony(app, ["one two three"])
    people = {
        role: ready_account(staff_app, f"page-{role.value}@example.org", [role])
        for role in (Role.reviewer, Role.translator, Role.archivist)
    }
    clients = {}
    for role, person in people.items():
        clients[role] = staff_client(staff_app)
        sign_in(clients[role], person)
    opens = {
        Role.reviewer: REVIEWABLE,
        Role.translator: TRANSLATABLE,
        Role.archivist: {S.approved, S.archived},
    }
    page = f"/staff/records/{pseudonym}"
    for state in (S.received, S.in_review, S.in_translation, S.approved):
        _set(staff_app, pseudonym, state, True, True)
        for role, client in clients.items():
            status = client.get(page).status_code
            assert (status == 200) == (state in opens[role]), (state.value, role.value, status)
            assert status in (200, 404)
    # Archive-only consent closes the page to the reviewer even in review.
    _set(staff_app, pseudonym, S.in_review, False, False)
    assert clients[Role.reviewer].get(page).status_code == 404


def test_a_record_whose_key_is_gone_opens_to_no_role(app: Flask, staff_app: Flask) -> None:
    # A record without its wrapped key (destroyed) has nothing left to read: no queue lists it
    # and no content route opens it, whatever its state says.
    pseudonym = transcribed_testimony(app, ["one two three"])
    work = {
        Role.reviewer: (S.in_review, f"/staff/review/{pseudonym}", "/staff/review/"),
        Role.translator: (S.in_translation, f"/staff/translate/{pseudonym}", "/staff/translate/"),
        Role.indexer: (S.approved, f"/staff/index/{pseudonym}", "/staff/index/"),
    }
    for role, (state, page, queue) in work.items():
        client = staff_client(staff_app)
        sign_in(client, ready_account(staff_app, f"keyless-{role.value}@example.org", [role]))
        _set(staff_app, pseudonym, state, True, True)
        assert client.get(page).status_code == 200, role
        assert pseudonym in client.get(queue).get_data(as_text=True), role
        with staff_app.extensions["testimony"].db.session() as s:
            t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
            kept, t.wrapped_key = t.wrapped_key, None
        assert client.get(page).status_code == 404, role
        assert client.get(f"/staff/records/{pseudonym}").status_code in (403, 404), role
        assert pseudonym not in client.get(queue).get_data(as_text=True), role
        with staff_app.extensions["testimony"].db.session() as s:
            t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
            t.wrapped_key = kept


def test_an_accounts_other_events_on_a_record_do_not_stand_for_its_first_open(
    app: Flask, staff_app: Flask
) -> None:
    # The archivist set the voice disguise (an event by the account on the record) before ever
    # reading the record: the first read is still written.
    pseudonym = transcribed_testimony(app, ["one two three"])
    _set(staff_app, pseudonym, S.approved, True, True)
    archivist = ready_account(staff_app, "reads-late@example.org", [Role.archivist])
    with staff_app.extensions["testimony"].db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        audit.record_event(
            s, t.id, staff_ref(archivist.id), Action.voice_disguise_set, detail={"disguise": True}
        )
    assert _opens(staff_app) == []
    client = staff_client(staff_app)
    sign_in(client, archivist)
    assert client.get(f"/staff/records/{pseudonym}").status_code == 200
    assert _opens(staff_app) == [(archivist.id, {"role": "archivist"})]
