"""Indexing in a real Chromium: an indexer opens an approved Persian transcript from the queue,
takes a suggested boundary, seeks the player from a segment's time, fills the add form with the
player's time and adds a point; the page cannot let them approve it; a second indexer does.
Persian and English pages are shot at 390 and 1280 px, the Persian one right to left."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from intake.models import Role
from tests.browser.test_intake_pages import playwright_browser  # noqa: F401 - a fixture
from tests.browser.test_staff_review import _sign_in
from tests.browser.test_translation_pages import _direction
from tests.browser.test_translation_pages import server as server  # noqa: F401 - a fixture
from tests.staff_support import ready_account
from tests.translation_support import approved_testimony, source_segments

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots-index")


def test_indexers_add_a_point_from_the_player_and_another_approves(
    app: Flask,
    staff_app: Flask,
    server: str,
    playwright_browser: object,  # noqa: F811
) -> None:
    pseudonym = approved_testimony(app, ["سلام بر شما", "پدرم را به زندان اوین بردند"])
    _, second_segment = source_segments(app, pseudonym)
    first = ready_account(staff_app, "first@example.org", [Role.indexer])
    second = ready_account(staff_app, "second@example.org", [Role.indexer])
    SHOTS.mkdir(exist_ok=True)

    ctx = playwright_browser.new_context(locale="fa-IR")  # type: ignore[attr-defined]
    a = ctx.new_page()
    _sign_in(a, server, first.email, first.secret)
    a.goto(f"{server}/staff/index/")
    a.click(f"text={pseudonym}")
    a.wait_for_selector(f"#seg-{second_segment.id}")
    assert _direction(a, "main") == "rtl"
    assert _direction(a, f"#seg-{second_segment.id} .seg-text") == "rtl"
    # A suggestion fills the form's time; a segment's time seeks the player (no reload).
    a.click("a.suggestion")
    assert a.input_value("#add-point-start") == "0:00:00"
    a.click(f"#seg-{second_segment.id} a.seek")
    a.wait_for_function("document.getElementById('player').currentTime >= 0.5")
    a.evaluate("document.getElementById('player').pause()")
    a.click("#add-point button.use-player-time")
    assert a.input_value("#add-point-start") == "0:00:00"
    a.fill("#add-point-start", "0:00:01")
    a.fill("#add-point-title", "بازداشت پدر")
    a.fill("#add-point-keywords", "اوین؛ بازداشت")
    a.click("#add-point details.other-language summary")
    a.fill("#add-point-alt-title", "The father's arrest")
    a.click("#add-point button[type=submit]")
    a.wait_for_selector("#message")
    point = a.locator("li.point")
    assert "بازداشت پدر" in point.inner_text()
    assert a.locator("li.point form.approve").count() == 0  # four eyes
    for width in (390, 1280):
        a.set_viewport_size({"width": width, "height": 900})
        a.evaluate("window.scrollTo(0, 0)")
        a.screenshot(path=str(SHOTS / f"index-fa-{width}.png"), full_page=True)
    a.goto(f"{server}/staff/index/")
    a.screenshot(path=str(SHOTS / "queue-fa-1280.png"), full_page=True)

    ctx_b = playwright_browser.new_context(locale="en-US")  # type: ignore[attr-defined]
    b = ctx_b.new_page()
    _sign_in(b, server, second.email, second.secret)
    b.goto(f"{server}/staff/index/{pseudonym}")
    assert _direction(b, "main") == "ltr"
    assert _direction(b, f"#seg-{second_segment.id} .seg-text") == "rtl"
    b.click("li.point form.approve button")
    b.wait_for_selector("#message")
    assert "Index point approved." in b.inner_text("#message")
    assert "approved" in b.inner_text("li.point .state")
    for width in (390, 1280):
        b.set_viewport_size({"width": width, "height": 900})
        b.evaluate("window.scrollTo(0, 0)")
        b.screenshot(path=str(SHOTS / f"index-en-{width}.png"), full_page=True)
    ctx.close()
    ctx_b.close()
