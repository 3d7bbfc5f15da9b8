"""The indexer's whole round in a real Chromium (issue of the index and search): two Persian
testimonies, approved through review (whose last approval indexes them for search), name the
same prison, one written with the Arabic letters (ك, ي) and one with the Persian (ک, ی).
An indexer adds an index point to each, cites a new prison entity on the first and the same
entity on the second; searches for the prison in both spellings from the header's box and
finds both records each time; opens the entity page from the register and sees both citations,
each with the moment to play."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from intake.models import EntityCitation, IndexPoint, Role
from tests.browser.test_intake_pages import playwright_browser  # noqa: F401 - a fixture
from tests.browser.test_staff_review import _sign_in
from tests.browser.test_translation_pages import server as server  # noqa: F401 - a fixture
from tests.staff_support import ready_account
from tests.test_search import keys_of, reviewed
from tests.translation_support import source_segments

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots-walk")
ARABIC = "پدرم را به زندان كهريزك بردند"  # Arabic kaf and yeh
PERSIAN = "برادرم سه ماه در زندان کهریزک بود"  # Persian kaf and yeh


def add_point(page: Any, start: str, title: str) -> None:
    """Add an index point with the page's form, as an indexer types it."""
    page.fill("#add-point-start", start)
    page.fill("#add-point-title", title)
    page.click("#add-point button[type=submit]")
    page.wait_for_selector("#message")


def cite_at(page: Any, row: str, *, new_name: str = "", kind: str = "", existing: str = "") -> None:
    """Cite an entity on a segment's row: open its folded form, then either choose an entry of
    the register by its label or name a new one with its kind."""
    page.click(f"{row} details.cite-details summary")
    if existing:
        page.select_option(f"{row} select[name=entity_id]", label=_label_of(page, row, existing))
    else:
        page.fill(f"{row} input[name=name_fa]", new_name)
        page.select_option(f"{row} select[name=kind]", kind)
    page.click(f"{row} button.cite-button")
    page.wait_for_selector(f"{row} .cited")


def _label_of(page: Any, row: str, name: str) -> str:
    """The full label of the register's entry named `name` in a row's entity list."""
    options = page.locator(f"{row} select[name=entity_id] option").all_inner_texts()
    (label,) = [o for o in options if name in o]
    return str(label)


def _search(page: Any, server: str, words: str, *, partial: bool = False) -> list[str]:
    """Search from the header's box (or the search page, for part of a word); the texts of
    the hits, in order."""
    page.goto(f"{server}/staff/")
    page.fill("form.nav-search input[name=q]", words)
    page.click("form.nav-search button")
    page.wait_for_selector("form.search-form")
    if partial:
        page.check("form.search-form input[name=part]")
        page.click("form.search-form button[type=submit]")
        page.wait_for_selector("form.search-form input[name=part]:checked")
    hits = page.locator("li.search-hit")
    return [str(hits.nth(i).inner_text()) for i in range(hits.count())]


def test_an_indexer_indexes_cites_searches_and_opens_the_entity(
    app: Flask,
    staff_app: Flask,
    server: str,
    playwright_browser: Any,  # noqa: F811
) -> None:
    keys = keys_of(staff_app)
    first = reviewed(app, keys, ["سلام", ARABIC])
    second = reviewed(app, keys, [PERSIAN, "و دیگر هیچ"])
    (_, first_seg) = source_segments(app, first)
    (second_seg, _) = source_segments(app, second)
    indexer = ready_account(staff_app, "indexer@example.org", [Role.indexer])
    SHOTS.mkdir(exist_ok=True)

    ctx = playwright_browser.new_context(locale="fa-IR")
    page = ctx.new_page()
    _sign_in(page, server, indexer.email, indexer.secret)
    page.wait_for_url(lambda url: "/sign-in" not in url)

    # The first record: from the queue, an index point, and a new prison cited on the segment.
    page.goto(f"{server}/staff/index/")
    page.click(f"text={first}")
    page.wait_for_selector(f"#seg-{first_seg.id}")
    add_point(page, "0:00:01", "بازداشت پدر")
    cite_at(page, f"#seg-{first_seg.id}", new_name="زندان کهریزک", kind="prison")
    assert "زندان کهریزک" in page.inner_text(f"#seg-{first_seg.id} .cited")

    # The second record: its own point, and the entity now in the register, chosen by name.
    page.goto(f"{server}/staff/index/{second}")
    page.wait_for_selector(f"#seg-{second_seg.id}")
    add_point(page, "0:00:00", "برادر در کهریزک")
    cite_at(page, f"#seg-{second_seg.id}", existing="زندان کهریزک")
    assert "زندان کهریزک" in page.inner_text(f"#seg-{second_seg.id} .cited")
    page.screenshot(path=str(SHOTS / "index-fa-1280.png"), full_page=True)

    with staff_app.extensions["testimony"].db.session() as s:
        assert s.query(IndexPoint).count() == 2
        cited = s.scalars(select(EntityCitation)).all()
        assert len(cited) == 2 and len({c.entity_id for c in cited}) == 1
        assert {c.segment_id for c in cited} == {first_seg.id, second_seg.id}

    # Search in either spelling finds both records; a part of the name does too.
    for words in ("کهریزک", "كهريزك", "زندان كهریزک"):
        hits = _search(page, server, words)
        assert len(hits) == 2, (words, hits)
        assert any(first in h for h in hits) and any(second in h for h in hits), (words, hits)
    assert _search(page, server, "هریز") == []  # not a word of either record
    hits = _search(page, server, "هریز", partial=True)  # but a part of the prison's name
    assert len(hits) == 2, hits
    page.screenshot(path=str(SHOTS / "search-fa-1280.png"), full_page=True)

    # The entity page, from the register: both citations, each with its moment to play.
    page.goto(f"{server}/staff/entities/")
    page.click("table.entities a:has-text('زندان کهریزک')")
    page.wait_for_selector("ol.citations")
    citations = page.locator("li.citation")
    assert citations.count() == 2
    text = page.inner_text("ol.citations")
    assert first in text and second in text
    assert "كهريزك" in text and "کهریزک" in text  # each segment's own spelling, opened
    sources = [citations.nth(i).locator("audio").get_attribute("src") for i in range(2)]
    assert all(src and "/audio/1#t=" in src for src in sources), sources
    # The moment plays: the browser loads the stream and starts at the cited time.
    page.evaluate("document.querySelector('li.citation audio').play()")
    page.wait_for_function(
        "(() => { const a = document.querySelector('li.citation audio');"
        " return a.readyState >= 1 && !a.paused || a.currentTime > 0; })()"
    )
    page.screenshot(path=str(SHOTS / "entity-fa-1280.png"), full_page=True)
    ctx.close()
