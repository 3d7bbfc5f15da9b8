"""Translation per review segment: drafts accepted as `edited`, four eyes, the version checks
against the translation and against its source segment, the testimony approved at the end,
draft jobs queued only where a draft is possible and consented, and the pages."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import select

from intake.events import Action
from intake.models import (
    Event,
    Job,
    JobKind,
    ReviewState,
    Role,
    Segment,
    Testimony,
    TestimonyState,
    TranslationSegment,
)
from intake.review import translation
from tests.staff_support import ready_account, sign_in, staff_client
from tests.support import ALL_CONSENT, csrf_token, worker_keyring
from tests.translation_support import add_terms, approved_testimony, source_segments

A, B = "account:1", "account:2"
MAX = 4000


def _drafts(app: Flask, pseudonym: str, texts: dict[int, str]) -> None:
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        translation.add_drafts(s, worker_keyring(app), t, None, texts, "test", "worker")  # type: ignore[arg-type]


def test_draft_accepted_is_edited_and_four_eyes_approve_the_testimony(app: Flask) -> None:
    pseudonym = approved_testimony(app, ["پدرم در اوین بود", "مادرم نامه نوشت"])
    first, second = source_segments(app, pseudonym)
    _drafts(app, pseudonym, {first.id: "My father was in Evin"})
    svc = app.extensions["testimony"]
    keys = worker_keyring(app)
    with svc.db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        row = translation.accept_draft(s, keys, t, first.id, first.version, 0, A, MAX)
        assert row.state == ReviewState.edited and row.from_draft and row.edited_by == A
        assert t.state == TestimonyState.in_translation
        translation.save(s, keys, t, second.id, "My mother wrote", second.version, 0, A, MAX)
        with pytest.raises(translation.TranslationError) as own:
            translation.approve(s, t, first.id, 1, A)
        assert own.value.reason == "own_edit"
        translation.approve(s, t, first.id, 1, B)
        assert t.state == TestimonyState.in_translation  # one segment still waits
        translation.approve(s, t, second.id, 1, B)
        assert t.state == TestimonyState.approved
        actions = [
            e.action
            for e in s.scalars(select(Event).where(Event.testimony_id == t.id).order_by(Event.seq))
        ]
    tail = actions[actions.index(Action.translation_started) :]
    assert tail == [
        Action.translation_started,
        Action.translation_draft_accepted,
        Action.translation_edited,
        Action.translation_segment_approved,
        Action.translation_segment_approved,
        Action.translation_completed,
        Action.translation_approved,
    ]


def test_a_source_segment_changed_since_is_caught_and_nothing_is_written(app: Flask) -> None:
    pseudonym = approved_testimony(app, ["یک", "دو"])
    first, _ = source_segments(app, pseudonym)
    svc = app.extensions["testimony"]
    keys = worker_keyring(app)
    with svc.db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        with pytest.raises(translation.TranslationError) as stale:
            translation.save(s, keys, t, first.id, "one", first.version - 1, 0, A, MAX)
        assert stale.value.reason == "source_changed"
        assert s.scalars(select(TranslationSegment)).first() is None
        translation.save(s, keys, t, first.id, "one", first.version, 0, A, MAX)
        # The segment is split since (its text and version change, as the editor does).
        seg = s.get(Segment, first.id)
        assert seg is not None
        seg.version += 1
        with pytest.raises(translation.TranslationError) as changed:
            translation.approve(s, t, first.id, 1, B)
        assert changed.value.reason == "source_changed"
        with pytest.raises(translation.TranslationError) as gone:
            translation.save(s, keys, t, 10_000, "one", 1, 0, A, MAX)  # merged away
        assert gone.value.reason == "source_changed"


def test_a_concurrent_translation_is_never_overwritten(app: Flask) -> None:
    pseudonym = approved_testimony(app, ["یک"])
    (first,) = source_segments(app, pseudonym)
    svc = app.extensions["testimony"]
    keys = worker_keyring(app)
    with svc.db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        translation.save(s, keys, t, first.id, "one", first.version, 0, A, MAX)
        with pytest.raises(translation.Conflict) as conflict:
            translation.save(s, keys, t, first.id, "a single one", first.version, 0, B, MAX)
        assert (conflict.value.theirs, conflict.value.yours) == ("one", "a single one")
        with pytest.raises(translation.TranslationError) as empty:
            translation.save(s, keys, t, first.id, "  ", first.version, 1, B, MAX)
        assert empty.value.reason == "empty"


def _draft_jobs(app: Flask, pseudonym: str) -> int:
    with app.extensions["testimony"].db.session() as s:
        return len(
            s.scalars(
                select(Job)
                .join(Testimony, Testimony.id == Job.testimony_id)
                .where(Testimony.pseudonym == pseudonym, Job.kind == JobKind.translate_draft)
            ).all()
        )


def test_draft_jobs_only_for_approved_persian_transcripts_with_consent(app: Flask) -> None:
    persian = approved_testimony(app, ["یک"])
    english = approved_testimony(app, ["one"], language="en")
    refused = approved_testimony(
        app, ["یک"], consent={k: v for k, v in ALL_CONSENT.items() if k != "translate"}
    )
    assert (_draft_jobs(app, persian), _draft_jobs(app, english), _draft_jobs(app, refused)) == (
        1,
        0,
        0,
    )


def _page(client: object, url: str) -> str:
    response = client.get(url)  # type: ignore[attr-defined]
    assert response.status_code == 200, response.status_code
    return str(response.get_data(as_text=True))


def test_pages_side_by_side_glossary_flag_html_as_text_and_roles(
    app: Flask, staff_app: Flask
) -> None:
    add_terms(staff_app, [("زندان اوین", "Evin Prison", "prison")])
    pseudonym = approved_testimony(app, ["در زندان اوين بودم <b>x</b>", "سلام"])
    first, second = source_segments(app, pseudonym)
    english = approved_testimony(app, ["I was there"], language="en")
    translator = ready_account(staff_app, "t@example.org", [Role.translator])
    reviewer = ready_account(staff_app, "r@example.org", [Role.reviewer])
    client = staff_client(staff_app)
    sign_in(client, translator)
    url = f"/staff/translate/{pseudonym}"
    html = _page(client, url)
    assert re.search(r'class="side source" dir="rtl" lang="fa"', html)
    assert re.search(r'class="side target" dir="ltr" lang="en"', html)
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert "Evin Prison" in html  # the term found (written with an Arabic yeh) is shown
    token = csrf_token(client, url)
    saved = client.post(
        f"{url}/segments/{first.id}",
        data={
            "csrf_token": token,
            "text": "I was in Evin jail <script>alert(1)</script>",
            "source_version": first.version,
            "version": 0,
        },
    )
    assert saved.status_code == 303
    html = _page(client, url)
    assert "Glossary check: this translation does not use" in html
    assert "&lt;script&gt;" in html and "<script>alert" not in html
    stale = client.post(
        f"{url}/segments/{second.id}",
        data={"csrf_token": token, "text": "Hello", "source_version": 0, "version": 0},
    )
    assert stale.status_code == 409
    assert "changed since you opened it" in stale.get_data(as_text=True)
    assert "No machine draft is possible" in _page(client, f"/staff/translate/{english}")
    assert pseudonym in _page(client, "/staff/translate/")
    other = staff_client(staff_app)
    sign_in(other, reviewer)
    assert other.get(url).status_code == 403


def test_a_translation_is_written_only_on_its_own_open_approved_and_consented_source(
    app: Flask,
) -> None:
    pseudonym = approved_testimony(app, ["یک", "دو"])
    other = approved_testimony(app, ["سه"])
    first, second = source_segments(app, pseudonym)
    (foreign,) = source_segments(app, other)
    svc = app.extensions["testimony"]
    keys = worker_keyring(app)

    def refused(s: object, t: Testimony, segment_id: int, version: int, text: str = "one") -> str:
        with pytest.raises(translation.TranslationError) as caught:
            translation.save(s, keys, t, segment_id, text, version, 0, A, 5)  # type: ignore[arg-type]
        return caught.value.reason

    with svc.db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        # Another testimony's segment named through this one.
        assert refused(s, t, foreign.id, foreign.version) == "source_changed"
        # Longer than the limit by one character.
        assert refused(s, t, first.id, first.version, "sixsix") == "too_long"
        # A source segment no longer approved.
        seg = s.get(Segment, second.id)
        assert seg is not None
        seg.review_state = ReviewState.edited
        assert refused(s, t, second.id, second.version) == "source_changed"
        # The testimony's translation closed, then its consent to translate withdrawn.
        t.state = TestimonyState.approved
        assert refused(s, t, first.id, first.version) == "closed"
        t.state = TestimonyState.in_translation
        assert t.consent is not None
        t.consent.translate = False
        assert refused(s, t, first.id, first.version) == "no_consent"
        assert s.scalars(select(TranslationSegment)).first() is None
        # With everything in order the same text at the limit is written.
        t.consent.translate = True
        translation.save(s, keys, t, first.id, "fivee", first.version, 0, A, 5)
        assert s.scalars(select(TranslationSegment)).one().segment_id == first.id
