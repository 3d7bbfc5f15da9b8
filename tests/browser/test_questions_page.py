"""A submitter reads the archive's question and answers it in a real Chromium (Debian's,
driven by Playwright), in Persian with JavaScript disabled, as Tor Browser's safest mode would:
the code opens the status page, the question is there, the answer is sent by the plain form,
and nothing is loaded from another host."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from intake.models import Question, Testimony
from intake.review import questions
from tests import audio_fixtures as fx
from tests.browser.test_intake_pages import live_server, playwright_browser  # noqa: F401
from tests.support import receipt_code, submit, worker_keyring

QUESTION = "آن زندان کدام بود؟"
ANSWER = "زندان قدیمی شهر بود."


def test_the_submitter_reads_and_answers_a_question(
    app: Flask,
    client: FlaskClient,
    live_server: str,  # noqa: F811
    playwright_browser: object,  # noqa: F811
    tmp_path: Path,
) -> None:
    code = receipt_code(submit(client, [(fx.tone_wav(1.0), "a.wav")]))
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony)).one()
        questions.ask(s, worker_keyring(app), 1, testimony, QUESTION)

    context = playwright_browser.new_context(  # type: ignore[attr-defined]
        java_script_enabled=False, locale="fa-IR"
    )
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(live_server + "/receipt")
    page.fill("#code", code)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator("#questions-title").inner_text() == "پرسش‌های آرشیو"
    assert page.locator(".question-text").inner_text() == QUESTION
    page.locator("li.question textarea").fill(ANSWER)
    with page.expect_navigation():
        page.locator("li.question form.answer-text button").click()
    assert "پاسخ شما فرستاده شد" in page.locator("p.notice").inner_text()
    assert page.locator("li.question.answered").count() == 1
    assert ANSWER not in page.content()  # the public app cannot show it again
    page.screenshot(path=str(tmp_path / "question-answered-fa.png"))
    assert requests and all(url.startswith(live_server) for url in requests)
    context.close()

    with svc.db.session() as s:
        question = s.scalars(select(Question)).one()
        assert question.answered_at is not None and question.answer is not None
        shown = questions.exchanges(s, worker_keyring(app), s.scalars(select(Testimony)).one())
        assert shown[0].answer == ANSWER
