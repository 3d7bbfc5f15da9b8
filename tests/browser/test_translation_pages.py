"""Translation in a real Chromium: a translator accepts a machine draft (edited, labelled),
translates a segment with the glossary's term (the check passes) and one without it (flagged);
a second translator approves every segment and the testimony becomes approved. The Persian
source is right-to-left and the English side left-to-right, by computed direction."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from intake.events import Actor
from intake.models import ReviewState, Role, Testimony, TestimonyState, TranslationSegment
from intake.review import translation
from tests.browser.test_intake_pages import playwright_browser  # noqa: F401 - a fixture
from tests.browser.test_staff_review import _sign_in
from tests.staff_support import ready_account
from tests.support import worker_keyring
from tests.translation_support import add_terms, approved_testimony, source_segments

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots-j")


@pytest.fixture
def server(staff_app: Flask) -> Iterator[str]:
    httpd = make_server("127.0.0.1", 0, staff_app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(timeout=10)
    httpd.server_close()


def _direction(page: object, selector: str) -> str:
    expression = f"getComputedStyle(document.querySelector({selector!r})).direction"
    return str(page.evaluate(expression))  # type: ignore[attr-defined]


def test_translators_accept_a_draft_use_the_glossary_and_approve(
    app: Flask,
    staff_app: Flask,
    server: str,
    playwright_browser: object,  # noqa: F811
) -> None:
    add_terms(staff_app, [("زندان اوین", "Evin Prison", "prison")])
    pseudonym = approved_testimony(
        app, ["سلام بر شما", "پدرم را به زندان اوین بردند", "مادرم کنار زندان اوين ماند"]
    )
    drafted, with_term, without_term = source_segments(app, pseudonym)
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        translation.add_drafts(
            s, worker_keyring(app), t, None, {drafted.id: "Greetings to you"}, "test", Actor.worker
        )
    first = ready_account(staff_app, "first@example.org", [Role.translator])
    second = ready_account(staff_app, "second@example.org", [Role.translator])
    url = f"{server}/staff/translate/{pseudonym}"

    ctx_a = playwright_browser.new_context(locale="en-US")  # type: ignore[attr-defined]
    a = ctx_a.new_page()
    _sign_in(a, server, first.email, first.secret)
    a.goto(f"{server}/staff/translate/")
    a.click(f"text={pseudonym}")
    a.wait_for_selector(f"#seg-{drafted.id}")
    assert _direction(a, f"#seg-{drafted.id} .source") == "rtl"
    assert _direction(a, f"#seg-{drafted.id} .target") == "ltr"
    assert _direction(a, f"#seg-{drafted.id} textarea") == "ltr"
    assert "Machine draft" in a.inner_text(f"#seg-{drafted.id} .draft")
    a.click(f"#seg-{drafted.id} .accept-button")
    a.wait_for_selector("#message")
    assert "from the machine draft" in a.inner_text(f"#seg-{drafted.id} .meta")
    assert "Evin Prison" in a.inner_text(f"#seg-{with_term.id} .terms")
    a.fill(f"#seg-{with_term.id} textarea", "They took my father to Evin Prison")
    a.click(f"#seg-{with_term.id} .save-button")
    a.wait_for_selector(f"#seg-{with_term.id} .check-ok")
    a.fill(f"#seg-{without_term.id} textarea", "My mother stayed by the jail")
    a.click(f"#seg-{without_term.id} .save-button")
    a.wait_for_selector(f"#seg-{without_term.id} .flag")
    assert "Evin Prison" in a.inner_text(f"#seg-{without_term.id} .flag")
    assert a.locator(".approve-button").count() == 0  # own translations: four eyes
    SHOTS.mkdir(exist_ok=True)
    for width in (390, 1280):
        a.set_viewport_size({"width": width, "height": 900})
        a.screenshot(path=str(SHOTS / f"translate-en-{width}.png"), full_page=True)
    with svc.db.session() as s:
        rows = {r.segment_id: r for r in s.scalars(select(TranslationSegment))}
    assert rows[drafted.id].state == ReviewState.edited and rows[drafted.id].from_draft

    ctx_b = playwright_browser.new_context(locale="fa-IR")  # type: ignore[attr-defined]
    b = ctx_b.new_page()
    _sign_in(b, server, second.email, second.secret)
    b.goto(url)
    assert b.locator("html").get_attribute("dir") == "rtl"
    assert _direction(b, f"#seg-{drafted.id} .target") == "ltr"
    for width in (390, 1280):
        b.set_viewport_size({"width": width, "height": 900})
        b.screenshot(path=str(SHOTS / f"translate-fa-{width}.png"), full_page=True)
    for seg in (drafted, with_term, without_term):
        b.click(f"#seg-{seg.id} .approve-button")
        b.wait_for_selector("#message")
    with svc.db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        assert t.state == TestimonyState.approved
        approvers = {r.approved_by for r in s.scalars(select(TranslationSegment))}
    assert approvers == {f"account:{second.id}"}
    ctx_a.close()
    ctx_b.close()
