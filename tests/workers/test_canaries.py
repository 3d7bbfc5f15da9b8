"""Canaries: what a submitter tells us is found nowhere in plaintext.

One testimony goes through the real public flow with a distinctive canary in each place a
submitter can put something identifying: the name, the contact, the removal notes, the ID3
tags of the MP3 and the words spoken in it, and later a question from the archive and the
submitter's written answer on the status page. A real worker process transcribes it; two
reviewers approve it, which puts it in the keyed search index, and an indexer adds an index
point and cites a new entity of the register, each with a canary of its own. Then every
place an adversary could read is searched for every canary: each table and column of the
database (reflected from the database itself, so a table the models forgot is searched too;
SQLite or PostgreSQL), every file under the instance folder (storage, spool, temporary files,
the SQLite database and broker), the temporary folder the processes were given, the web app's
and the worker's log output, the broker's messages (every key of the Redis database when the
suite runs on Redis) and the task results, of which there must be none.

A search that finds nothing proves nothing unless it could have found something, so the test
first opens, with the worker's keys, the sealed name, contact, removal notes and transcript and
asserts each canary is really in them: the spoken word reached the transcript, so a leak of the
transcript anywhere would be caught; and the spoken word is found through the search index, so
the index holds it (keyed), not in plaintext.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import tempfile
import wave
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, MetaData, create_engine, func, select

from intake import sealing
from intake.config import Config
from intake.models import (
    Base,
    EntityKind,
    Identity,
    Job,
    JobStatus,
    Role,
    SearchEntry,
    Segment,
    Testimony,
    TestimonyState,
)
from intake.review import entities, index_points, questions, review, search_index
from tests import audio_fixtures as fx
from tests.conftest import espeak_wav
from tests.support import csrf_token, receipt_code, submit, worker_keyring
from tests.workers.test_worker_process import WorkerProcess, wait_for
from tests.workers.test_worker_process import workers as workers  # noqa: F401 - fixture
from workers.celery_app import make_worker_app

pytestmark = [pytest.mark.worker, pytest.mark.model]

NAME = "Canaryname Qzvbelt"
CONTACT = "canary-contact-hollowmere@example.org"
REMOVAL_NOTES = "Please remove Canarynotes Wexfordqz from the published copy."
NOTES_CANARY = "Canarynotes Wexfordqz"
TAG_CANARY = fx.CANARY
#: Whisper base writes this word back reliably from espeak-ng's English (checked by the control).
SPOKEN_CANARY = "marmalade"
SENTENCE = "The secret word is marmalade. Please remember the marmalade."

#: A question to the submitter and the submitter's written answer (both sealed).
QUESTION_CANARY = "Quillfeather Oswyn"
ANSWER_CANARY = "Marrowdune Ithrel"

#: Written by an indexer: an index point's title and an entity of the register.
POINT_CANARY = "Brindlecove Ustamere"
ENTITY_CANARY = "Ostrevick Quendamor"
CANARIES = [
    NAME,
    CONTACT,
    NOTES_CANARY,
    TAG_CANARY,
    SPOKEN_CANARY,
    QUESTION_CANARY,
    ANSWER_CANARY,
    POINT_CANARY,
    ENTITY_CANARY,
]


def _needles() -> dict[bytes, str]:
    """Each canary in the encodings a leak could take, lowercased (haystacks are lowercased
    too, so "Marmalade" at the start of a sentence is caught), mapped to the canary."""
    found: dict[bytes, str] = {}
    for canary in CANARIES:
        for form in {canary, canary.split()[0], canary.split()[-1]}:
            low = form.lower()
            for encoded in (
                low.encode(),
                low.encode("utf-16-le"),
                quote_plus(low).encode(),
            ):
                found[encoded] = canary
    return found


NEEDLES = _needles()


def _hits(where: str, data: bytes) -> list[str]:
    low = data.lower()
    found = {canary for needle, canary in NEEDLES.items() if needle in low}
    return [f"{canary!r} in {where}" for canary in sorted(found)]


def _message_bodies(value: object) -> Iterator[bytes]:
    """The decoded bodies of the kombu messages inside a decoded JSON value: a broker keeps
    each message's body base64-encoded, where a plain search would miss a leak."""
    if isinstance(value, dict):
        properties = value.get("properties")
        if (
            isinstance(value.get("body"), str)
            and isinstance(properties, dict)
            and properties.get("body_encoding") == "base64"
        ):
            yield base64.b64decode(value["body"])
        for item in value.values():
            yield from _message_bodies(item)
    elif isinstance(value, list):
        for item in value:
            yield from _message_bodies(item)


def _broker_hits(where: str, data: bytes) -> list[str]:
    """`_hits` on a broker's stored value, and on the bodies of the messages it holds."""
    hits = _hits(where, data)
    try:
        decoded = json.loads(data)
    except ValueError:
        return hits
    bodies = list(_message_bodies(decoded))
    for body in bodies:
        hits += _hits(f"a message body in {where}", body)
    return hits


def _speech_mp3(tmp_path: Path) -> bytes:
    """espeak-ng's English saying `SENTENCE`, as an MP3 whose ID3 tags all hold `TAG_CANARY`."""
    wav_path = espeak_wav(tmp_path / "canary-speech.wav", SENTENCE)
    with wave.open(str(wav_path), "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        rate, pcm = w.getframerate(), w.readframes(w.getnframes())
    wav_path.unlink()  # the scan must not find our own input
    mp3 = fx.encode_pcm(
        "mp3",
        "libmp3lame",
        pcm,
        rate=rate,
        metadata={"title": TAG_CANARY, "artist": TAG_CANARY, "comment": TAG_CANARY},
    )
    assert TAG_CANARY.encode() in mp3, "the tags should be in the upload in plaintext"
    return mp3


def _value_bytes(value: object) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False).encode()
    return str(value).encode()


def _scan_database(engine: Engine) -> list[str]:
    """Every value of every column of every table, as the database itself lists them."""
    meta = MetaData()
    meta.reflect(bind=engine)
    missing = set(Base.metadata.tables) - set(meta.tables)
    assert not missing, f"tables of the models not in the database: {missing}"
    hits: list[str] = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                for column, value in row._mapping.items():
                    if value is not None:
                        hits += _hits(f"database {table.name}.{column}", _value_bytes(value))
    return hits


def _scan_folder(folder: Path) -> list[str]:
    hits: list[str] = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            hits += _hits(f"file {path}", path.read_bytes())
    return hits


def _is_message(data: bytes) -> bool:
    try:
        return any(True for _ in _message_bodies(json.loads(data)))
    except ValueError:
        return False


def _scan_sqlite_broker(url: str) -> tuple[list[str], int]:
    """Every value of the SQLite broker's tables (its file is searched as a file as well)."""
    engine = create_engine(url.removeprefix("sqla+"))
    meta = MetaData()
    hits: list[str] = []
    messages = 0
    try:
        meta.reflect(bind=engine)
        with engine.connect() as conn:
            for table in meta.sorted_tables:
                for row in conn.execute(select(table)):
                    for column, value in row._mapping.items():
                        data = _value_bytes(value)
                        hits += _broker_hits(f"broker {table.name}.{column}", data)
                        messages += _is_message(data)
    finally:
        engine.dispose()
    return hits, messages


def _scan_redis(url: str) -> tuple[list[str], int]:
    """Every key of the broker's Redis database with its value, whatever its type."""
    import redis

    client = redis.Redis.from_url(url)
    hits: list[str] = []
    messages = 0
    try:
        for key in client.scan_iter():
            kind = client.type(key).decode()
            parts: list[bytes] = [key]
            if kind == "string":
                parts.append(client.get(key) or b"")
            elif kind == "list":
                parts += client.lrange(key, 0, -1)
            elif kind == "hash":
                for field, value in client.hgetall(key).items():
                    parts += [field, value]
            elif kind == "set":
                parts += list(client.smembers(key))
            elif kind == "zset":
                parts += [member for member, _ in client.zrange(key, 0, -1, withscores=True)]
            elif kind == "stream":
                for _, fields in client.xrange(key):
                    for field, value in fields.items():
                        parts += [field, value]
            else:
                raise AssertionError(f"broker key {key!r} of a type this scan cannot read: {kind}")
            assert not key.startswith(b"celery-task-meta-"), f"a task result was stored: {key!r}"
            for part in parts:
                hits += _broker_hits(f"broker key {key!r}", part)
            messages += sum(1 for part in parts if _is_message(part))
    finally:
        client.close()
    return hits, messages


def _scan_everything(
    app: Flask, config: Config, tmp_dir: Path, logs: list[tuple[str, str]]
) -> tuple[list[str], int]:
    """Every hit of a canary, and how many broker messages were read."""
    hits = _scan_database(app.extensions["testimony"].db.engine)
    hits += _scan_folder(config.instance_path)
    hits += _scan_folder(tmp_dir)
    for where, text in logs:
        hits += _hits(where, text.encode())
    if config.broker_url.startswith("redis"):
        broker_hits, messages = _scan_redis(config.broker_url)
    else:
        broker_hits, messages = _scan_sqlite_broker(config.broker_url)
    return hits + broker_hits, messages


@pytest.fixture
def process_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temporary folder of this test for both processes' `tempfile`, so it can be searched."""
    folder = tmp_path / "process-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder


def _controls(app: Flask) -> str:
    """Open what was sealed, with the worker's keys, and return the transcript's text."""
    svc = app.extensions["testimony"]
    keys = worker_keyring(app)
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony)).one()
        key = sealing.testimony_key(keys, testimony.wrapped_key)
        assert testimony.removal_notes is not None
        notes = sealing.open_removal_notes(key, testimony.id, testimony.removal_notes)
        assert notes == REMOVAL_NOTES
        identity = s.scalars(select(Identity)).one()
        assert identity.wrapped_key is not None, "no custodian yet: the identity waits sealed"
        identity_key = sealing.waiting_identity_key(keys, identity.wrapped_key)
        opened = sealing.open_identity(identity_key, testimony.id, identity.sealed)
        assert opened == {"name": NAME, "contact": CONTACT}
        segments = s.scalars(select(Segment).order_by(Segment.position)).all()
        return " ".join(
            sealing.open_segment(key, seg.transcript_id, seg.position, seg.sealed)["text"]
            for seg in segments
        )


def _index_and_cite(app: Flask, staff_app: Flask) -> None:
    """Approve every segment as a reviewer (indexing the transcript), then add an index point
    and cite a new prison as an indexer, all with the staff app's keys."""
    keys = staff_app.extensions["testimony"].keyring
    with app.extensions["testimony"].db.session() as s:
        testimony = s.scalars(select(Testimony)).one()
        review.start_review(s, testimony, "account:1")
        for seg in s.scalars(select(Segment).order_by(Segment.position)).all():
            review.approve(s, testimony, seg.id, seg.version, "account:2", keys)
        assert testimony.state == TestimonyState.transcript_approved
        words = index_points.Words(title=POINT_CANARY, synopsis=f"{POINT_CANARY} again")
        index_points.add(
            s,
            keys,
            testimony,
            testimony.audio_files[0].id,
            0.0,
            index_points.PointText(words),
            "account:3",
        )
        first = s.scalars(select(Segment).order_by(Segment.position)).first()
        assert first is not None
        entities.cite_new(
            s,
            keys,
            testimony,
            EntityKind.prison,
            entities.Facts(name_en=ENTITY_CANARY),
            "account:3",
            segment_id=first.id,
        )


def test_no_canary_is_found_in_plaintext_anywhere(
    app: Flask,
    staff_app: Flask,
    client: FlaskClient,
    config: Config,
    tmp_path: Path,
    process_tmp: Path,
    caplog: pytest.LogCaptureFixture,
    workers: list[WorkerProcess],  # noqa: F811 - the fixture imported above
) -> None:
    # The level `testimony serve` logs at (intake.cli configures INFO).
    caplog.set_level(logging.INFO)
    mp3 = _speech_mp3(tmp_path)
    response = submit(
        client,
        [(mp3, "voice-memo.mp3")],
        language="en",
        name=NAME,
        contact=CONTACT,
        removal_notes=REMOVAL_NOTES,
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    del mp3

    # Before any worker runs, the job's message waits in the broker and the upload's traces
    # (spool, temporary files) are as fresh as they get.
    hits, messages = _scan_everything(app, config, process_tmp, [("web app log", caplog.text)])
    assert not hits, "\n".join(hits)
    assert messages >= 1, "the job's message should have been read from the broker"

    log = tmp_path / "worker.log"
    worker = WorkerProcess(config, log, {"TMPDIR": str(process_tmp)}).start()
    workers.append(worker)
    svc = app.extensions["testimony"]

    def finished() -> bool:
        with svc.db.session() as s:
            state = s.scalars(select(Testimony.state)).one()
            statuses = set(s.scalars(select(Job.status)))
        return state == TestimonyState.transcribed and statuses <= {JobStatus.done}

    wait_for(finished, 120, "the transcript and every job done", log)
    worker.stop()  # its log is complete once it has exited

    # The archive asks a question (as the staff app does) and the submitter answers it on the
    # status page with the receipt code.
    code = receipt_code(response)
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony)).one()
        asked = questions.ask(s, worker_keyring(app), 1, testimony, f"Was {QUESTION_CANARY} there?")
        question_id = asked.id
    answered = client.post(
        "/receipt/answer",
        data={
            "csrf_token": csrf_token(client, "/receipt"),
            "code": code,
            "question": str(question_id),
            "answer": f"Yes, with {ANSWER_CANARY}.",
        },
    )
    assert answered.status_code == 200, answered.get_data(as_text=True)

    # Two reviewers' approval puts the transcript in the search index (the staff app's keys);
    # an indexer adds a point and cites a new entity on the spoken canary's segment.
    _index_and_cite(app, staff_app)

    # CONTROL: each canary is really in what was sealed, so the search below could find it.
    text = _controls(app)
    staff_keys = staff_app.extensions["testimony"].keyring
    with svc.db.session() as s:
        query = search_index.parse(SPOKEN_CANARY, False)
        found = search_index.search(s, staff_keys, frozenset({Role.indexer}), query)
        assert found.hits, "the spoken canary should be found through the keyed index"
        assert s.scalar(select(func.count()).select_from(SearchEntry)) >= 1
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony)).one()
        shown = questions.exchanges(s, worker_keyring(app), testimony)
        assert QUESTION_CANARY in shown[0].text and ANSWER_CANARY in (shown[0].answer or "")
    assert SPOKEN_CANARY in text.lower(), f"the spoken canary was not transcribed: {text!r}"

    # Task results: the worker's Celery app stores none, for any task.
    worker_app, celery_app = make_worker_app(config)
    try:
        assert celery_app.conf.result_backend is None
        assert celery_app.conf.task_ignore_result is True
        ours = [t for name, t in celery_app.tasks.items() if not name.startswith("celery.")]
        assert ours and all(t.ignore_result for t in ours)
    finally:
        worker_app.extensions["testimony"].db.dispose()

    worker_log = log.read_text(errors="replace")
    assert "ready" in worker_log, "the worker's log should hold its output"
    logs = [("web app log", caplog.text), ("worker log", worker_log)]
    hits, _ = _scan_everything(app, config, process_tmp, logs)
    assert not hits, "\n".join(hits)
    assert os.listdir(config.instance_path), "the instance folder was searched, not empty"
