"""Word times that belong to the approved text: a saved segment waits for the alignment of its
corrected words, the alignment is sealed with the text it was made from, marks take its times,
and a reviewer can widen a mark by ear. (The model's own alignment is exercised in
tests/workers/test_alignment_model.py; here the words come as the worker would store them.)"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from flask import Flask
from sqlalchemy import select

from intake.models import (
    Event,
    Job,
    JobKind,
    RedactionCategory,
    RedactionMark,
    Role,
    SegmentAlignment,
)
from intake.review import access_copies, alignment, review
from intake.review.alignment import AlignedWord, approved_words
from tests.staff_support import (
    ready_account,
    segments_of,
    sign_in,
    staff_client,
    transcribed_testimony,
)
from tests.support import csrf_token
from workers.alignment import _timed

ME, OTHER = "account:1", "account:2"
HEARD = "my brother was held in Evan prison"
CORRECTED = "my brother was held in Evin prison"


def _aligned(text: str, start: float = 1.0, step: float = 0.3) -> list[AlignedWord]:
    return [
        AlignedWord(w.text, w.char_start, w.char_end, start + i * step, start + (i + 1) * step, 0.9)
        for i, w in enumerate(approved_words(text))
    ]


def test_approved_words_are_the_texts_words_with_their_offsets() -> None:
    words = approved_words("  در زندانِ اوین،\n1988 ")
    assert [(w.text, w.char_start, w.char_end) for w in words] == [
        ("در", 2, 4),
        ("زندانِ", 5, 11),
        ("اوین،", 12, 17),
        ("1988", 18, 22),
    ]


def test_word_times_come_from_the_alignment_path_one_span_per_word() -> None:
    # Tokens 0-1 are "Evin", token 2 "prison", index 3 the end of text; the path jumps to
    # each text index at frames 0, 5, 10 and 20 (50 frames a second).
    result = SimpleNamespace(
        alignments=[(0, 0), (0, 1), (1, 5), (2, 10), (2, 12), (3, 20)],
        text_token_probs=[0.5, 0.7, 0.9],
    )
    words = approved_words("Evin prison")
    timed = _timed(words, [[11, 12], [13]], result, 50, 2.0, 1.0)
    assert [(w.text, round(w.start, 3), round(w.end, 3)) for w in timed] == [
        ("Evin", 2.0, 2.2),
        ("prison", 2.2, 2.4),
    ]
    assert timed[0].probability == pytest.approx(0.6)
    # Clipped to the window: nothing is placed after the audio it was aligned on.
    short = _timed(words, [[11, 12], [13]], result, 50, 2.0, 0.3)
    assert max(w.end for w in short) <= 2.3


def test_a_corrected_segment_waits_for_its_alignment_and_its_mark_takes_the_aligned_time(
    app: Flask, staff_app: Flask
) -> None:
    pseudonym = transcribed_testimony(app, [HEARD, "no news came"])
    svc = staff_app.extensions["testimony"]
    first, second = segments_of(staff_app, pseudonym)
    with svc.db.session() as s:
        t = review.find(s, pseudonym)
        # Nothing is aligned yet; segments heard as written keep the machine's own times.
        assert alignment.unaligned(s, svc.keyring, t) == 2
        review.save(s, svc.keyring, t, first.id, CORRECTED, first.version, ME, 2000)
        review.save(s, svc.keyring, t, first.id, CORRECTED + ".", first.version + 1, ME, 2000)
        review.save(s, svc.keyring, t, first.id, CORRECTED, first.version + 2, ME, 2000)
        # One job for several saves while it waits.
        kinds = s.scalars(select(Job.kind).where(Job.testimony_id == t.id)).all()
        assert kinds.count(JobKind.align) == 1
        mark = review.mark_span(
            s, svc.keyring, t, first.id, first.version + 3, RedactionCategory.place, ME, "Evin"
        )
        s.flush()
        assert alignment.align_unchanged(s, svc.keyring, t.id, "test") == 1
        waiting = alignment.pending(s, svc.keyring, t.id)
        assert [(p.segment_id, p.text) for p in waiting] == [(first.id, CORRECTED)]
        assert [w.text for w in waiting[0].words] == CORRECTED.split()

        words = _aligned(CORRECTED)  # "Evin" is the sixth word: 2.5 to 2.8 s
        assert alignment.store(s, svc.keyring, first.id, CORRECTED, words, "base")
        assert (mark.start_s, mark.end_s) == pytest.approx((2.5, 2.8))
        assert alignment.unaligned(s, svc.keyring, t) == 0
        row = s.scalars(
            select(SegmentAlignment).where(SegmentAlignment.segment_id == first.id)
        ).one()
        assert b"Evin" not in row.sealed and "Evin" not in repr(vars(row))
        events = s.scalars(select(Event).where(Event.testimony_id == t.id)).all()
        assert "words_aligned" in [e.action for e in events]
        assert all("Evin" not in repr(e.detail) for e in events)

        # Words of another text, or of a text edited since, are refused.
        with pytest.raises(ValueError, match="not the text's words"):
            alignment.store(s, svc.keyring, first.id, CORRECTED, words[:-1], "base")
        assert not alignment.store(s, svc.keyring, first.id, HEARD, _aligned(HEARD), "base")

        # A new mark on an aligned segment takes the aligned time at once.
        prison = review.mark_span(
            s, svc.keyring, t, first.id, first.version + 3, RedactionCategory.place, ME, "prison"
        )
        assert (prison.start_s, prison.end_s) == pytest.approx((2.8, 3.1))

        # Editing again makes the alignment stale: the segment waits again.
        review.save(s, svc.keyring, t, first.id, CORRECTED + " then", first.version + 3, ME, 2000)
        assert [p.segment_id for p in alignment.pending(s, svc.keyring, t.id)] == [first.id]
        assert second.id not in [p.segment_id for p in alignment.pending(s, svc.keyring, t.id)]


def test_a_reviewer_widens_a_mark_by_ear_within_limits(app: Flask, staff_app: Flask) -> None:
    pseudonym = transcribed_testimony(app, [HEARD])
    svc = staff_app.extensions["testimony"]
    (seg,) = segments_of(staff_app, pseudonym)
    with svc.db.session() as s:
        t = review.find(s, pseudonym)
        mark = review.mark_span(
            s, svc.keyring, t, seg.id, seg.version, RedactionCategory.place, ME, "Evan"
        )
        s.flush()
        before = access_copies.marks_for(s, t.id)[0]
        alignment.set_padding(s, t, mark.id, 0.25, 0.5, ME, 2.0)
        after = access_copies.marks_for(s, t.id)[0]
        assert after.start_s == pytest.approx(max(0.0, before.start_s - 0.25))
        assert after.end_s == pytest.approx(before.end_s + 0.5)
        for bad in (-0.1, 2.5, float("nan")):
            with pytest.raises(ValueError, match="pad_range"):
                alignment.set_padding(s, t, mark.id, bad, 0.0, ME, 2.0)
        with pytest.raises(LookupError):
            alignment.set_padding(s, t, mark.id + 99, 0.1, 0.1, ME, 2.0)
        actions = s.scalars(select(Event.action).where(Event.testimony_id == t.id)).all()
        assert actions.count("redaction_mark_widened") == 1


def test_the_editor_shows_aligned_words_and_widens_a_mark_by_ear(
    app: Flask, staff_app: Flask
) -> None:
    pseudonym = transcribed_testimony(app, [HEARD, "no news came"])
    client = staff_client(staff_app)
    sign_in(client, ready_account(staff_app, "r@example.org", [Role.reviewer]))
    svc = staff_app.extensions["testimony"]
    first, _ = segments_of(staff_app, pseudonym)
    with svc.db.session() as s:
        t = review.find(s, pseudonym)
        review.save(s, svc.keyring, t, first.id, CORRECTED, first.version, ME, 2000)
        mark = review.mark_span(
            s, svc.keyring, t, first.id, first.version + 1, RedactionCategory.place, ME, "Evin"
        )
        s.flush()
        mark_id = mark.id
        alignment.align_unchanged(s, svc.keyring, t.id, "test")
    html = client.get(f"/staff/review/{pseudonym}").get_data(as_text=True)
    assert html.count('class="hint aligning"') == 1  # the corrected segment waits
    with svc.db.session() as s:
        alignment.store(s, svc.keyring, first.id, CORRECTED, _aligned(CORRECTED), "base")
    html = client.get(f"/staff/review/{pseudonym}").get_data(as_text=True)
    assert 'class="hint aligning"' not in html
    assert '<span class="aligned-word silenced" data-start="2.50" data-end="2.80"' in html
    assert html.count("aligned-word silenced") == 1
    # The span shown includes the configured margin (0.15 s).
    assert "silenced from 2.35 to 2.95 s" in html

    url = f"/staff/review/{pseudonym}/segments/{first.id}/marks/{mark_id}/widen"
    token = csrf_token(client, f"/staff/review/{pseudonym}")
    for bad in ("abc", "9", "-1"):
        r = client.post(url, data={"csrf_token": token, "before": bad, "after": "0"})
        assert r.status_code == 400 and "Nothing was changed" in r.get_data(as_text=True)
    r = client.post(url, data={"csrf_token": token, "before": "0.2", "after": "0.35"})
    assert r.status_code == 303
    html = client.get(r.location).get_data(as_text=True)
    assert "silenced from 2.15 to 3.30 s" in html and "widened" in html
    with svc.db.session() as s:
        row = s.get(RedactionMark, mark_id)
        assert row is not None and (row.pad_before_s, row.pad_after_s) == (0.2, 0.35)
