"""Segment review through the staff app: save with a version check, four eyes, approval of the
whole transcript, the audio stream with byte ranges, and text shown as text."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from intake.models import (
    Event,
    RedactionCategory,
    RedactionMark,
    ReviewState,
    Role,
    Segment,
    Testimony,
    TestimonyState,
)
from intake.review import review, transcripts
from tests.staff_support import (
    ready_account,
    segments_of,
    sign_in,
    staff_client,
    transcribed_testimony,
)
from tests.support import csrf_token


def _reviewers(staff_app: Flask) -> tuple[FlaskClient, FlaskClient]:
    first, second = staff_client(staff_app), staff_client(staff_app)
    sign_in(first, ready_account(staff_app, "first@example.org", [Role.reviewer]))
    sign_in(second, ready_account(staff_app, "second@example.org", [Role.reviewer]))
    return first, second


def _save(client: FlaskClient, pseudonym: str, seg_id: int, text: str, version: int) -> object:
    token = csrf_token(client, f"/staff/review/{pseudonym}")
    return client.post(
        f"/staff/review/{pseudonym}/segments/{seg_id}",
        data={"csrf_token": token, "text": text, "version": str(version)},
    )


def _approve(client: FlaskClient, pseudonym: str, seg_id: int, version: int) -> object:
    token = csrf_token(client, f"/staff/review/{pseudonym}")
    return client.post(
        f"/staff/review/{pseudonym}/segments/{seg_id}/approve",
        data={"csrf_token": token, "version": str(version)},
    )


def _state(app: Flask, pseudonym: str) -> TestimonyState:
    with app.extensions["testimony"].db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        return t.state


def test_edit_then_second_reviewer_approves_and_transcript_is_approved(
    app: Flask, staff_app: Flask
) -> None:
    pseudonym = transcribed_testimony(app, ["hello wrold", "second part"])
    first, second = _reviewers(staff_app)
    seg, other = segments_of(staff_app, pseudonym)

    r = _save(first, pseudonym, seg.id, "hello world", seg.version)
    assert r.status_code == 303  # type: ignore[attr-defined]
    assert _state(staff_app, pseudonym) == TestimonyState.in_review
    edited = segments_of(staff_app, pseudonym)[0]
    assert edited.review_state == ReviewState.edited and edited.version == seg.version + 1

    # Four eyes: the editor cannot approve their own edit, on the page or by posting.
    page = first.get(f"/staff/review/{pseudonym}").get_data(as_text=True)
    assert "another reviewer must approve it" in page
    r = _approve(first, pseudonym, seg.id, edited.version)
    assert r.status_code == 403  # type: ignore[attr-defined]
    assert segments_of(staff_app, pseudonym)[0].review_state == ReviewState.edited

    assert _approve(second, pseudonym, seg.id, edited.version).status_code == 303  # type: ignore[attr-defined]
    assert _state(staff_app, pseudonym) == TestimonyState.in_review  # one segment still open
    last = _approve(first, pseudonym, other.id, other.version)
    assert last.status_code == 303  # type: ignore[attr-defined]
    assert _state(staff_app, pseudonym) == TestimonyState.transcript_approved
    # The record left the reviewers' work: back to the queue, which says so.
    assert last.location.endswith("/staff/review/?done=finished")  # type: ignore[attr-defined]
    queue = first.get(last.location).get_data(as_text=True)  # type: ignore[attr-defined]
    assert "the record has left the review queue" in queue and pseudonym not in queue

    svc = staff_app.extensions["testimony"]
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        key = transcripts.testimony_key(svc.keyring, testimony)
        segs = segments_of(staff_app, pseudonym)
        assert transcripts.unseal_segment(key, segs[0]).text == "hello world"
        assert b"hello world" not in segs[0].sealed
        events = s.scalars(select(Event).where(Event.testimony_id == testimony.id)).all()
        actions = [e.action for e in events]
        assert actions.count("segment_edited") == 1 and actions.count("segment_approved") == 2
        assert "transcript_approved" in actions
        for e in events:  # ids and states, never text
            assert "hello" not in repr(e.detail) and "second part" not in repr(e.detail)
    # An approved transcript is out of the reviewers' work: no more edits, not even opened.
    r = _save(second, pseudonym, seg.id, "changed", segs[0].version)
    assert r.status_code == 404  # type: ignore[attr-defined]


def test_stale_version_gets_the_conflict_page_with_both_texts(app: Flask, staff_app: Flask) -> None:
    pseudonym = transcribed_testimony(app, ["the machine text"])
    first, second = _reviewers(staff_app)
    seg = segments_of(staff_app, pseudonym)[0]
    assert _save(first, pseudonym, seg.id, "first version", seg.version).status_code == 303  # type: ignore[attr-defined]
    r = _save(second, pseudonym, seg.id, "second version", seg.version)
    assert r.status_code == 409  # type: ignore[attr-defined]
    html = r.get_data(as_text=True)  # type: ignore[attr-defined]
    assert "first version" in html and "second version" in html
    svc = staff_app.extensions["testimony"]
    with svc.db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        key = transcripts.testimony_key(svc.keyring, t)
        assert transcripts.unseal_segment(key, segments_of(staff_app, pseudonym)[0]).text == (
            "first version"
        )


def test_oversized_and_empty_edits_are_refused_and_nothing_is_saved(
    app: Flask, staff_app: Flask
) -> None:
    pseudonym = transcribed_testimony(app, ["short"])
    first, _second = _reviewers(staff_app)
    seg = segments_of(staff_app, pseudonym)[0]
    limit = staff_app.extensions["testimony"].config.review_max_segment_chars
    r = _save(first, pseudonym, seg.id, "x" * (limit + 1), seg.version)
    assert r.status_code == 400 and "too long" in r.get_data(as_text=True)  # type: ignore[attr-defined]
    r = _save(first, pseudonym, seg.id, "   ", seg.version)
    assert r.status_code == 400  # type: ignore[attr-defined]
    after = segments_of(staff_app, pseudonym)[0]
    assert after.version == seg.version and after.review_state == ReviewState.machine
    assert _state(staff_app, pseudonym) == TestimonyState.transcribed


def test_markup_in_a_segment_is_shown_as_text(app: Flask, staff_app: Flask) -> None:
    pseudonym = transcribed_testimony(app, ["plain"])
    first, _second = _reviewers(staff_app)
    seg = segments_of(staff_app, pseudonym)[0]
    evil = '<script>alert(1)</script><b onmouseover="x()">bold</b>'
    assert _save(first, pseudonym, seg.id, evil, seg.version).status_code == 303  # type: ignore[attr-defined]
    html = first.get(f"/staff/review/{pseudonym}").get_data(as_text=True)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert "<b onmouseover" not in html


def test_low_confidence_words_are_marked_and_queue_counts_them(
    app: Flask, staff_app: Flask
) -> None:
    pseudonym = transcribed_testimony(
        app, ["clear words", "mumbled once, mumbled"], low_word="mumbled"
    )
    first, _second = _reviewers(staff_app)
    html = first.get(f"/staff/review/{pseudonym}").get_data(as_text=True)
    assert re.search(r'<mark class="low">\s*mumbled</mark>', html)
    assert '<mark class="low"> clear' not in html
    # Two words in five are under the threshold: the share counts words, not segments.
    queue = first.get("/staff/review/?order=worst").get_data(as_text=True)
    assert pseudonym in queue and "40%" in queue
    with staff_app.extensions["testimony"].db.session() as s:
        rows = review.queue(s, 0.5)
        assert [(r.pseudonym, r.segments, r.low_confidence) for r in rows] == [(pseudonym, 2, 1)]
        assert (rows[0].words, rows[0].low_words, rows[0].low_share) == (5, 2, 0.4)


def test_audio_is_streamed_with_byte_ranges(app: Flask, staff_app: Flask) -> None:
    pseudonym = transcribed_testimony(app, ["x"])
    first, _second = _reviewers(staff_app)
    whole = first.get(f"/staff/review/{pseudonym}/audio/1")
    assert whole.status_code == 200 and whole.headers["Accept-Ranges"] == "bytes"
    body = whole.get_data()
    assert body[:4] == b"fLaC"
    part = first.get(f"/staff/review/{pseudonym}/audio/1", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(body)}"
    assert part.get_data() == body[100:200]
    tail = first.get(f"/staff/review/{pseudonym}/audio/1", headers={"Range": "bytes=-10"})
    assert tail.get_data() == body[-10:]
    beyond = first.get(
        f"/staff/review/{pseudonym}/audio/1", headers={"Range": f"bytes={len(body) + 5}-"}
    )
    assert beyond.status_code == 416
    assert first.get(f"/staff/review/{pseudonym}/audio/2").status_code == 404


def test_editor_pages_hold_a_window_of_segments_and_saving_returns_to_its_page(
    app: Flask, staff_app: Flask
) -> None:
    pseudonym = transcribed_testimony(app, [f"segment {i}" for i in range(5)])
    svc = staff_app.extensions["testimony"]
    segs = segments_of(staff_app, pseudonym)
    with svc.db.session() as s:
        testimony = review.find(s, pseudonym)
        page = review.editor(s, svc.keyring, testimony, 0.5, page=2, per_page=2)
        assert (page.page, page.pages, page.segments) == (2, 3, 5)
        assert [v.text for v in page.transcripts[0].segments] == ["segment 2", "segment 3"]
        assert [review.page_of(s, seg.id, per_page=2) for seg in segs] == [1, 1, 2, 2, 3]
        beyond = review.editor(s, svc.keyring, testimony, 0.5, page=9, per_page=2)
        assert beyond.page == 3 and [v.text for v in beyond.transcripts[0].segments] == [
            "segment 4"
        ]
    first, _second = _reviewers(staff_app)
    r = _save(first, pseudonym, segs[4].id, "segment four", segs[4].version)
    assert f"page=1#seg-{segs[4].id}" in r.location  # type: ignore[attr-defined]


def test_changes_reach_only_the_testimonys_own_segments_while_its_review_is_open(
    app: Flask, staff_app: Flask
) -> None:
    mine = transcribed_testimony(app, ["we met Ali at the gate"])
    other = transcribed_testimony(app, ["another story"])
    svc = staff_app.extensions["testimony"]
    (seg,) = segments_of(staff_app, mine)
    (foreign,) = segments_of(staff_app, other)
    a, b = "account:1", "account:2"
    with svc.db.session() as s:
        t = review.find(s, mine)
        attempts = (
            lambda sid, v: review.save(s, svc.keyring, t, sid, "changed", v, a, 4000),
            lambda sid, v: review.approve(s, t, sid, v, b),
            lambda sid, v: review.mark_span(
                s, svc.keyring, t, sid, v, RedactionCategory.person, a, "story"
            ),
        )
        # Another testimony's segment, named through this one: as if it did not exist.
        for attempt in attempts:
            with pytest.raises(review.ReviewError, match="not_found"):
                attempt(foreign.id, foreign.version)
        row = s.get(Segment, foreign.id)
        assert row is not None and row.review_state == ReviewState.machine
        assert row.version == foreign.version and row.edited_by is None
        # Once the transcript is approved the review is closed to every change.
        t.state = TestimonyState.transcript_approved
        for attempt in attempts:
            with pytest.raises(review.ReviewError, match="closed"):
                attempt(seg.id, seg.version)
        own = s.get(Segment, seg.id)
        assert own is not None and own.version == seg.version and own.approved_by is None
        assert s.scalars(select(RedactionMark)).all() == []
