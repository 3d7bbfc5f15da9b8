"""The form itself: its language switch, its own messages instead of the browser's, nothing
promised to visitors without JavaScript, and an expired form that loses nothing."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from intake.models import Testimony
from tests import audio_fixtures as fx
from tests.support import csrf_token, receipt_code, submit

FORM = re.compile(r"<form\b[^>]*>")


def test_persian_is_one_click_away_at_the_top_of_every_page(client: FlaskClient) -> None:
    # The test client asks for English, as Tor Browser does whatever its user reads.
    for path in ("/", "/receipt", "/no-such-page"):
        html = client.get(path).get_data(as_text=True)
        header = html.split("<main>")[0]
        # A link, or on the intake form a button of the form itself (what was typed comes along).
        link = r'<a href="/language/fa\?next=[^"]*"[^>]*>فارسی</a>'
        button = (
            r'<button type="submit" form="submission" name="switch_language" value="fa"[^>]*>'
            r"فارسی</button>"
        )
        assert re.search(link, header) or (path == "/" and re.search(button, header)), path
    client.get("/language/fa?next=/")
    header = client.get("/receipt").get_data(as_text=True).split("<main>")[0]
    assert re.search(r'<a href="/language/en\?next=[^"]*"[^>]*>English</a>', header)


def test_every_form_speaks_with_the_pages_own_messages(app: Flask, client: FlaskClient) -> None:
    pages = [client.get("/").get_data(as_text=True), client.get("/receipt").get_data(True)]
    code = receipt_code(submit(client, [(fx.tone_wav(1.0), "a.wav")]))
    token = csrf_token(client, "/receipt")
    pages.append(client.post("/receipt", data={"csrf_token": token, "code": code}).get_data(True))
    forms = [tag for page in pages for tag in FORM.findall(page)]
    assert len(forms) >= 5
    assert all("novalidate" in tag for tag in forms), forms
    # An unchosen language comes back as the page's own message, in the page's language.
    client.get("/language/fa?next=/")
    response = submit(client, [(fx.tone_wav(1.0), "a.wav")], language="")
    assert response.status_code == 400
    assert "لطفاً زبان" in response.get_data(as_text=True)


def test_without_javascript_recording_is_not_promised(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    outside = re.sub(r'<div id="recorder".*?</div>', "", html, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", outside).lower()
    # The only offer to record in the page is inside the recorder, which JavaScript reveals.
    assert not re.search(r"\brecord (or|here|in|it|your)\b|in your browser", text), text
    assert re.search(r'<div id="recorder"[^>]*\bhidden\b', html)
    assert "record here in your browser" in html.lower()


def test_embargo_hint_is_text_beside_the_field_not_a_placeholder(client: FlaskClient) -> None:
    client.get("/language/fa?next=/")
    html = client.get("/").get_data(as_text=True)
    field = re.search(r'<input[^>]*id="embargo_until"[^>]*>', html)
    assert field and "placeholder" not in field.group(0)
    assert 'id="embargo-hint"' in html and "۱۴۰۶/۰۱/۰۱" in html


def test_expired_form_comes_back_filled_in_the_visitors_language(
    app: Flask, client: FlaskClient
) -> None:
    client.get("/language/fa?next=/")
    fields = {
        "csrf_token": "stale",
        "language": "fa",
        "transcribe": "y",
        "name": "نام آزمایشی",
        "contact": "signal: 0912",
        "removal_notes": "یک نام دیگر",
        "embargo_until": "۱۴۱۰/۰۱/۰۱",
    }
    response = client.post("/submit", data=fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert '<html lang="fa" dir="rtl">' in html
    assert "منقضی" in html  # "expired", in Persian
    assert 'value="نام آزمایشی"' in html and 'value="signal: 0912"' in html
    assert "یک نام دیگر</textarea>" in html and 'value="۱۴۱۰/۰۱/۰۱"' in html
    transcribe = re.search(r'<input[^>]*id="consent-transcribe"[^>]*>', html)
    persian = re.search(r'<input[^>]*name="language"[^>]*value="fa"[^>]*>', html)
    assert transcribe and "checked" in transcribe.group(0)
    assert persian and "checked" in persian.group(0)
    # The page carries a fresh token: sending it again works.
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert token and token.group(1) != "stale"
    with app.extensions["testimony"].db.session() as s:
        assert s.scalar(select(func.count()).select_from(Testimony)) == 0


def test_expired_receipt_form_keeps_the_code(client: FlaskClient) -> None:
    response = client.post(
        "/receipt/withdraw", data={"csrf_token": "stale", "code": "1234 5678 1234 5678"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "expired" in html and 'value="1234 5678 1234 5678"' in html
    assert 'action="/receipt"' in html
