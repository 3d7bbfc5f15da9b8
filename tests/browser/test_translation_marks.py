"""Redaction marks on a translation in a real Chromium: the workbench says which category the
transcript marks and the translation does not, offers the glossary's form of the marked name,
marks words selected in the translation's box (static/translate.js), and a mark removed after
approval sends the segment back to another translator."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from intake.models import (
    RedactionCategory,
    RedactionMark,
    ReviewState,
    Role,
    Testimony,
    TranslationMark,
    TranslationSegment,
)
from tests.browser.test_intake_pages import playwright_browser  # noqa: F401 - a fixture
from tests.browser.test_staff_review import _sign_in
from tests.browser.test_translation_pages import server  # noqa: F401 - a fixture
from tests.staff_support import ready_account
from tests.translation_support import add_terms, approved_testimony, source_segments

pytestmark = pytest.mark.browser

SOURCE = "پدرم در اوین بود"


def test_a_translator_marks_the_translation_and_a_removed_mark_needs_approval_again(
    app: Flask,
    staff_app: Flask,
    server: str,  # noqa: F811
    playwright_browser: object,  # noqa: F811
) -> None:
    add_terms(staff_app, [("اوین", "Evin", "prison")])
    # A second segment, not translated, keeps the translation open after the first's approval.
    pseudonym = approved_testimony(app, [SOURCE, "یک"])
    seg, _ = source_segments(app, pseudonym)
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        at = SOURCE.index("اوین")
        s.add(
            RedactionMark(
                testimony_id=t.id,
                segment_id=seg.id,
                char_start=at,
                char_end=at + 4,
                start_s=seg.start_s,
                end_s=seg.end_s,
                category=RedactionCategory.place,
                created_by="account:9999",
            )
        )
    first = ready_account(staff_app, "first@example.org", [Role.translator])
    second = ready_account(staff_app, "second@example.org", [Role.translator])
    url = f"{server}/staff/translate/{pseudonym}"
    row = f"#seg-{seg.id}"

    ctx_a = playwright_browser.new_context(locale="en-US")  # type: ignore[attr-defined]
    a = ctx_a.new_page()
    _sign_in(a, server, first.email, first.secret)
    a.goto(url)
    a.fill(f"{row} textarea", "My father was in Evin")
    a.click(f"{row} .save-button")
    a.wait_for_selector("#message")
    assert "place" in a.inner_text(f"{row} .unmarked")
    assert "Evin" in a.inner_text(f"{row} .suggestion")
    # Select "father" in the box: the script fills the mark form with the words and offsets.
    a.evaluate(
        """(sel) => { const area = document.querySelector(sel + ' textarea');
        area.focus(); area.setSelectionRange(3, 9);
        area.dispatchEvent(new Event('select', {bubbles: true})); }""",
        row,
    )
    assert a.input_value(f"{row} .tools input.words") == "father"
    a.select_option(f"{row} .tools select", "person")
    a.click(f"{row} .tools .mark-button")
    a.wait_for_selector("#message")
    a.click(f"{row} .suggestion button")
    a.wait_for_selector("#message")
    assert a.locator(f"{row} .unmarked").count() == 0
    assert a.locator(f"{row} mark.redact").all_inner_texts() == ["father", "Evin"]
    with svc.db.session() as s:
        marks = [(m.char_start, m.char_end, m.category) for m in s.scalars(select(TranslationMark))]
    assert sorted(marks) == [
        (3, 9, RedactionCategory.person),
        (17, 21, RedactionCategory.place),
    ]
    assert a.locator(f"{row} .approve-button").count() == 0  # own translation: four eyes

    ctx_b = playwright_browser.new_context(locale="en-US")  # type: ignore[attr-defined]
    b = ctx_b.new_page()
    _sign_in(b, server, second.email, second.secret)
    b.goto(url)
    b.click(f"{row} .approve-button")
    b.wait_for_selector("#message")
    with svc.db.session() as s:
        done = s.scalars(select(TranslationSegment)).one()
        assert done.state == ReviewState.approved
    # The first translator takes a mark away after the approval: approval withdrawn.
    a.goto(url)
    a.locator(f"{row} .mark-item form.unmark button").first.click()
    a.wait_for_selector("#message")
    assert a.locator(f"{row} .approve-button").count() == 0
    with svc.db.session() as s:
        done = s.scalars(select(TranslationSegment)).one()
        assert done.state == ReviewState.edited and done.approved_by is None
        assert done.edited_by == f"account:{first.id}"
    b.goto(url)
    assert b.locator(f"{row} .approve-button").count() == 1
    ctx_a.close()
    ctx_b.close()
