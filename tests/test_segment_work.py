"""The one state machine of segment work (`intake.review.segment_work`), as review and translation
use it: an approval names the version the approver saw; a mark added or removed after approval
sends the segment back for another pair of eyes (issue 14 item 6); translations carry their own
marks, suggested from the source's, refused approval while a marked category is missing, and
exported redacted rather than dropped (issue 14 item 7)."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from intake.events import Action
from intake.export import gather
from intake.models import (
    AudioFile,
    Event,
    RedactionCategory,
    RedactionMark,
    ReviewState,
    Role,
    Segment,
    Testimony,
    TestimonyState,
    TranslationMark,
)
from intake.review import alignment, review, translation
from intake.review.segment_work import Selection
from tests.staff_support import (
    ready_account,
    segments_of,
    sign_in,
    staff_client,
    transcribed_testimony,
)
from tests.support import csrf_token, worker_keyring
from tests.translation_support import add_terms, approved_testimony, source_segments

A, B, C = "account:1", "account:2", "account:3"
MAX = 4000


def _actions(s: object, testimony_id: int) -> list[str]:
    return [
        e.action
        for e in s.scalars(  # type: ignore[attr-defined]
            select(Event).where(Event.testimony_id == testimony_id).order_by(Event.seq)
        )
    ]


def test_a_mark_removed_after_approval_sends_the_segment_back_to_four_eyes(
    app: Flask, staff_app: Flask
) -> None:
    """Issue 14 item 6: B marked a name and approved; A removed the mark and, before, could
    then approve the rest alone and publish the name. Now A's removal is an edit by A."""
    pseudonym = transcribed_testimony(app, ["we met Ali Karimi at the gate"])
    svc = staff_app.extensions["testimony"]
    (seg,) = segments_of(staff_app, pseudonym)
    with svc.db.session() as s:
        t = review.find(s, pseudonym)
        mark = review.mark_span(
            s, svc.keyring, t, seg.id, seg.version, RedactionCategory.person, B, "Ali Karimi"
        )
        row = s.get(Segment, seg.id)
        assert row is not None and row.review_state == ReviewState.machine  # nothing approved
        review.approve(s, t, seg.id, row.version, B)
        assert row.review_state == ReviewState.approved
        # The segment is the last one: the transcript went to transcript_approved. Reopen the
        # review as a second file would keep it open, to reach the reported sequence.
        t.state = TestimonyState.in_review
        approved_version = row.version
        # A removal names the version its remover saw, like every other change.
        with pytest.raises(review.ReviewError, match="stale"):
            review.unmark(s, t, seg.id, mark.id, approved_version - 1, A)
        assert s.get(RedactionMark, mark.id) is not None
        assert row.review_state == ReviewState.approved and row.version == approved_version
        review.unmark(s, t, seg.id, mark.id, approved_version, A)
        assert row.review_state == ReviewState.edited
        assert (row.edited_by, row.approved_by) == (A, None)
        assert row.version == approved_version + 1
        with pytest.raises(review.ReviewError, match="own_edit"):
            review.approve(s, t, seg.id, row.version, A)
        assert _actions(s, t.id)[-2:] == [Action.redaction_removed, Action.segment_reopened]
        reopened = s.scalars(select(Event).where(Event.action == Action.segment_reopened)).one()
        assert reopened.detail is not None
        assert reopened.detail["from"] == "approved" and reopened.detail["to"] == "edited"
        assert reopened.detail["because"] == "redaction_removed"
        # Another reviewer looks again: approved, and the transcript with it.
        review.approve(s, t, seg.id, row.version, C)
        assert row.review_state == ReviewState.approved and row.approved_by == C


def test_a_mark_added_after_approval_also_reopens_and_an_unapproved_one_does_not(
    app: Flask, staff_app: Flask
) -> None:
    pseudonym = transcribed_testimony(app, ["we met Ali Karimi at the gate", "then home"])
    svc = staff_app.extensions["testimony"]
    first, second = segments_of(staff_app, pseudonym)
    with svc.db.session() as s:
        t = review.find(s, pseudonym)
        review.approve(s, t, first.id, first.version, B)
        row = s.get(Segment, first.id)
        assert row is not None and row.review_state == ReviewState.approved
        review.mark_span(
            s, svc.keyring, t, first.id, row.version, RedactionCategory.place, A, "gate"
        )
        assert row.review_state == ReviewState.edited and row.edited_by == A
        other = s.get(Segment, second.id)
        assert other is not None
        review.mark_span(
            s, svc.keyring, t, second.id, other.version, RedactionCategory.place, A, "home"
        )
        assert other.review_state == ReviewState.machine and other.edited_by is None
        assert _actions(s, t.id).count(Action.segment_reopened) == 1


def test_approving_refuses_a_version_the_approver_did_not_see(app: Flask, staff_app: Flask) -> None:
    """An approval names the version on the approver's screen: a segment saved since (by
    someone else) is not approved on the strength of the older text."""
    pseudonym = transcribed_testimony(app, ["first words", "second words"])
    svc = staff_app.extensions["testimony"]
    seg = segments_of(staff_app, pseudonym)[0]
    with svc.db.session() as s:
        t = review.find(s, pseudonym)
        seen = seg.version
        review.save(s, svc.keyring, t, seg.id, "first words, corrected", seen, A, MAX)
        before = len(_actions(s, t.id))
        with pytest.raises(review.ReviewError, match="stale"):
            review.approve(s, t, seg.id, seen, B)
        row = s.get(Segment, seg.id)
        assert row is not None
        # Nor a version that does not exist yet.
        with pytest.raises(review.ReviewError, match="stale"):
            review.approve(s, t, seg.id, row.version + 1, B)
        assert row is not None and row.review_state == ReviewState.edited
        assert row.approved_by is None and len(_actions(s, t.id)) == before
        review.approve(s, t, seg.id, row.version, B)
        assert row.review_state == ReviewState.approved
        # Approving it again writes nothing: the approver stays the one who looked first.
        approved, count = row.version, len(_actions(s, t.id))
        review.approve(s, t, seg.id, approved, C)
        assert (row.version, row.approved_by) == (approved, B)
        assert len(_actions(s, t.id)) == count


def _marked_source(app: Flask) -> tuple[str, int]:
    """A Persian testimony whose approved transcript marks the prison's name as a place."""
    text = "پدرم در اوین بود"
    pseudonym = approved_testimony(app, [text])
    (seg,) = source_segments(app, pseudonym)
    with app.extensions["testimony"].db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        at = text.index("اوین")
        s.add(
            RedactionMark(
                testimony_id=t.id,
                segment_id=seg.id,
                char_start=at,
                char_end=at + 4,
                start_s=seg.start_s,
                end_s=seg.end_s,
                category=RedactionCategory.place,
                created_by=A,
            )
        )
    return pseudonym, seg.id


def test_a_translation_is_marked_from_the_glossary_suggestion_and_exported_redacted(
    app: Flask,
) -> None:
    add_terms(app, [("اوین", "Evin Prison", "prison")])
    pseudonym, seg_id = _marked_source(app)
    svc = app.extensions["testimony"]
    keys = worker_keyring(app)
    with svc.db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        seg = s.get(Segment, seg_id)
        assert seg is not None
        row = translation.save(
            s, keys, t, seg_id, "My father was in Evin Prison", seg.version, 0, A, MAX
        )
        # The source marks a place; the translation marks none yet: no approval.
        with pytest.raises(translation.TranslationError, match="unmarked"):
            translation.approve(s, t, seg_id, row.version, B)
        bench = translation.workbench(s, keys, t)
        (view,) = bench.files[0].rows
        assert view.unmarked == (RedactionCategory.place,)
        # The suggestion is the glossary's English form, with the source mark's category.
        (hint,) = view.suggestions
        assert (hint.text, hint.category) == ("Evin Prison", RedactionCategory.place)
        mark = translation.mark_words(
            s,
            keys,
            t,
            seg_id,
            row.version,
            Selection(hint.text, hint.start, hint.end),
            RedactionCategory.place,
            A,
        )
        assert (mark.char_start, mark.char_end) == (17, 28)
        assert row.state == ReviewState.edited  # marking an unapproved one changes no state
        translation.approve(s, t, seg_id, row.version, B)
        assert t.state == TestimonyState.approved
        # The alignment job's work for segments approved unchanged (no model needed).
        alignment.align_unchanged(s, keys, t.id, "test")
        files = list(s.scalars(select(AudioFile).where(AudioFile.testimony_id == t.id)))
        transcript = gather.approved_transcript(s, keys, t, files, B)
        assert transcript is not None
        exported = gather.translation_of(s, keys, t, transcript)
        assert exported is not None
        # The approved translation goes, with the marked name replaced by its category.
        assert [x.text for x in exported.segments] == ["My father was in [place]"]


def test_a_translation_mark_removed_after_approval_needs_approval_again(app: Flask) -> None:
    pseudonym = approved_testimony(app, ["یک", "دو"])
    first, second = source_segments(app, pseudonym)
    svc = app.extensions["testimony"]
    keys = worker_keyring(app)
    with svc.db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        row = translation.save(s, keys, t, first.id, "I met Ali there", first.version, 0, A, MAX)
        translation.save(s, keys, t, second.id, "Two", second.version, 0, A, MAX)
        mark = translation.mark_words(
            s, keys, t, first.id, row.version, Selection("ali"), RedactionCategory.person, A
        )
        with pytest.raises(translation.TranslationError, match="stale"):
            translation.approve(s, t, first.id, row.version - 1, B)
        translation.approve(s, t, first.id, row.version, B)
        assert row.state == ReviewState.approved
        translation.unmark(s, keys, t, first.id, mark.id, row.version, A)
        assert row.state == ReviewState.edited and (row.edited_by, row.approved_by) == (A, None)
        assert _actions(s, t.id)[-1] == Action.translation_reopened
        with pytest.raises(translation.TranslationError, match="own_edit"):
            translation.approve(s, t, first.id, row.version, A)
        assert s.scalars(select(TranslationMark)).all() == []


def test_a_corrected_translation_keeps_its_marks_on_the_same_words(app: Flask) -> None:
    pseudonym = approved_testimony(app, ["یک"])
    (seg,) = source_segments(app, pseudonym)
    svc = app.extensions["testimony"]
    keys = worker_keyring(app)
    with svc.db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        row = translation.save(s, keys, t, seg.id, "Ali came home", seg.version, 0, A, MAX)
        translation.mark_words(
            s, keys, t, seg.id, row.version, Selection("Ali"), RedactionCategory.person, A
        )
        longer = "That night Ali came home"
        translation.save(s, keys, t, seg.id, longer, seg.version, row.version, B, MAX)
        (moved,) = s.scalars(select(TranslationMark)).all()
        assert (moved.char_start, moved.char_end) == (11, 14)
        translation.save(s, keys, t, seg.id, "He came home", seg.version, row.version, B, MAX)
        assert s.scalars(select(TranslationMark)).all() == []


def test_a_translation_approved_before_it_had_marks_goes_as_placeholders_only(
    app: Flask,
) -> None:
    """A translation approved before this revision has no marks of its own although its source
    marks a place: the name may stand in it anywhere, so the export keeps the placeholders."""
    pseudonym, seg_id = _marked_source(app)
    svc = app.extensions["testimony"]
    keys = worker_keyring(app)
    with svc.db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        seg = s.get(Segment, seg_id)
        assert seg is not None
        row = translation.save(s, keys, t, seg_id, "My father was in Evin", seg.version, 0, A, MAX)
        row.state, row.approved_by = ReviewState.approved, B  # as the old approval left it
        s.flush()
        # The alignment job's work for segments approved unchanged (no model needed).
        alignment.align_unchanged(s, keys, t.id, "test")
        files = list(s.scalars(select(AudioFile).where(AudioFile.testimony_id == t.id)))
        transcript = gather.approved_transcript(s, keys, t, files, B)
        assert transcript is not None
        exported = gather.translation_of(s, keys, t, transcript)
        assert exported is not None
        assert [x.text for x in exported.segments] == ["[place]"]


def test_the_translation_mark_forms_refuse_clearly_in_both_languages_and_write_nothing(
    app: Flask, staff_app: Flask
) -> None:
    pseudonym, seg_id = _marked_source(app)
    translator = ready_account(staff_app, "t@example.org", [Role.translator])
    client = staff_client(staff_app)
    sign_in(client, translator)
    url = f"/staff/translate/{pseudonym}"
    token = csrf_token(client, url)
    with staff_app.extensions["testimony"].db.session() as s:
        seg = s.get(Segment, seg_id)
        assert seg is not None
        source_version = seg.version
    saved = client.post(
        f"{url}/segments/{seg_id}",
        data={
            "csrf_token": token,
            "text": "My father was in Evin",
            "source_version": source_version,
            "version": 0,
        },
    )
    assert saved.status_code == 303
    page = client.get(url).get_data(as_text=True)
    assert "does not mark yet: place" in page
    form = {"csrf_token": token, "version": "1", "category": "place"}
    missing = client.post(f"{url}/segments/{seg_id}/marks", data={**form, "words": "Tehran"})
    assert missing.status_code == 400
    assert "Those words are not in the translation" in missing.get_data(as_text=True)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fa"
    approve = client.post(
        f"{url}/segments/{seg_id}/approve", data={"csrf_token": token, "version": "1"}
    )
    assert approve.status_code == 400  # refused before four eyes: the place is not marked
    assert "نخست آن‌ها را در ترجمه علامت بزنید" in approve.get_data(as_text=True)
    stale = client.post(
        f"{url}/segments/{seg_id}/marks", data={**form, "version": "0", "words": "Evin"}
    )
    assert stale.status_code == 409
    bad = client.post(
        f"{url}/segments/{seg_id}/marks", data={**form, "category": "nothing", "words": "Evin"}
    )
    assert bad.status_code == 400
    with staff_app.extensions["testimony"].db.session() as s:
        assert s.scalars(select(TranslationMark)).all() == []
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    marked = client.post(f"{url}/segments/{seg_id}/marks", data={**form, "words": "evin"})
    assert marked.status_code == 303
    with staff_app.extensions["testimony"].db.session() as s:
        (mark,) = s.scalars(select(TranslationMark)).all()
        assert (mark.char_start, mark.char_end, mark.category) == (17, 21, RedactionCategory.place)
