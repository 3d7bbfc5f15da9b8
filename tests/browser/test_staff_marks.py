"""The editor's marks, conflicts and timeline in a real Chromium: selecting words and
pressing Alt+M marks them for redaction; the state label follows a save made without a
reload; two reviewers saving the same segment, the second sees both texts and chooses; and
screenshots of the editor in Persian and English, narrow and wide."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from intake.models import RedactionCategory, RedactionMark, Role
from intake.review import review, transcripts
from tests.browser.test_intake_pages import playwright_browser  # noqa: F401 - a fixture
from tests.browser.test_staff_review import _sign_in, staff_server  # noqa: F401 - a fixture
from tests.staff_support import ready_account, segments_of, transcribed_testimony
from tests.support import worker_keyring

pytestmark = pytest.mark.browser


def _text_of(app: Flask, pseudonym: str, index: int) -> str:
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        key = transcripts.testimony_key(worker_keyring(app), review.find(s, pseudonym))
    return transcripts.unseal_segment(key, segments_of(app, pseudonym)[index]).text


def test_selecting_words_marks_them_and_the_label_follows_a_save(
    app: Flask,
    staff_app: Flask,
    staff_server: str,  # noqa: F811
    playwright_browser: object,  # noqa: F811
) -> None:
    pseudonym = transcribed_testimony(
        app, ["we met Ali Karimi at the gate", "then we went home"], removal_notes="Karimi"
    )
    first, second = segments_of(staff_app, pseudonym)
    reviewer = ready_account(staff_app, "marks@example.org", [Role.reviewer])
    ctx = playwright_browser.new_context(locale="en-US")  # type: ignore[attr-defined]
    page = ctx.new_page()
    _sign_in(page, staff_server, reviewer.email, reviewer.secret)
    page.goto(f"{staff_server}/staff/review/{pseudonym}")
    seg = f"#seg-{first.id}"
    assert "Karimi" in page.inner_text(f"{seg} .suggestion")
    # Select "at the gate" in the box, as a mouse would, then Alt+M.
    page.focus(f"{seg} textarea")
    page.evaluate(
        "sel => { const a = document.querySelector(sel);"
        " a.setSelectionRange(18, 29); a.dispatchEvent(new Event('mouseup')); }",
        f"{seg} textarea",
    )
    assert page.input_value(f"{seg} form.mark input.words") == "at the gate"
    page.keyboard.press("Alt+m")
    page.wait_for_selector("#message:has-text('Marked for redaction')")
    assert page.inner_text(f"{seg} mark.redact") == "at the gate"
    with staff_app.extensions["testimony"].db.session() as s:
        (mark,) = s.scalars(select(RedactionMark)).all()
        assert (mark.char_start, mark.char_end) == (18, 29)
        assert mark.category == RedactionCategory.person  # the select's first choice
    # The timeline links to the marked span's segment.
    assert page.locator(f'svg.timeline a.redact[href$="#seg-{first.id}"]').count() == 1

    other = f"#seg-{second.id}"
    assert page.inner_text(f"{other} .meta .state") == "machine"
    page.fill(f"{other} textarea", "then we walked home")
    page.click(f"{other} .save-button")
    page.wait_for_selector("#live:has-text('Segment saved')")
    assert page.inner_text(f"{other} .meta .state") == "edited"
    ctx.close()


def test_two_reviewers_save_one_segment_and_the_second_chooses(
    app: Flask,
    staff_app: Flask,
    staff_server: str,  # noqa: F811
    playwright_browser: object,  # noqa: F811
) -> None:
    pseudonym = transcribed_testimony(app, ["the machine heard this"])
    (seg_row,) = segments_of(staff_app, pseudonym)
    people = [
        ready_account(staff_app, f"{name}@example.org", [Role.reviewer]) for name in ("a", "b")
    ]
    pages = []
    for person in people:
        ctx = playwright_browser.new_context(locale="en-US")  # type: ignore[attr-defined]
        p = ctx.new_page()
        _sign_in(p, staff_server, person.email, person.secret)
        p.goto(f"{staff_server}/staff/review/{pseudonym}")
        pages.append(p)
    a, b = pages
    seg = f"#seg-{seg_row.id}"
    a.fill(f"{seg} textarea", "the first reviewer's text")
    a.click(f"{seg} .save-button")
    a.wait_for_selector("#live:has-text('Segment saved')")
    b.fill(f"{seg} textarea", "the second reviewer's text")
    b.click(f"{seg} .save-button")
    b.wait_for_selector("#conflict")
    assert b.inner_text("#theirs") == "the first reviewer's text"
    assert b.inner_text("#yours") == "the second reviewer's text"
    assert _text_of(staff_app, pseudonym, 0) == "the first reviewer's text"
    b.click("#keep-mine")
    b.wait_for_selector("#message:has-text('Segment saved')")
    assert _text_of(staff_app, pseudonym, 0) == "the second reviewer's text"
    a.context.close()
    b.context.close()


def test_editor_screenshots_in_both_languages_and_widths(
    app: Flask,
    staff_app: Flask,
    staff_server: str,  # noqa: F811
    playwright_browser: object,  # noqa: F811
    tmp_path: Path,
) -> None:
    pseudonym = transcribed_testimony(
        app,
        ["او را در زندان اوين دیدم", "علی کریمی آنجا بود", "بعد به خانه رفتیم"],
        low_word="آنجا",
        removal_notes="اوین",
    )
    segs = segments_of(staff_app, pseudonym)
    svc = staff_app.extensions["testimony"]
    with svc.db.session() as s:
        t = review.find(s, pseudonym)
        review.mark_span(
            s, svc.keyring, t, segs[1].id, 1, RedactionCategory.person, "account:99", "علی کریمی"
        )
    for locale in ("fa-IR", "en-US"):
        for width in (390, 1280):
            # An account per sign-in: a TOTP code is accepted once.
            reviewer = ready_account(staff_app, f"{locale}-{width}@example.org", [Role.reviewer])
            ctx = playwright_browser.new_context(  # type: ignore[attr-defined]
                locale=locale, viewport={"width": width, "height": 900}
            )
            page = ctx.new_page()
            _sign_in(page, staff_server, reviewer.email, reviewer.secret)
            page.goto(f"{staff_server}/staff/review/{pseudonym}")
            page.click(f"#seg-{segs[0].id} details.tools summary")
            assert page.locator("svg.timeline a").count() == 2  # one unsure, one marked
            page.screenshot(path=str(tmp_path / f"editor-{locale[:2]}-{width}.png"), full_page=True)
            ctx.close()
