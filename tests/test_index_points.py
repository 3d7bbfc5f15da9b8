"""Index points (issue 19): an indexer adds a titled moment of a recording beside its approved
transcript, another indexer approves it (four eyes, versions), only records in the indexer's
work open, the words are sealed, withdrawal erases them, and suggested boundaries fall at the
longest pauses about every two or three minutes."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from intake.events import Action
from intake.models import EntityKind, Event, IndexPoint, ReviewState, Role, Testimony
from intake.public import submissions
from intake.review import entities, index_points
from intake.views.staff.index import parse_time
from tests.staff_support import Staff, ready_account, sign_in, staff_client, transcribed_testimony
from tests.support import csrf_token, worker_keyring
from tests.translation_support import approved_testimony, source_segments

TITLE = "زندان اوین، تابستان ۱۳۶۷"
SYNOPSIS = "The canary synopsis qx7 about the summer"


@dataclass
class Desk:
    """Two indexers signed in, and a record whose transcript is approved."""

    app: Flask
    pseudonym: str
    a: FlaskClient
    b: FlaskClient
    accounts: tuple[Staff, Staff]


def _client(app: Flask, staff: Staff) -> FlaskClient:
    client = staff_client(app)
    sign_in(client, staff)
    return client


@pytest.fixture
def desk(app: Flask, staff_app: Flask) -> Desk:
    pseudonym = approved_testimony(app, ["سلام", "ما در اوین بودیم"])
    first = ready_account(staff_app, "a@example.org", [Role.indexer])
    second = ready_account(staff_app, "b@example.org", [Role.indexer])
    return Desk(
        staff_app,
        pseudonym,
        _client(staff_app, first),
        _client(staff_app, second),
        (first, second),
    )


def _page(client: FlaskClient, pseudonym: str) -> str:
    response = client.get(f"/staff/index/{pseudonym}")
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _add(desk: Desk, client: FlaskClient, **fields: str) -> int:
    token = csrf_token(client, f"/staff/index/{desk.pseudonym}")
    data = {"csrf_token": token, "start": "0:00:01", "title": TITLE, **fields}
    response = client.post(f"/staff/index/{desk.pseudonym}/points", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    found = re.search(r"#point-(\d+)$", response.location)
    assert found, response.location
    return int(found.group(1))


def _point(app: Flask, point_id: int) -> IndexPoint | None:
    with app.extensions["testimony"].db.session() as s:
        return s.get(IndexPoint, point_id)


def _post(desk: Desk, client: FlaskClient, path: str, **data: str) -> int:
    token = csrf_token(client, f"/staff/index/{desk.pseudonym}")
    url = f"/staff/index/{desk.pseudonym}/points/{path}"
    return client.post(url, data={"csrf_token": token, **data}).status_code


def test_the_queue_lists_the_record_and_counts_its_points(desk: Desk) -> None:
    _add(desk, desk.a)
    html = desk.a.get("/staff/index/").get_data(as_text=True)
    row = re.search(rf'<tr id="queue-{desk.pseudonym}">.*?</tr>', html, re.S)
    assert row, html
    assert '<td class="points">1</td>' in row.group(0)
    assert '<td class="approved">0</td>' in row.group(0)
    assert 'id="to-index"' in desk.a.get("/staff/").get_data(as_text=True)


def test_the_page_shows_the_transcript_the_suggestions_and_the_points(desk: Desk) -> None:
    point_id = _add(desk, desk.a, synopsis=SYNOPSIS, keywords="اوین؛ زندان", alt_title="Evin")
    html = _page(desk.a, desk.pseudonym)
    for seg in source_segments(desk.app, desk.pseudonym):
        assert f'id="seg-{seg.id}"' in html
    assert "ما در اوین بودیم" in html
    assert f'id="point-{point_id}"' in html and TITLE in html and SYNOPSIS in html
    assert "اوین؛ زندان" in html and "Evin" in html
    assert 'class="suggestion" data-t="0.0"' in html
    seeking = desk.a.get(f"/staff/index/{desk.pseudonym}?t=1:05").get_data(as_text=True)
    assert 'data-start="65.0"' in seeking and "#t=65.0" in seeking
    prefilled = desk.a.get(f"/staff/index/{desk.pseudonym}?at=0.5").get_data(as_text=True)
    assert 'id="add-point-start" name="start"' in prefilled and 'value="0:00:00"' in prefilled


def test_nobody_approves_their_own_point_and_a_second_indexer_does(desk: Desk) -> None:
    point_id = _add(desk, desk.a)
    point = _point(desk.app, point_id)
    assert point is not None and point.state == ReviewState.edited and point.version == 1
    assert _post(desk, desk.a, f"{point_id}/approve", version="1") == 403
    assert _point(desk.app, point_id).state == ReviewState.edited  # type: ignore[union-attr]
    assert _post(desk, desk.b, f"{point_id}/approve", version="1") == 303
    approved = _point(desk.app, point_id)
    assert approved is not None and approved.state == ReviewState.approved
    assert approved.approved_by == f"account:{desk.accounts[1].id}"
    # The page offers no approve button to the one who changed it last.
    assert f"/points/{point_id}/approve" not in _page(desk.a, desk.pseudonym)


def test_a_stale_version_is_refused(desk: Desk) -> None:
    point_id = _add(desk, desk.a)
    changed = {"version": "1", "start": "0:00:01", "title": "Another title"}
    assert _post(desk, desk.b, str(point_id), **changed) == 303  # now version 2, by B
    assert _post(desk, desk.a, f"{point_id}/approve", version="1") == 409
    assert _post(desk, desk.a, str(point_id), **changed) == 409
    assert _post(desk, desk.a, f"{point_id}/delete", version="1") == 409
    assert _post(desk, desk.a, f"{point_id}/approve", version="2") == 303


def test_an_edit_withdraws_the_approval_and_an_approved_point_is_not_deleted(desk: Desk) -> None:
    point_id = _add(desk, desk.a)
    assert _post(desk, desk.b, f"{point_id}/approve", version="1") == 303
    assert _post(desk, desk.a, f"{point_id}/delete", version="2") == 400
    assert _point(desk.app, point_id) is not None
    assert _post(desk, desk.a, str(point_id), version="2", start="0:00:01", title="x") == 303
    point = _point(desk.app, point_id)
    assert point is not None and point.state == ReviewState.edited and point.approved_by is None
    assert _post(desk, desk.a, f"{point_id}/delete", version="3") == 303
    assert _point(desk.app, point_id) is None


def test_the_form_is_checked(desk: Desk) -> None:
    token = csrf_token(desk.a, f"/staff/index/{desk.pseudonym}")
    url = f"/staff/index/{desk.pseudonym}/points"
    for start, title in (("0:00:01", ""), ("99:00", "late"), ("soon", "bad")):
        data = {"csrf_token": token, "start": start, "title": title}
        assert desk.a.post(url, data=data).status_code == 400, (start, title)
    with desk.app.extensions["testimony"].db.session() as s:
        assert s.scalars(select(IndexPoint)).first() is None
    # What was typed comes back in the form: a late time loses no synopsis.
    data = {"csrf_token": token, "start": "99:00", "title": "Late", "synopsis": "Kept words"}
    page = desk.a.post(url, data=data).get_data(as_text=True)
    assert 'value="99:00"' in page and 'value="Late"' in page and "Kept words" in page


def test_a_refused_change_of_a_point_comes_back_as_typed(desk: Desk) -> None:
    point_id = _add(desk, desk.a, synopsis=SYNOPSIS)
    before = _point(desk.app, point_id)
    assert before is not None
    token = csrf_token(desk.a, f"/staff/index/{desk.pseudonym}")
    url = f"/staff/index/{desk.pseudonym}/points/{point_id}"
    for start, title in (("99:00", "Late change"), ("0:00:02", "")):
        data = {
            "csrf_token": token,
            "version": str(before.version),
            "start": start,
            "title": title,
            "synopsis": "Changed words zk4",
            "keywords": "kw1; kw2",
        }
        response = desk.a.post(url, data=data)
        assert response.status_code == 400, (start, title)
        page = response.get_data(as_text=True)
        form = re.search(rf'<form[^>]*id="edit-{point_id}".*?</form>', page, re.S)
        assert form, page[:3000]
        typed = form.group(0)
        assert f'value="{start}"' in typed and f'value="{title}"' in typed, typed
        assert "Changed words zk4" in typed and 'value="kw1; kw2"' in typed
        assert '<details class="edit" open>' in page
        # The point itself is unchanged, shown as stored above its form; the new point's form
        # stays empty.
        added = re.search(r'<form[^>]*id="add-point".*?</form>', page, re.S)
        assert added and "Changed words zk4" not in added.group(0)
        assert SYNOPSIS in page
    stored = _point(desk.app, point_id)
    assert stored is not None and stored.version == before.version and stored.start_s == 1.0


def test_events_name_ids_only(desk: Desk) -> None:
    point_id = _add(desk, desk.a, synopsis=SYNOPSIS)
    _post(desk, desk.b, f"{point_id}/approve", version="1")
    with desk.app.extensions["testimony"].db.session() as s:
        events = s.scalars(
            select(Event).where(
                Event.action.in_([Action.index_point_added, Action.index_point_approved])
            )
        ).all()
        assert [e.action for e in events] == [Action.index_point_added, Action.index_point_approved]
        for event in events:
            assert event.detail["index_point"] == point_id
            assert TITLE not in str(event.detail) and SYNOPSIS not in str(event.detail)


def test_the_words_are_sealed_in_the_table(desk: Desk) -> None:
    point_id = _add(desk, desk.a, synopsis=SYNOPSIS, alt_title="Evin canary zq9")
    with desk.app.extensions["testimony"].db.session() as s:
        row = s.execute(text("SELECT * FROM index_point WHERE id = :id"), {"id": point_id}).one()
        raw = b"".join(
            bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in row
        )
        for word in (TITLE, "اوین", SYNOPSIS, "canary", "zq9"):
            assert word.encode() not in raw, word
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == desk.pseudonym)).one()
        views = index_points.points_of(s, worker_keyring(desk.app), testimony)
        assert views[0].text.main.title == TITLE and views[0].text.alt.title == "Evin canary zq9"  # type: ignore[union-attr]
        assert views[0].text.alt_language == "en"


def test_withdrawal_erases_the_points(desk: Desk) -> None:
    _add(desk, desk.a)
    svc = desk.app.extensions["testimony"]
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == desk.pseudonym)).one()
        submissions.withdraw(s, svc.store, testimony)
    with svc.db.session() as s:
        assert s.scalars(select(IndexPoint)).first() is None


def test_records_outside_the_indexers_work_are_not_found(
    app: Flask, staff_app: Flask, desk: Desk
) -> None:
    in_review = transcribed_testimony(app, ["not approved yet"])
    for path in (
        f"/staff/index/{in_review}",
        f"/staff/index/{in_review}/audio/1",
        "/staff/index/T-NONE",
    ):
        assert desk.a.get(path).status_code == 404, path
    token = csrf_token(desk.a, f"/staff/index/{desk.pseudonym}")
    data = {"csrf_token": token, "start": "0", "title": "t"}
    assert desk.a.post(f"/staff/index/{in_review}/points", data=data).status_code == 404
    assert desk.a.get(f"/staff/index/{desk.pseudonym}?recording=2").status_code == 404
    # A reviewer is not an indexer: the role guard refuses every indexing route.
    reviewer = _client(staff_app, ready_account(staff_app, "r@example.org", [Role.reviewer]))
    assert reviewer.get(f"/staff/index/{desk.pseudonym}").status_code == 403
    assert reviewer.get(f"/staff/index/{desk.pseudonym}/audio/1").status_code == 403
    # And a point of another record is not this record's to change.
    other = approved_testimony(app, ["another record"])
    point_id = _add(desk, desk.a)
    token = csrf_token(desk.b, f"/staff/index/{other}")
    url = f"/staff/index/{other}/points/{point_id}/approve"
    assert desk.b.post(url, data={"csrf_token": token, "version": "1"}).status_code == 404


def test_the_audio_streams_with_byte_ranges(desk: Desk) -> None:
    whole = desk.a.get(f"/staff/index/{desk.pseudonym}/audio/1")
    assert whole.status_code == 200 and whole.mimetype == "audio/flac"
    size = len(whole.get_data())
    part = desk.a.get(f"/staff/index/{desk.pseudonym}/audio/1", headers={"Range": "bytes=4-99"})
    assert part.status_code == 206 and part.headers["Content-Range"] == f"bytes 4-99/{size}"
    assert part.get_data() == whole.get_data()[4:100]
    assert desk.a.get(f"/staff/index/{desk.pseudonym}/audio/2").status_code == 404


@dataclass
class Seg:
    start_s: float
    end_s: float


def test_suggestions_start_at_zero_and_fall_at_the_longest_pause_every_few_minutes() -> None:
    # A segment every 10 s, 8 s long (2 s pauses), with longer pauses before 150 s and 290 s.
    segments = [Seg(t, t + 8) for t in range(0, 600, 10)]
    segments[15] = Seg(151, 159)  # 7 s of silence before it
    segments[29] = Seg(293, 299)  # 5 s before it
    starts = index_points.suggested_starts(segments)
    assert starts[:3] == [0.0, 151.0, 293.0]
    assert all(120 <= b - a <= 180 for a, b in zip(starts, starts[1:], strict=False))
    assert set(starts[1:]) <= {s.start_s for s in segments}


def test_suggestions_cross_a_long_silence_at_the_next_segment() -> None:
    segments = [Seg(0, 10), Seg(20, 30), Seg(500, 510), Seg(520, 530)]
    assert index_points.suggested_starts(segments) == [0.0, 500.0]
    assert index_points.suggested_starts([]) == [0.0]


def test_typed_times() -> None:
    assert parse_time("83") == 83.0
    assert parse_time("1:23") == 83.0
    assert parse_time("1:02:03") == 3723.0
    assert parse_time("۱:۲۳") == 83.0
    for bad in ("", "a", "1:75", "-3", "1:2:3:4", "inf", "nan", "1e400", "1:inf"):
        assert parse_time(bad) is None, bad


def test_a_time_that_is_no_number_answers_the_page_not_an_error(desk: Desk) -> None:
    for bad in ("inf", "1e400", "nan"):
        response = desk.a.get(f"/staff/index/{desk.pseudonym}?at={bad}&t={bad}")
        assert response.status_code == 200, (bad, response.status_code)


def test_a_cited_point_is_not_deleted_until_its_citations_are_removed(desk: Desk) -> None:
    point_id = _add(desk, desk.a)
    with desk.app.extensions["testimony"].db.session() as s:
        record = s.scalars(select(Testimony).where(Testimony.pseudonym == desk.pseudonym)).one()
        keys = desk.app.extensions["testimony"].keyring
        made = entities.cite_new(
            s,
            keys,
            record,
            EntityKind.prison,
            entities.Facts(name_en="Evin"),
            "account:1",
            index_point_id=point_id,
        )
        citation_id = made.id
    assert _post(desk, desk.a, f"{point_id}/delete", version="1") == 400
    assert _point(desk.app, point_id) is not None
    token = csrf_token(desk.a, f"/staff/index/{desk.pseudonym}")
    removed = desk.a.post(
        f"/staff/entities/citations/{citation_id}/remove", data={"csrf_token": token}
    )
    assert removed.status_code in (302, 303)
    assert _post(desk, desk.a, f"{point_id}/delete", version="1") == 303
    assert _point(desk.app, point_id) is None
