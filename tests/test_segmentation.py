"""Split and merge: word timings kept, later segments renumbered and sealed again for their
new place, marks following their words, versions checked, four eyes reset, events written."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from intake.models import Event, RedactionCategory, RedactionMark, ReviewState, Role
from intake.review import review, segmentation, transcripts
from tests import staff_support
from tests.staff_support import (
    FakeResult,
    FakeSegment,
    FakeWord,
    ready_account,
    segments_of,
    sign_in,
    staff_client,
    transcribed_testimony,
)
from tests.support import csrf_token

ME, OTHER = "account:1", "account:2"


def _texts(app: Flask, pseudonym: str) -> list[str]:
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        key = transcripts.testimony_key(svc.keyring, review.find(s, pseudonym))
    # Opening every segment at its stored position proves each was re-sealed for it.
    return [transcripts.unseal_segment(key, seg).text for seg in segments_of(app, pseudonym)]


def test_split_keeps_word_timings_renumbers_and_reseals(app: Flask, staff_app: Flask) -> None:
    pseudonym = transcribed_testimony(app, ["zero", "one two three four", "five", "six"])
    svc = staff_app.extensions["testimony"]
    segs = segments_of(staff_app, pseudonym)
    target = segs[1]
    with svc.db.session() as s:
        t = review.find(s, pseudonym)
        review.approve(s, t, target.id, 1, OTHER)
    with svc.db.session() as s:
        t = review.find(s, pseudonym)
        review.mark_span(s, svc.keyring, t, target.id, 2, RedactionCategory.other, ME, "four")
        # A mark on an approved segment reopens it (version 3, edited by ME).
        with pytest.raises(review.ReviewError, match="stale"):
            segmentation.split(s, svc.keyring, t, target.id, 2, ME, at=9)
        # The cursor in the middle of "three" (offset 9) snaps to the nearer boundary, 8.
        left, right = segmentation.split(s, svc.keyring, t, target.id, 3, ME, at=9)
    assert _texts(staff_app, pseudonym) == ["zero", "one two", "three four", "five", "six"]
    after = segments_of(staff_app, pseudonym)
    assert [s.position for s in after] == [0, 1, 2, 3, 4]
    assert [s.id for s in after[3:]] == [segs[2].id, segs[3].id]
    left, right = after[1], after[2]
    assert left.review_state == right.review_state == ReviewState.edited
    assert left.edited_by == right.edited_by == ME and left.approved_by is None
    assert left.version == 4 and right.version == 1
    assert right.word_probabilities == [0.95, 0.95] and left.word_probabilities == [0.95, 0.95]
    with svc.db.session() as s:
        key = transcripts.testimony_key(svc.keyring, review.find(s, pseudonym))
        words = transcripts.unseal_segment(key, right).words
        assert [w[2].strip() for w in words] == ["three", "four"]
        assert right.start_s == float(words[0][0]) and left.end_s <= right.start_s
        (mark,) = s.scalars(select(RedactionMark)).all()
        assert mark.segment_id == right.id and (mark.char_start, mark.char_end) == (6, 10)
        actions = [e.action for e in s.scalars(select(Event)).all()]
        assert "segment_split" in actions


def test_split_before_typed_words_and_refusals(app: Flask, staff_app: Flask) -> None:
    pseudonym = transcribed_testimony(app, ["نام او علي بود"])
    svc = staff_app.extensions["testimony"]
    seg = segments_of(staff_app, pseudonym)[0]
    with svc.db.session() as s:
        t = review.find(s, pseudonym)
        with pytest.raises(review.ReviewError, match="split_where"):
            segmentation.split(s, svc.keyring, t, seg.id, 1, ME, before="Evin")
        with pytest.raises(review.ReviewError, match="split_edge"):
            segmentation.split(s, svc.keyring, t, seg.id, 1, ME, at=0)
        segmentation.split(s, svc.keyring, t, seg.id, 1, ME, before="علی")
    assert _texts(staff_app, pseudonym) == ["نام او", "علي بود"]


def test_merge_joins_neighbours_and_moves_the_rest_up(app: Flask, staff_app: Flask) -> None:
    pseudonym = transcribed_testimony(app, ["a b", "c d", "e", "f"])
    svc = staff_app.extensions["testimony"]
    segs = segments_of(staff_app, pseudonym)
    with svc.db.session() as s:
        t = review.find(s, pseudonym)
        review.mark_span(s, svc.keyring, t, segs[2].id, 1, RedactionCategory.date, ME, "e")
        with pytest.raises(review.ReviewError, match="stale"):
            segmentation.merge(s, svc.keyring, t, segs[1].id, 1, 7, ME)
        with pytest.raises(review.ReviewError, match="no_next"):
            segmentation.merge(s, svc.keyring, t, segs[3].id, 1, 1, ME)
        merged = segmentation.merge(s, svc.keyring, t, segs[1].id, 1, 1, ME)
        assert (merged.start_s, merged.end_s) == (segs[1].start_s, segs[2].end_s)
    assert _texts(staff_app, pseudonym) == ["a b", "c d e", "f"]
    after = segments_of(staff_app, pseudonym)
    assert [s.position for s in after] == [0, 1, 2] and after[2].id == segs[3].id
    assert after[1].word_probabilities == [0.95, 0.95, 0.95]
    with svc.db.session() as s:
        (mark,) = s.scalars(select(RedactionMark)).all()
        assert mark.segment_id == segs[1].id and (mark.char_start, mark.char_end) == (4, 5)
        key = transcripts.testimony_key(svc.keyring, review.find(s, pseudonym))
        assert len(transcripts.unseal_segment(key, after[1]).words) == 3


def test_split_and_merge_through_the_plain_forms(app: Flask, staff_app: Flask) -> None:
    pseudonym = transcribed_testimony(app, ["one two", "three"])
    client = staff_client(staff_app)
    sign_in(client, ready_account(staff_app, "r@example.org", [Role.reviewer]))
    first, second = segments_of(staff_app, pseudonym)
    base = f"/staff/review/{pseudonym}/segments"
    token = csrf_token(client, f"/staff/review/{pseudonym}")
    r = client.post(
        f"{base}/{first.id}/split", data={"csrf_token": token, "version": "1", "before": "two"}
    )
    assert r.status_code == 303
    assert _texts(staff_app, pseudonym) == ["one", "two", "three"]
    new = segments_of(staff_app, pseudonym)[1]
    r = client.post(
        f"{base}/{new.id}/merge",
        data={"csrf_token": token, "version": "1", "next_version": str(second.version)},
    )
    assert r.status_code == 303
    assert _texts(staff_app, pseudonym) == ["one", "two three"]
    r = client.post(
        f"{base}/{first.id}/merge",
        data={"csrf_token": token, "version": "1", "next_version": "1"},
    )
    assert r.status_code == 409 and "changed since you opened it" in r.get_data(as_text=True)


def test_the_pause_at_a_split_belongs_to_neither_half(
    app: Flask, staff_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "one two" spoken 0.0-0.8 s, a pause, then "three four" from 2.0 s.
    times = [(0.0, 0.3), (0.4, 0.8), (2.0, 2.4), (2.5, 2.9)]
    names = ["one", "two", "three", "four"]
    words = [FakeWord(a, b, " " + w, 0.9) for (a, b), w in zip(times, names, strict=True)]
    result = FakeResult(segments=[FakeSegment(0.0, 3.0, "one two three four", words)])
    monkeypatch.setattr(staff_support, "result_of", lambda *_a, **_k: result)
    pseudonym = transcribed_testimony(app, ["unused"])
    svc = staff_app.extensions["testimony"]
    (seg,) = segments_of(staff_app, pseudonym)
    with svc.db.session() as s:
        segmentation.split(s, svc.keyring, review.find(s, pseudonym), seg.id, 1, ME, at=8)
    left, right = segments_of(staff_app, pseudonym)
    assert (left.start_s, left.end_s) == (0.0, 0.8)  # ends with "two", not at 2.0 s
    assert (right.start_s, right.end_s) == (2.0, 3.0)
