"""Redaction marks: made on the saved text with a version check, stored as offsets and
times only, suggested from the removal notes, moved with a corrected text, read by
`marks_for`, and made and removed through the plain forms."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from intake.models import Event, RedactionCategory, RedactionMark, Role
from intake.review import redaction_marks, review, transcripts
from tests.staff_support import (
    ready_account,
    segments_of,
    sign_in,
    staff_client,
    transcribed_testimony,
)
from tests.support import csrf_token

ME, OTHER = "account:1", "account:2"


def test_a_mark_covers_the_word_times_and_stores_no_text(app: Flask, staff_app: Flask) -> None:
    pseudonym = transcribed_testimony(app, ["we met Ali Karimi at the gate", "then home"])
    svc = staff_app.extensions["testimony"]
    seg = segments_of(staff_app, pseudonym)[0]
    with svc.db.session() as s:
        t = review.find(s, pseudonym)
        mark = review.mark_span(
            s, svc.keyring, t, seg.id, seg.version, RedactionCategory.person, ME, "ali karimi"
        )
        # Words are 0.4 s long from 0.0 in fake_result: "Ali" is the third word.
        assert (mark.char_start, mark.char_end) == (7, 17)
        assert (mark.start_s, mark.end_s) == (0.0, 0.4)
        with pytest.raises(review.ReviewError, match="overlap"):
            review.mark_span(
                s, svc.keyring, t, seg.id, seg.version, RedactionCategory.place, ME, "Karimi"
            )
        with pytest.raises(review.ReviewError, match="stale"):
            review.mark_span(
                s, svc.keyring, t, seg.id, seg.version - 1, RedactionCategory.place, ME, "gate"
            )
        with pytest.raises(review.ReviewError, match="not_in_text"):
            review.mark_span(
                s, svc.keyring, t, seg.id, seg.version, RedactionCategory.place, ME, "Evin"
            )
        # A browser selection's offsets are used when they still hold the words.
        gate = review.mark_span(
            s, svc.keyring, t, seg.id, seg.version, RedactionCategory.place, ME, "gate", 25, 29
        )
        assert (gate.char_start, gate.char_end) == (25, 29)
        marks = redaction_marks.marks_for(s, t.id)
        assert [(m.category, m.segment_id, m.char_start) for m in marks] == [
            (RedactionCategory.person, seg.id, 7),
            (RedactionCategory.place, seg.id, 25),
        ]
        row = s.get(RedactionMark, mark.id)
        assert row is not None and "Karimi" not in repr(vars(row))
        events = s.scalars(select(Event).where(Event.testimony_id == t.id)).all()
        assert [e.action for e in events].count("redaction_marked") == 2
        assert all("Karimi" not in repr(e.detail) for e in events)


def test_suggestions_come_from_the_removal_notes_with_persian_normalisation(
    app: Flask, staff_app: Flask
) -> None:
    pseudonym = transcribed_testimony(
        app, ["او را در زندان اوين دیدم", "علی کریمی"], removal_notes="اوین\nعلي كريمي"
    )
    svc = staff_app.extensions["testimony"]
    with svc.db.session() as s:
        t = review.find(s, pseudonym)
        page = review.editor(s, svc.keyring, t, 0.5)
        first, second = page.transcripts[0].segments
        assert [g.text for g in first.suggestions] == ["اوين"]
        assert [g.text for g in second.suggestions] == ["علی کریمی"]
        g = first.suggestions[0]
        review.mark_span(
            s,
            svc.keyring,
            t,
            first.id,
            first.version,
            RedactionCategory.place,
            ME,
            g.text,
            g.start,
            g.end,
        )
        s.flush()
        again = review.editor(s, svc.keyring, t, 0.5).transcripts[0].segments[0]
        assert again.suggestions == () and [m.text for m in again.marks] == ["اوين"]
        assert '<mark class="redact cat-place">اوين</mark>' in str(again.redacted)


def test_a_correction_moves_marks_onto_the_same_words_or_drops_them(
    app: Flask, staff_app: Flask
) -> None:
    pseudonym = transcribed_testimony(app, ["we met Ali at the gate"])
    svc = staff_app.extensions["testimony"]
    seg = segments_of(staff_app, pseudonym)[0]
    with svc.db.session() as s:
        t = review.find(s, pseudonym)
        ali = review.mark_span(s, svc.keyring, t, seg.id, 1, RedactionCategory.person, ME, "Ali")
        gate = review.mark_span(s, svc.keyring, t, seg.id, 1, RedactionCategory.place, ME, "gate")
        ids = ali.id, gate.id
    with svc.db.session() as s:
        t = review.find(s, pseudonym)
        review.save(s, svc.keyring, t, seg.id, "yes, we met Ali at the door", 1, OTHER, 4000)
    with svc.db.session() as s:
        assert s.get(RedactionMark, ids[1]) is None
        moved = s.get(RedactionMark, ids[0])
        assert moved is not None and (moved.char_start, moved.char_end) == (12, 15)
        t = review.find(s, pseudonym)
        text = transcripts.unseal_segment(
            transcripts.testimony_key(svc.keyring, t), segments_of(staff_app, pseudonym)[0]
        ).text
        assert text[moved.char_start : moved.char_end] == "Ali"


def test_marks_through_the_plain_forms(app: Flask, staff_app: Flask) -> None:
    pseudonym = transcribed_testimony(app, ["<b>Ali</b> said so"])
    client = staff_client(staff_app)
    sign_in(client, ready_account(staff_app, "r@example.org", [Role.reviewer]))
    seg = segments_of(staff_app, pseudonym)[0]
    url = f"/staff/review/{pseudonym}/segments/{seg.id}/marks"
    token = csrf_token(client, f"/staff/review/{pseudonym}")
    r = client.post(
        url, data={"csrf_token": token, "version": "1", "category": "person", "words": "Evin"}
    )
    assert r.status_code == 400 and "not in the segment" in r.get_data(as_text=True)
    r = client.post(
        url, data={"csrf_token": token, "version": "1", "category": "person", "words": "said"}
    )
    assert r.status_code == 303 and f"#seg-{seg.id}" in r.location
    html = client.get(r.location).get_data(as_text=True)
    assert "Marked for redaction." in html and "<b>Ali" not in html
    assert '<mark class="redact cat-person">said</mark>' in html
    assert 'class="redact"' in html  # the timeline's link to the span
    with staff_app.extensions["testimony"].db.session() as s:
        (mark,) = s.scalars(select(RedactionMark)).all()
        mark_id = mark.id
    r = client.post(f"{url}/{mark_id}/remove", data={"csrf_token": token, "version": "1"})
    assert r.status_code == 303
    with staff_app.extensions["testimony"].db.session() as s:
        assert s.scalars(select(RedactionMark)).all() == []


# --- the pure parts: spans, overlaps, moved words ---------------------------------------------

TEXT = "we met Ali at the gate"
WORDS = [
    [0.0, 0.4, "we"],
    [0.4, 0.8, "met"],
    [0.8, 1.2, "Ali"],
    [1.2, 1.6, "at"],
    [1.6, 2.0, "the"],
    [2.0, 2.4, "gate"],
]


def _mark(start: int, end: int, category: RedactionCategory = RedactionCategory.person) -> Any:
    return SimpleNamespace(char_start=start, char_end=end, category=category)


def test_a_span_takes_the_times_of_the_words_it_covers_and_not_of_those_it_touches() -> None:
    times = redaction_marks.span_times
    assert times(TEXT, WORDS, 0.0, 2.4, 7, 10) == (0.8, 1.2)
    # "met" ends where the span starts and "at" starts where it ends: neither is inside.
    assert times(TEXT, WORDS, 0.0, 2.4, 6, 11) == (0.8, 1.2)
    assert times(TEXT, WORDS, 0.0, 2.4, 4, 12) == (0.4, 1.6)


def test_marks_that_meet_do_not_overlap_and_those_that_share_a_letter_do() -> None:
    text = "AliRezaKarimi at the gate"
    reza = [_mark(3, 7)]
    assert redaction_marks.checked_span(text, 0, 3, reza) == (0, 3)
    assert redaction_marks.checked_span(text, 7, 14, reza) == (7, 13)  # trimmed
    for start, end in ((0, 4), (6, 13), (4, 5)):
        with pytest.raises(redaction_marks.MarkError, match="overlap"):
            redaction_marks.checked_span(text, start, end, reza)
    # The span may reach the end of the text but not past it, and must hold a letter.
    assert redaction_marks.checked_span(text, 21, len(text), reza) == (21, 25)
    for start, end in ((21, len(text) + 1), (-1, 3), (5, 5), (13, 14)):
        with pytest.raises(redaction_marks.MarkError, match="no_span"):
            redaction_marks.checked_span(text, start, end, reza)


def test_locate_trusts_a_selection_only_while_it_holds_the_words() -> None:
    locate = redaction_marks.locate
    text = "Ali said Ali"
    assert locate(text, "Ali", [], 9, 12) == (9, 12)
    # Offsets that no longer hold the words: the first unmarked occurrence instead.
    assert locate(text, "Ali", [], 4, 8) == (0, 3)
    assert locate(text, "Ali", [_mark(0, 3)]) == (9, 12)
    with pytest.raises(redaction_marks.MarkError, match="overlap"):
        locate(text, "Ali", [_mark(0, 3), _mark(9, 12)])
    with pytest.raises(redaction_marks.MarkError, match="not_in_text"):
        locate(text, "Evin", [])
    with pytest.raises(redaction_marks.MarkError, match="no_span"):
        locate(text, "  ", [])
    with pytest.raises(redaction_marks.MarkError, match="no_span"):
        locate(text, " ", [], 3, 4)


def test_a_moved_mark_goes_to_the_nearest_same_words() -> None:
    old = "Ali and Ali"
    new = "x Ali and Ali"
    assert redaction_marks.relocate(old, new, 8, 11) == (10, 13)
    assert redaction_marks.relocate(old, new, 0, 3) == (2, 5)
    assert redaction_marks.relocate(old, "nobody", 0, 3) is None


def test_suggestions_skip_marked_words_and_missing_categories_are_named() -> None:
    text = "Ali met Ali in Evin"
    assert redaction_marks.suggest(text, ["Ali", "Evin"], [_mark(0, 3)]) == [(8, 11), (15, 19)]
    source = [_mark(0, 3), _mark(15, 19, RedactionCategory.place), _mark(8, 11)]
    assert redaction_marks.unmatched(source, [_mark(0, 6)]) == (RedactionCategory.place,)
    assert redaction_marks.unmatched(source, source) == ()
    assert redaction_marks.unmatched(source, []) == (
        RedactionCategory.person,
        RedactionCategory.place,
    )
