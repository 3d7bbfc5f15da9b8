"""The status page tells the truth: current counts, readable durations, the path ahead, the
consents and embargo given; after withdrawal nothing but the withdrawal note."""

from __future__ import annotations

import io
import re
from datetime import date

import jdatetime
from flask import Flask
from flask.testing import FlaskClient

from intake import i18n
from intake.models import TestimonyState
from intake.records import stages
from tests import audio_fixtures as fx
from tests.support import csrf_token, post_multipart, receipt_code, submit


def _status(client: FlaskClient, code: str) -> str:
    token = csrf_token(client, "/receipt")
    response = client.post("/receipt", data={"csrf_token": token, "code": code})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def test_after_withdrawal_only_the_note_is_shown(app: Flask, client: FlaskClient) -> None:
    code = receipt_code(submit(client, [(fx.tone_wav(1.0), "a.wav")]))
    token = csrf_token(client, "/receipt")
    client.post("/receipt/withdraw", data={"csrf_token": token, "code": code, "confirm": "y"})
    html = _status(client, code)
    assert "Withdrawn" in html
    assert "Recordings" not in html and 'id="recording-count"' not in html
    assert "/receipt/withdraw" not in html and "/receipt/add" not in html
    assert "/receipt/consent" not in html


def test_counts_are_current_after_adding_audio(app: Flask, client: FlaskClient) -> None:
    code = receipt_code(submit(client, [(fx.tone_wav(3.0), "a.wav")]))
    response = post_multipart(
        client,
        "/receipt/add",
        {
            "csrf_token": csrf_token(client, "/receipt"),
            "code": code,
            "audio": [(io.BytesIO(fx.tone_wav(2.0)), "b.wav")],
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert re.search(r'id="recording-count">2<', html)
    assert re.search(r'id="recording-duration">5 s<', html)


def test_short_duration_reads_as_seconds(app: Flask, client: FlaskClient) -> None:
    code = receipt_code(submit(client, [(fx.tone_wav(3.0), "a.wav")]))
    html = _status(client, code)
    assert re.search(r'id="recording-duration">3 s<', html), html
    assert "0.0 min" not in html


def test_durations_in_minutes_and_seconds_and_persian_digits(app: Flask) -> None:
    with app.test_request_context():
        assert i18n.format_duration(3.2, "en") == "3 s"
        assert i18n.format_duration(125, "en") == "2 min 05 s"
        assert i18n.format_duration(3 * 3600 + 61, "en") == "3 h 01 min"
        persian = i18n.format_duration(125, "fa")
        assert "۲" in persian and "۰۵" in persian
        assert not any(ch in persian for ch in "0123456789")


def test_persian_dates_have_no_leading_zero(app: Flask) -> None:
    day = jdatetime.date(1405, 9, 5).togregorian()
    with app.test_request_context():
        assert i18n.format_date(day, "fa") == "۵ آذر ۱۴۰۵"
        assert i18n.format_date(date(2026, 3, 7), "en") == "7 March 2026"


def test_status_page_shows_the_path_ahead(app: Flask, client: FlaskClient) -> None:
    code = receipt_code(submit(client, [(fx.tone_wav(1.0), "a.wav")]))
    html = _status(client, code)
    keys = re.findall(r'data-stage="([a-z]+)"', html)
    assert keys == ["received", "transcribing", "review", "translated", "approved"]
    current = re.search(r'data-stage="([a-z]+)" aria-current="step"', html)
    assert current and current.group(1) == "received"


def test_path_marks_the_stage_and_leaves_out_translation_not_consented() -> None:
    path = stages.path(TestimonyState.in_review, translated=False)
    assert [s.key for s in path] == ["received", "transcribing", "review", "approved"]
    assert [s.status for s in path] == ["done", "done", "current", "ahead"]
    assert [s.status for s in stages.path(TestimonyState.archived, True)][-1] == "current"
    assert {s.status for s in stages.path(TestimonyState.needs_attention, True)} == {"ahead"}


def test_consents_and_embargo_are_shown(app: Flask, client: FlaskClient) -> None:
    code = receipt_code(
        submit(
            client,
            [(fx.tone_wav(1.0), "a.wav")],
            consent={"archive": "y", "transcribe": "y"},
            embargo_until="2031-01-02",
        )
    )
    html = _status(client, code)
    assert re.search(r'class="given" id="use-transcribe"', html)
    assert re.search(r'class="not-given" id="use-publish_named"', html)
    assert "2 January 2031" in html
