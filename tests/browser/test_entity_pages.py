"""The register and an entity's page in a real Chromium, in Persian and English, at phone and
desktop widths: an indexer cites an entity in two testimonies and opens its page."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask import Flask

from intake.models import EntityKind, Role
from intake.review import entities
from tests.browser.test_intake_pages import playwright_browser  # noqa: F401 - a fixture
from tests.browser.test_staff_review import _sign_in, staff_server  # noqa: F401 - a fixture
from tests.staff_support import ready_account
from tests.support import worker_keyring
from tests.translation_support import approved_testimony, source_segments

pytestmark = pytest.mark.browser


def test_entity_pages_in_both_languages_and_widths(
    app: Flask,
    staff_app: Flask,
    staff_server: str,  # noqa: F811
    playwright_browser: object,  # noqa: F811
    tmp_path: Path,
) -> None:
    one = approved_testimony(app, ["او را در زندان اوین دیدم", "مرداد ۱۳۶۷ بود"])
    two = approved_testimony(app, ["برادرم در اوين بود"])
    svc = staff_app.extensions["testimony"]
    with svc.db.session() as s:
        facts = entities.facts_from_form(
            EntityKind.prison,
            name_fa="زندان اوین",
            name_en="Evin Prison",
            latitude="35.79",
            longitude="51.39",
        )
        evin = entities.create(s, worker_keyring(app), EntityKind.prison, facts, "account:1").id
    shots = Path(os.environ.get("SCREENSHOTS", tmp_path))
    first = True
    for locale in ("fa-IR", "en-US"):
        for width in (390, 1280):
            indexer = ready_account(staff_app, f"{locale}-{width}@example.org", [Role.indexer])
            ctx = playwright_browser.new_context(  # type: ignore[attr-defined]
                locale=locale, viewport={"width": width, "height": 900}
            )
            page = ctx.new_page()
            _sign_in(page, staff_server, indexer.email, indexer.secret)
            if first:
                # The citation form lives on the index pages (built apart): its request is
                # sent here with the browser's session and token.
                for pseudonym in (one, two):
                    segment = source_segments(app, pseudonym)[0]
                    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
                    response = page.request.post(
                        f"{staff_server}/staff/entities/cite",
                        form={
                            "csrf_token": token or "",
                            "pseudonym": pseudonym,
                            "entity_id": str(evin),
                            "segment_id": str(segment.id),
                        },
                    )
                    assert response.ok, response.status
                first = False
            page.goto(f"{staff_server}/staff/entities/?q=اوين")
            assert page.locator("tr.entity").count() == 1
            page.screenshot(path=str(shots / f"register-{locale[:2]}-{width}.png"), full_page=True)
            page.goto(f"{staff_server}/staff/entities/{evin}")
            assert page.locator("li.citation").count() == 2
            assert page.locator("li.citation audio[preload=none]").count() == 2
            assert page.locator("html").get_attribute("dir") == (
                "rtl" if locale == "fa-IR" else "ltr"
            )
            page.screenshot(path=str(shots / f"entity-{locale[:2]}-{width}.png"), full_page=True)
            ctx.close()
