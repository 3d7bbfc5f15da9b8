"""The intake form end to end: files kept across form errors, one testimony per form, and a
receipt page that keeps the code until the submitter has written it down."""

from __future__ import annotations

import io
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from intake.config import Config
from intake.models import AudioFile, Job, SentForm, Testimony
from intake.public import submissions
from intake.public.consent import ConsentChoices
from tests import audio_fixtures as fx
from tests.support import ALL_CONSENT, csrf_token, form_token, post_multipart, receipt_code
from workers import upkeep

PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def _count(app: Flask, model: type) -> int:
    with app.extensions["testimony"].db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def _fresh_form(client: FlaskClient) -> dict[str, Any]:
    html = client.get("/").get_data(as_text=True)
    return {"csrf_token": csrf_token(client), "form_token": form_token(html)}


def _post(
    client: FlaskClient,
    form: dict[str, Any],
    files: list[tuple[bytes, str]],
    **fields: Any,
) -> Any:
    data = {**form, **fields, "audio": [(io.BytesIO(c), n) for c, n in files]}
    return post_multipart(client, "/submit", data)


def test_form_errors_are_reported_together_and_files_are_kept(
    app: Flask, client: FlaskClient, config: Config
) -> None:
    form = _fresh_form(client)
    wav = fx.tone_mp3(1.0)
    first = _post(client, form, [(wav, "a.mp3")], language="en", embargo_until="soon")
    html = first.get_data(as_text=True)
    assert first.status_code == 400
    # Both mistakes in one round: no consent ticked, and a date that cannot be read.
    assert "at least one use" in html and "could not be read" in html
    assert "Your recording is kept: 1 file" in html
    assert _count(app, Testimony) == 0
    kept = _files_under(config.spool_path)
    assert kept, "the file was not kept"
    for path in kept:  # kept encrypted: the canary in the MP3's tags is nowhere in plaintext
        assert fx.CANARY.encode() not in path.read_bytes()

    # Reloading the error page sends the same file again: it is not kept twice.
    again = _post(client, form, [(wav, "a.mp3")], language="en")
    assert "Your recording is kept: 1 file" in again.get_data(as_text=True)

    # The corrected form carries no file at all (the browser's file input is empty now).
    done = _post(client, form, [], language="en", **ALL_CONSENT)
    assert done.status_code == 303 and done.headers["Location"].endswith("/sent")
    assert _count(app, Testimony) == 1
    assert _count(app, AudioFile) == 1
    assert _files_under(config.spool_path) == []
    receipt = client.get("/sent")
    assert len(receipt_code(receipt)) == 16


def test_kept_files_expire_and_the_sweep_removes_them(
    app: Flask, client: FlaskClient, config: Config
) -> None:
    form = _fresh_form(client)
    refused = _post(client, form, [(fx.tone_wav(1.0), "a.wav")], language="en")
    assert refused.status_code == 400
    folders = [p for p in config.spool_path.iterdir() if p.is_dir()]
    assert len(folders) == 1
    # A real clock cannot be waited out in a test: age the folder on disk instead.
    old = time.time() - config.form_keep_s - 60
    os.utime(folders[0], (old, old))
    svc = app.extensions["testimony"]
    assert upkeep.run_once(svc)["spools"] == 1
    assert _files_under(config.spool_path) == []
    late = _post(client, form, [], language="en", **ALL_CONSENT)
    assert late.status_code == 400
    assert "choose at least one audio file" in late.get_data(as_text=True)
    assert _count(app, Testimony) == 0


def test_expired_files_are_not_used_even_before_the_sweep(
    app: Flask, client: FlaskClient, config: Config
) -> None:
    form = _fresh_form(client)
    _post(client, form, [(fx.tone_wav(1.0), "a.wav")], language="en")
    old = time.time() - config.form_keep_s - 60
    for folder in config.spool_path.iterdir():
        os.utime(folder, (old, old))
    late = _post(client, form, [], language="en", **ALL_CONSENT)
    assert late.status_code == 400
    assert "were removed after" in late.get_data(as_text=True)
    assert _count(app, Testimony) == 0
    assert _files_under(config.spool_path) == []


def test_same_form_sent_twice_creates_one_testimony(app: Flask, client: FlaskClient) -> None:
    form = _fresh_form(client)
    files = [(fx.tone_wav(1.0), "a.wav")]
    first = _post(client, form, files, language="en", **ALL_CONSENT)
    second = _post(client, form, files, language="en", **ALL_CONSENT)
    assert first.status_code == second.status_code == 303
    assert second.headers["Location"] == first.headers["Location"]
    assert _count(app, Testimony) == 1
    assert len(receipt_code(client.get("/sent"))) == 16


def test_two_clicks_at_once_create_one_testimony_and_both_see_the_code(
    app: Flask, config: Config
) -> None:
    page = app.test_client()
    form = _fresh_form(page)
    # A second browser session posting the same form's token at the same moment.
    other = app.test_client()
    other_form = {"csrf_token": csrf_token(other), "form_token": form["form_token"]}
    wav = fx.tone_wav(3.0)
    results: dict[str, Any] = {}

    def send(name: str, client: FlaskClient, data: dict[str, Any]) -> None:
        results[name] = _post(client, data, [(wav, "a.wav")], language="en", **ALL_CONSENT)

    threads = [
        threading.Thread(target=send, args=("a", page, form)),
        threading.Thread(target=send, args=("b", other, other_form)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert [results[k].status_code for k in ("a", "b")] == [303, 303]
    assert _count(app, Testimony) == 1
    assert _count(app, SentForm) == 1
    codes = {receipt_code(page.get("/sent")), receipt_code(other.get("/sent"))}
    assert len(codes) == 1
    assert _files_under(config.storage_path).__len__() == 2  # one access copy, one original


def test_receipt_page_keeps_the_code_through_a_language_switch(
    app: Flask, client: FlaskClient
) -> None:
    form = _fresh_form(client)
    sent = _post(client, form, [(fx.tone_wav(1.0), "a.wav")], language="en", **ALL_CONSENT)
    assert sent.status_code == 303
    english = client.get("/sent")
    code = receipt_code(english)
    assert english.headers["Cache-Control"] == "no-store"
    switched = client.get("/language/fa?next=/sent", follow_redirects=True)
    html = switched.get_data(as_text=True)
    assert '<html lang="fa" dir="rtl">' in html
    assert receipt_code(switched) == code
    grouped = " ".join(code[i : i + 4] for i in range(0, 16, 4))
    assert grouped.translate(PERSIAN) in html and grouped in html  # both digit systems
    # No way off the page but the language switch (and the stylesheet).
    links = re.findall(r'href="([^"]+)"', html)
    assert links and all(u.startswith(("/language/", "/static/")) for u in links), links
    # The code is in no address the browser was sent to.
    for response in (sent, *switched.history):
        assert code not in response.headers.get("Location", "")


def test_confirming_forgets_the_code_for_good(app: Flask, client: FlaskClient) -> None:
    form = _fresh_form(client)
    _post(client, form, [(fx.tone_wav(1.0), "a.wav")], language="en", **ALL_CONSENT)
    code = receipt_code(client.get("/sent"))
    before = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert before is not None
    token = csrf_token(client, "/sent")
    unticked = client.post("/sent", data={"csrf_token": token})
    assert unticked.status_code == 400
    assert receipt_code(unticked) == code
    confirmed = client.post("/sent", data={"csrf_token": token, "written": "y"})
    assert confirmed.status_code == 303
    after = client.get("/sent").get_data(as_text=True)
    assert 'id="already-sent"' in after and code not in after
    with app.extensions["testimony"].db.session() as s:
        assert s.scalars(select(SentForm)).one().sealed_code is None
    # An old copy of the session cookie does not bring the code back.
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], before.value)
    replayed = client.get("/sent").get_data(as_text=True)
    assert code not in replayed and 'id="already-sent"' in replayed
    # Sending the form again now leads to the harmless page, and creates nothing.
    again = _post(client, form, [(fx.tone_wav(1.0), "a.wav")], language="en", **ALL_CONSENT)
    assert again.status_code == 303
    assert 'id="already-sent"' in client.get("/sent").get_data(as_text=True)
    assert _count(app, Testimony) == 1


def test_unconfirmed_code_is_forgotten_by_the_sweep(
    app: Flask, client: FlaskClient, config: Config
) -> None:
    form = _fresh_form(client)
    _post(client, form, [(fx.tone_wav(1.0), "a.wav")], language="en", **ALL_CONSENT)
    svc = app.extensions["testimony"]
    svc.config = config.with_overrides(receipt_keep_s=-1.0)
    assert upkeep.run_once(svc)["forgotten"] == 1
    assert 'id="already-sent"' in client.get("/sent").get_data(as_text=True)


def test_outbox_failure_after_commit_still_shows_the_receipt(
    app: Flask, client: FlaskClient
) -> None:
    """The publish step's database write fails after the testimony was committed.

    Why a hook: the failure must land between the commit and the response, on the outbox
    update only; no broker or database setting can aim that precisely, so a listener on the
    real engine makes that one statement fail as a locked database would.
    """
    engine = app.extensions["testimony"].db.engine

    def locked(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE JOB"):
            raise OperationalError(statement, {}, Exception("database is locked"))

    event.listen(engine, "before_cursor_execute", locked)
    try:
        form = _fresh_form(client)
        sent = _post(client, form, [(fx.tone_wav(1.0), "a.wav")], language="en", **ALL_CONSENT)
        assert sent.status_code == 303, sent.get_data(as_text=True)
        receipt = client.get("/sent")
        assert len(receipt_code(receipt)) == 16
        assert "nothing was saved" not in receipt.get_data(as_text=True)
        with app.extensions["testimony"].db.session() as s:
            assert s.scalars(select(Job)).one().published_at is None
    finally:
        event.remove(engine, "before_cursor_execute", locked)
    assert upkeep.run_once(app.extensions["testimony"])["published"] == 1


@pytest.mark.parametrize("locale", ["fa", "en"])
def test_receipt_card_prints_alone(app: Flask, client: FlaskClient, locale: str) -> None:
    client.get(f"/language/{locale}?next=/")
    form = _fresh_form(client)
    _post(client, form, [(fx.tone_wav(1.0), "a.wav")], language="en", **ALL_CONSENT)
    html = client.get("/sent").get_data(as_text=True)
    assert 'class="receipt-card"' in html and 'id="keep-safe"' in html
    css = (Path(str(app.static_folder)) / "style.css").read_text()
    assert "@media print" in css and ":not(.receipt-card)" in css


def test_switching_language_on_the_form_keeps_what_was_typed_and_sent(
    app: Flask, client: FlaskClient, config: Config
) -> None:
    form = _fresh_form(client)
    wav = fx.tone_mp3(1.0)
    # The visitor chose a file and typed a note, then pressed "فارسی" in the page's header:
    # the button belongs to the form, so all of it comes along, unjudged (no consent yet).
    switched = _post(
        client,
        form,
        [(wav, "a.mp3")],
        language="en",
        removal_notes="Evin, ward 209",
        switch_language="fa",
    )
    html = switched.get_data(as_text=True)
    assert switched.status_code == 200
    assert '<html lang="fa" dir="rtl">' in html
    assert "Evin, ward 209" in html  # what was typed
    assert form["form_token"] in html  # the same form, so the same kept files
    assert 'data-kept="1"' in html
    assert "lang=fa" in switched.headers.get("Set-Cookie", "")
    assert _count(app, Testimony) == 0
    # The form, now in Persian, goes through without sending the file again.
    done = _post(client, form, [], language="en", **ALL_CONSENT)
    assert done.status_code == 303
    assert _count(app, AudioFile) == 1
    assert _files_under(config.spool_path) == []


def test_the_forms_rules_each_name_their_own_problem(config: Config) -> None:
    """Every rule of the form at its edge: some use consented, translation only with a
    transcription, at least one file and at most the configured number."""
    most = config.max_files_per_submission

    def choices(**ticked: bool) -> ConsentChoices:
        fields = dict.fromkeys(
            ("archive", "transcribe", "translate", "publish_anonymised", "publish_named"), False
        )
        return ConsentChoices(**{**fields, **ticked}, embargo_until=None)

    keep = choices(archive=True)
    assert submissions.problems(keep, 1, config) == []
    assert submissions.problems(keep, most, config) == []
    assert submissions.problems(keep, most + 1, config) == ["too_many_files"]
    assert submissions.problems(keep, 0, config) == ["no_audio"]
    assert submissions.problems(choices(), 1, config) == ["no_consent"]
    assert submissions.problems(choices(translate=True), 1, config) == [
        "translate_needs_transcribe"
    ]
    assert submissions.problems(choices(transcribe=True, translate=True), 1, config) == []
    assert submissions.problems(choices(), 0, config) == ["no_consent", "no_audio"]
