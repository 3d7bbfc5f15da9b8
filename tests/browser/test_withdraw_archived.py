"""Withdrawal after export in a real Chromium, JavaScript off as in Tor Browser's safest mode:
the status page of an archived record offers "Withdraw and destroy", and pressing it withdraws
the record (SPEC.md section 7: the submitter can always withdraw), never an error page."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from intake import create_app, storage
from intake.export import runs
from intake.models import Testimony, TestimonyState
from tests.browser.test_intake_pages import live_server, playwright_browser  # noqa: F401
from tests.export.approved import APPROVER, approved_record, state_of

pytestmark = pytest.mark.browser


def test_an_archived_record_is_withdrawn_on_the_status_page(
    app: Flask,
    live_server: str,  # noqa: F811
    playwright_browser: object,  # noqa: F811
    tmp_path: Path,
) -> None:
    codes: list[str] = []
    pseudonym = approved_record(app, codes=codes)
    config = app.extensions["testimony"].config
    worker = create_app(config, "worker")
    svc = worker.extensions["testimony"]
    try:
        with svc.db.session() as s:
            run_id = runs.start(s, export_root=config.export_path, requested_by=APPROVER).id
        assert runs.perform(svc, run_id, date.today())["exported"] == [pseudonym]
    finally:
        svc.db.dispose()
    assert state_of(app, pseudonym) == TestimonyState.archived

    context = playwright_browser.new_context(  # type: ignore[attr-defined]
        java_script_enabled=False, locale="en-GB"
    )
    page = context.new_page()
    page.goto(live_server + "/receipt")
    page.fill("#code", codes[0])
    page.click("button[type=submit]")
    page.check("#confirm")
    with page.expect_navigation():
        page.click("#withdraw")
    assert page.locator("h1").inner_text() == "Your consent was withdrawn"
    page.screenshot(path=str(tmp_path / "withdrawn-after-export.png"))
    context.close()

    with app.extensions["testimony"].db.session() as s:
        tombstone = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        assert tombstone.state == TestimonyState.withdrawn and tombstone.wrapped_key is None
    assert storage.waiting_exports(config.export_path, pseudonym) == []
