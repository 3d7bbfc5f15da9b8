"""Questions to a submitter through the receipt code (SPEC 10): a staff member who may open a
record writes one; the submitter reads it on the status page with the code and answers in
writing or with a recording (through the add-audio path, transcribed only under consent); the
staff see the answer and the queues say so; staff outside the record's work get 404; the public
app reads neither side, and nothing of either is left in plaintext anywhere."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import LargeBinary, MetaData, Text, create_engine, select

from intake import crypto, sealing
from intake.crypto import Keyring, MissingSecret
from intake.events import Action, Actor
from intake.models import Event, Job, Question, Role, Testimony, TestimonyState
from intake.public import questions as public_questions
from intake.records import lifecycle, messages
from intake.review import questions as staff_questions
from intake.review import transcripts
from tests import audio_fixtures as fx
from tests.staff_support import ready_account, result_of, sign_in, staff_client
from tests.support import csrf_token, post_multipart, receipt_code, submit, worker_keyring
from tests.translation_support import approved_testimony

QUESTION = "Which prison was that, quillfeather-question-canary?"
ANSWER = "It was the old fortress, marrowdune-answer-canary."


def _transcribed(app: Flask, client: FlaskClient, **consent: str) -> tuple[str, str]:
    """Submit a recording through the form and store its transcript as the worker does;
    returns (receipt code, pseudonym) of a record now `transcribed`."""
    fields = consent or {"archive": "y", "transcribe": "y", "translate": "y"}
    code = receipt_code(submit(client, [(fx.tone_wav(2.0), "a.wav")], consent=fields))
    svc = app.extensions["testimony"]
    keys = worker_keyring(app)
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).order_by(Testimony.id.desc())).first()
        assert testimony is not None
        pseudonym = testimony.pseudonym
        if testimony.consent.transcribe:
            lifecycle.transition(s, testimony, TestimonyState.transcribing, Actor.worker)
            transcripts.add_transcript(
                s, keys, testimony, testimony.audio_files[0].id, None,
                result_of(["one two three"]), "test", Actor.worker,
            )  # fmt: skip
            transcripts.finish_if_complete(s, testimony, Actor.worker)
    return code, pseudonym


def _ask(staff_app: Flask, pseudonym: str, text: str = QUESTION) -> FlaskClient:
    reviewer = ready_account(staff_app, "reviewer@example.org", [Role.reviewer])
    client = staff_client(staff_app)
    sign_in(client, reviewer)
    token = csrf_token(client, f"/staff/records/{pseudonym}")
    r = client.post(
        f"/staff/records/{pseudonym}/questions", data={"csrf_token": token, "question": text}
    )
    assert r.status_code == 303, r.get_data(as_text=True)
    return client


def _status(client: FlaskClient, code: str) -> str:
    r = client.post("/receipt", data={"csrf_token": csrf_token(client, "/receipt"), "code": code})
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_data(as_text=True)


def _question_id(html: str) -> str:
    match = re.search(r'data-question="(\d+)"', html)
    assert match, "no question on the status page"
    return match.group(1)


def test_a_question_is_read_and_answered_in_writing(
    app: Flask, client: FlaskClient, staff_app: Flask
) -> None:
    code, pseudonym = _transcribed(app, client)
    staff = _ask(staff_app, pseudonym)
    page = staff.get(f"/staff/records/{pseudonym}").get_data(as_text=True)
    assert QUESTION in page and "question waiting" in page
    queue = staff.get("/staff/review/").get_data(as_text=True)
    assert 'data-waiting="1"' in queue
    html = _status(client, code)
    assert QUESTION in html
    qid = _question_id(html)
    r = client.post(
        "/receipt/answer",
        data={"csrf_token": csrf_token(client, "/receipt"), "code": code, "question": qid,
              "answer": ANSWER},
    )  # fmt: skip
    html = r.get_data(as_text=True)
    assert r.status_code == 200, html
    assert "Your answer was sent" in html and "You answered on" in html
    # The public page never shows the answer again: it cannot open it.
    assert ANSWER not in html
    page = staff.get(f"/staff/records/{pseudonym}").get_data(as_text=True)
    assert ANSWER in page and 'data-state="answered"' in page
    queue = staff.get("/staff/review/").get_data(as_text=True)
    assert 'data-answered="1"' in queue and "data-waiting" not in queue
    # Events: account id and question id only, never the text.
    with app.extensions["testimony"].db.session() as s:
        events = s.scalars(select(Event).where(Event.action.in_(
            [Action.question_asked, Action.question_answered]
        ))).all()  # fmt: skip
        assert [e.action for e in events] == [Action.question_asked, Action.question_answered]
        assert events[0].account_id is not None and events[1].actor == Actor.submitter
        assert "canary" not in json.dumps([e.detail for e in events])
    # A second answer to the same question is refused, and says so.
    r = client.post(
        "/receipt/answer",
        data={"csrf_token": csrf_token(client, "/receipt"), "code": code, "question": qid,
              "answer": "again"},
    )  # fmt: skip
    assert r.status_code == 400 and "already answered" in r.get_data(as_text=True)


def test_bad_answers_are_refused_in_the_visitors_language_and_kept_as_typed(
    app: Flask, client: FlaskClient, staff_app: Flask
) -> None:
    code, pseudonym = _transcribed(app, client)
    _ask(staff_app, pseudonym)
    qid = _question_id(_status(client, code))
    long = "x" * (messages.MAX_CHARS + 1)
    data = {"csrf_token": csrf_token(client, "/receipt"), "code": code, "question": qid}
    r = client.post("/receipt/answer", data={**data, "answer": long})
    assert r.status_code == 400 and "longer than 4000 characters" in r.get_data(as_text=True)
    assert long in r.get_data(as_text=True)  # the typed text comes back
    r = client.post("/receipt/answer", data={**data, "answer": "   "})
    assert r.status_code == 400 and "Please write your answer" in r.get_data(as_text=True)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fa"
    r = client.post("/receipt/answer", data={**data, "answer": ""})
    assert r.status_code == 400 and "لطفاً پاسخ خود را بنویسید" in r.get_data(as_text=True)
    # A question id that is no question, or another record's question, is refused here.
    r = client.post("/receipt/answer", data={**data, "question": "999", "answer": "a"})
    assert r.status_code == 400
    other = receipt_code(submit(client, [(fx.tone_wav(1.0), "b.wav")]))
    assert other != code
    with app.extensions["testimony"].db.session() as s:
        newest = s.scalars(select(Testimony).order_by(Testimony.id.desc())).first()
        assert newest is not None
        foreign = staff_questions.ask(s, worker_keyring(app), 1, newest, "another record's")
        foreign_id = foreign.id
    r = client.post("/receipt/answer", data={**data, "question": str(foreign_id), "answer": "a"})
    assert r.status_code == 400
    assert "به این پرسش در این‌جا نمی‌توان پاسخ داد" in r.get_data(as_text=True)
    with app.extensions["testimony"].db.session() as s:
        assert [q.answered_at for q in s.scalars(select(Question))] == [None, None]


def test_the_status_page_shows_questions_in_persian_and_english(
    app: Flask, client: FlaskClient, staff_app: Flask
) -> None:
    code, pseudonym = _transcribed(app, client)
    _ask(staff_app, pseudonym, "کدام زندان بود؟")
    english = _status(client, code)
    assert "Questions from the archive" in english and "کدام زندان بود؟" in english
    assert "Send this answer" in english and "Or answer with a recording" in english
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fa"
    persian = _status(client, code)
    assert "پرسش‌های آرشیو" in persian and "کدام زندان بود؟" in persian
    assert "فرستادن این پاسخ" in persian and 'dir="rtl"' in persian


def _answer_with_audio(client: FlaskClient, code: str, qid: str) -> str:
    r = post_multipart(
        client,
        "/receipt/add",
        {
            "csrf_token": csrf_token(client, "/receipt"),
            "code": code,
            "question": qid,
            "audio": [(io.BytesIO(fx.tone_wav(1.5)), "answer.wav")],
        },
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 200, html
    assert "Your recorded answer was added" in html
    return html


def test_a_recorded_answer_goes_through_add_audio_and_is_transcribed_under_consent(
    app: Flask, client: FlaskClient, staff_app: Flask
) -> None:
    code, pseudonym = _transcribed(app, client)
    staff = _ask(staff_app, pseudonym)
    html = _answer_with_audio(client, code, _question_id(_status(client, code)))
    assert re.search(r'id="recording-count">2<', html)
    with app.extensions["testimony"].db.session() as s:
        question = s.scalars(select(Question)).one()
        audio_ids = json.loads(question.answer_audio or "[]")
        assert len(audio_ids) == 1 and question.answered_at is not None
        # The same path as any added recording: its transcription job is queued.
        jobs = s.scalars(select(Job).where(Job.audio_file_id == audio_ids[0])).all()
        assert len(jobs) == 1
        added = s.scalars(select(Event).where(Event.action == Action.audio_added)).all()
        assert len(added) == 1
        # The new recording sends the record back to transcription, as any added audio does
        # (so the reviewer's page waits for it); the staff's reading of the exchange:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        assert testimony.state != TestimonyState.transcribed
        shown = staff_questions.exchanges(s, worker_keyring(app), testimony)
        assert [(e.text, e.recordings, e.state) for e in shown] == [
            (QUESTION, [2], messages.QuestionState.answered)
        ]
    assert staff.get(f"/staff/records/{pseudonym}").status_code == 404


def test_a_recorded_answer_is_not_transcribed_without_consent(
    app: Flask, client: FlaskClient
) -> None:
    code, pseudonym = _transcribed(app, client, archive="y")
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        staff_questions.ask(s, worker_keyring(app), 1, testimony, QUESTION)
    _answer_with_audio(client, code, _question_id(_status(client, code)))
    with svc.db.session() as s:
        question = s.scalars(select(Question)).one()
        audio_ids = json.loads(question.answer_audio or "[]")
        assert len(audio_ids) == 1
        assert s.scalars(select(Job).where(Job.audio_file_id == audio_ids[0])).all() == []


def test_staff_outside_the_records_work_get_404(
    app: Flask, client: FlaskClient, staff_app: Flask
) -> None:
    _code, pseudonym = _transcribed(app, client)
    # A translator works on approved transcripts only; this one is just transcribed.
    translator = ready_account(staff_app, "translator@example.org", [Role.translator])
    other = staff_client(staff_app)
    sign_in(other, translator)
    token = csrf_token(other, "/staff/translate/")
    r = other.post(
        f"/staff/records/{pseudonym}/questions", data={"csrf_token": token, "question": "?"}
    )
    assert r.status_code == 404
    assert other.get(f"/staff/records/{pseudonym}").status_code == 404
    with app.extensions["testimony"].db.session() as s:
        assert s.scalars(select(Question)).all() == []


def test_an_empty_or_long_question_is_refused_and_nothing_is_written(
    app: Flask, client: FlaskClient, staff_app: Flask
) -> None:
    _code, pseudonym = _transcribed(app, client)
    reviewer = ready_account(staff_app, "reviewer@example.org", [Role.reviewer])
    staff = staff_client(staff_app)
    sign_in(staff, reviewer)
    token = csrf_token(staff, f"/staff/records/{pseudonym}")
    for text, said in (("  ", "Please write the question."), ("y" * 4001, "longer than")):
        r = staff.post(
            f"/staff/records/{pseudonym}/questions", data={"csrf_token": token, "question": text}
        )
        assert r.status_code == 400 and said in r.get_data(as_text=True)
    with app.extensions["testimony"].db.session() as s:
        assert s.scalars(select(Question)).all() == []
        assert s.scalars(select(Event).where(Event.action == Action.question_asked)).all() == []


def test_the_public_app_opens_neither_side(app: Flask, client: FlaskClient) -> None:
    code, pseudonym = _transcribed(app, client)
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        question = staff_questions.ask(s, worker_keyring(app), 1, testimony, QUESTION)
        public_questions.answer_with_text(s, svc.keyring, testimony, question.id, ANSWER)
        s.refresh(question)
        assert question.answer is not None and question.for_submitter is not None
        with pytest.raises(MissingSecret):
            sealing.open_answer(svc.keyring, testimony.id, question.id, question.answer)
        with pytest.raises(MissingSecret):
            sealing.open_question_for_archive(
                svc.keyring, testimony.id, question.id, question.for_archive
            )
        # Only the code's key opens the submitter's copy; the stored digest is not that key.
        private, public = sealing.submitter_message_keys(code, svc.keyring.receipt_pepper)
        assert public == testimony.message_key
        assert private != testimony.receipt_digest and public != testimony.receipt_digest
        # Nor is it made from the stored digest, which the database holds.
        label = b"testimony receipt messages x25519"
        assert crypto.derive_key(testimony.receipt_digest, label) != private
        opened = sealing.open_question_for_submitter(
            private, testimony.id, question.id, question.for_submitter
        )
        assert opened == QUESTION
        wrong, _ = sealing.submitter_message_keys("0" * 16, svc.keyring.receipt_pepper)
        with pytest.raises(crypto.DecryptionError):
            sealing.open_question_for_submitter(
                wrong, testimony.id, question.id, question.for_submitter
            )
        # Moved to another row, it does not open there.
        with pytest.raises(crypto.DecryptionError):
            sealing.open_question_for_submitter(
                private, testimony.id, question.id + 1, question.for_submitter
            )


def test_a_record_older_than_questions_gets_its_key_at_the_next_visit(
    app: Flask, client: FlaskClient, staff_app: Flask
) -> None:
    code, pseudonym = _transcribed(app, client)
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        testimony.message_key = None  # as a record received before questions existed
        s.commit()
    staff = _ask(staff_app, pseudonym)
    page = staff.get(f"/staff/records/{pseudonym}").get_data(as_text=True)
    assert 'data-state="held"' in page
    assert QUESTION not in _status(client, code)  # stores the key; nothing to read yet
    page = staff.get(f"/staff/records/{pseudonym}").get_data(as_text=True)
    assert 'data-state="waiting"' in page  # sealed to the new key by the staff app
    assert QUESTION in _status(client, code)


def test_withdrawal_destroys_questions_and_answers(app: Flask, client: FlaskClient) -> None:
    code, pseudonym = _transcribed(app, client)
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        question = staff_questions.ask(s, worker_keyring(app), 1, testimony, QUESTION)
        public_questions.answer_with_text(s, svc.keyring, testimony, question.id, ANSWER)
    token = csrf_token(client, "/receipt")
    client.post("/receipt/withdraw", data={"csrf_token": token, "code": code, "confirm": "y"})
    with svc.db.session() as s:
        assert s.scalars(select(Question)).all() == []
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        assert testimony.message_key is None
        with pytest.raises(messages.MessageRefused):
            staff_questions.ask(s, worker_keyring(app), 1, testimony, QUESTION)


def _text_values(url: str) -> list[bytes]:
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(bind=engine)
    found: list[bytes] = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                for value in row._mapping.values():
                    if isinstance(value, bytes | memoryview):
                        found.append(bytes(value))
                    elif value is not None:
                        found.append(str(value).encode())
    engine.dispose()
    return found


def test_no_question_or_answer_is_left_in_plaintext(
    app: Flask, client: FlaskClient, staff_app: Flask
) -> None:
    code, pseudonym = _transcribed(app, client)
    staff = _ask(staff_app, pseudonym)
    qid = _question_id(_status(client, code))
    client.post(
        "/receipt/answer",
        data={"csrf_token": csrf_token(client, "/receipt"), "code": code, "question": qid,
              "answer": ANSWER},
    )  # fmt: skip
    # CONTROL: both were stored and open with the right keys, so the search could find them.
    assert ANSWER in staff.get(f"/staff/records/{pseudonym}").get_data(as_text=True)
    config = app.extensions["testimony"].config
    needles = [
        form.encode(encoding)
        for canary in ("quillfeather-question-canary", "marrowdune-answer-canary")
        for form in (canary, canary.upper())
        for encoding in ("utf-8", "utf-16-le")
    ]
    values = _text_values(config.database_url)
    assert values, "the database was read"
    assert any(isinstance(v, bytes) for v in values)
    for value in values:
        assert not any(n in value for n in needles), value[:200]
    files = [p for p in Path(config.instance_path).rglob("*") if p.is_file()]
    assert files, "the instance folder was searched, not empty"
    for path in files:
        data = path.read_bytes()
        assert not any(n in data for n in needles), path


def test_every_text_column_of_questions_is_sealed() -> None:
    """The question table holds no plaintext column but the audio ids (a JSON list of ids)."""
    table = Question.__table__
    texts = [c.name for c in table.columns if isinstance(c.type, LargeBinary | Text)]
    assert sorted(texts) == ["answer", "answer_audio", "for_archive", "for_submitter"]


def test_public_keyring_cannot_open_archive_copies(app: Flask) -> None:
    keyring: Keyring = app.extensions["testimony"].keyring
    sealed = sealing.seal_answer(keyring, 1, 1, ANSWER)
    with pytest.raises(MissingSecret):
        sealing.open_answer(keyring, 1, 1, sealed)


def test_the_translation_queue_and_the_persian_record_page_show_questions(
    app: Flask, staff_app: Flask
) -> None:
    pseudonym = approved_testimony(app, ["یک دو سه"])
    translator = ready_account(staff_app, "translator@example.org", [Role.translator])
    staff = staff_client(staff_app)
    sign_in(staff, translator)
    assert "data-waiting" not in staff.get("/staff/translate/").get_data(as_text=True)
    token = csrf_token(staff, f"/staff/records/{pseudonym}")
    r = staff.post(
        f"/staff/records/{pseudonym}/questions", data={"csrf_token": token, "question": QUESTION}
    )
    assert r.status_code == 303
    assert 'data-waiting="1"' in staff.get("/staff/translate/").get_data(as_text=True)
    staff.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fa"
    page = staff.get(f"/staff/records/{pseudonym}").get_data(as_text=True)
    assert "پرسش‌ها از فرستنده" in page and "پرسش در انتظار" in page and QUESTION in page
