"""Search in a real Chromium: an indexer types a prison's name into the search box of the staff
header, in Persian with the Persian letters, and finds the segment stored with the Arabic ones
(and the other record that writes it with a half-space suffix); the match is marked, the page
is right to left in Persian and left to right in English, at phone and desktop widths, and the
result links to the moment on the record's index page."""

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
from tests.test_search import keys_of, reviewed

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots-search")


def test_an_indexer_finds_a_prison_in_either_spelling(
    app: Flask,
    staff_app: Flask,
    server: str,
    playwright_browser: object,  # noqa: F811
) -> None:
    keys = keys_of(staff_app)
    first = reviewed(app, keys, ["سلام", "پدرم را به زندان اوين بردند"])  # Arabic yeh
    second = reviewed(app, keys, ["مادرم از زندان‌های اوین گفت", "و دیگر هیچ"])
    indexer = ready_account(staff_app, "indexer@example.org", [Role.indexer])
    SHOTS.mkdir(exist_ok=True)
    # One sign-in (a one-time code is good once), then each language at each width.
    ctx = playwright_browser.new_context(locale="fa-IR")  # type: ignore[attr-defined]
    page = ctx.new_page()
    _sign_in(page, server, indexer.email, indexer.secret)
    page.wait_for_url(lambda url: "/sign-in" not in url)
    for lang, width in (("fa", 390), ("fa", 1280), ("en", 390), ("en", 1280)):
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(f"{server}/staff/language/{lang}?next=/staff/")
        page.fill("form.nav-search input[name=q]", "زندان اوین")
        page.click("form.nav-search button")
        page.wait_for_selector("ol.search-hits")
        hits = page.locator("li.search-hit")
        assert hits.count() == 2
        texts = [hits.nth(i).inner_text() for i in range(2)]
        assert first in texts[0] and "اوين" in texts[0]
        assert second in texts[1] and "زندان‌های اوین" in texts[1]
        assert page.locator("li.search-hit mark").count() >= 4
        link = page.get_attribute("li.search-hit a.hit-link", "href")
        assert link == f"/staff/index/{first}?t=0"
        assert _direction(page, "li.search-hit .hit-text") == "rtl"
        assert _direction(page, "main") == ("rtl" if lang == "fa" else "ltr")
        overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow, (lang, width)
        page.screenshot(path=str(SHOTS / f"search-{lang}-{width}.png"), full_page=True)
    ctx.close()
