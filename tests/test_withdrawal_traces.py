"""After withdrawal nothing of the testimony decrypts or remains in plaintext: not in any file
under the test's folder (instance, store, temporary files, exports, the SQLite database and
broker), not in any row of the database.

The record is taken as far as this code takes one: identity, removal notes, a tagged upload, a
transcript, a redacted access copy, and an export waiting in the instance folder (plaintext,
as an export bundle is). The transcript's words come from a scripted result (the model's own
tests cover recognition); everything else is the real intake, store and database.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import JSON, LargeBinary, Text, select

from intake import create_app, crypto
from intake.config import Config
from intake.events import Actor
from intake.models import AccessCopy, Base, Identity, Segment, Testimony, TestimonyState
from intake.records import lifecycle
from intake.redaction import Category, Mark
from intake.review import access_copies, transcripts
from tests import audio_fixtures as fx
from tests.staff_support import result_of
from tests.support import csrf_token, receipt_code, submit

SPOKEN = "canaryspoken"
NAME = "Canaryname Zhaleh"
CONTACT = "canary-contact@example.org"
NOTES = "Canarystreet 12"
TAG = b"CanaryTagTitle"
CANARIES = [SPOKEN.encode(), NAME.encode(), CONTACT.encode(), NOTES.encode(), TAG]


def _files(root: Path) -> list[Path]:
    return [Path(d) / f for d, _, names in os.walk(root) for f in names]


def _decrypts(path: Path, key: bytes) -> bool:
    """Whether `path` opens as a store file under `key`."""
    try:
        with open(path, "rb") as raw, crypto.DecryptingReader(key, raw) as reader:
            reader.read()
    except Exception:  # noqa: BLE001 - any failure to open is what is wanted here
        return False
    return True


def _db_values(app: Flask) -> list[Any]:
    """Every binary, text and JSON value of every table."""
    values: list[Any] = []
    with app.extensions["testimony"].db.session() as s:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, LargeBinary | Text | JSON)]
            if columns:
                for row in s.execute(select(*columns)):
                    values.extend(v for v in row if v is not None)
    return values


def test_after_withdrawal_nothing_decrypts_or_remains_in_plaintext(
    app: Flask, client: FlaskClient, migrated: Config, tmp_path: Path
) -> None:
    response = submit(
        client,
        [(fx.wav_with_info_tag(TAG, 1.0), "a.wav")],
        name=NAME,
        contact=CONTACT,
        removal_notes=NOTES,
    )
    assert response.status_code == 200
    code = receipt_code(response)

    worker = create_app(migrated, "worker")
    svc = worker.extensions["testimony"]
    try:
        with svc.db.session() as s:
            testimony = s.scalars(select(Testimony)).one()
            lifecycle.transition(s, testimony, TestimonyState.transcribing, Actor.worker)
            stored = transcripts.add_transcript(
                s,
                svc.keyring,
                testimony,
                testimony.audio_files[0].id,
                None,
                result_of([f"my friend {SPOKEN} came"]),
                "test",
                Actor.worker,
            )
            assert stored is not None
            s.flush()
            segment_id = stored.segments[0].id
            # The file's own key opens its access copy and the redacted copy made from it.
            key = transcripts.audio_key(svc.keyring, testimony, testimony.audio_files[0])
            pseudonym = testimony.pseudonym
        with worker.app_context(), svc.db.session() as s:
            mark = Mark(segment_id, 10, 10 + len(SPOKEN), 0.0, 0.4, Category.person)
            access_copies.make_access_copies(
                s, svc.keyring, svc.store, svc.config, testimony.id, Actor.worker, [mark]
            )
        # An export waiting to be collected, and one of another record that must stay.
        exports = migrated.export_path
        (exports / f"{pseudonym}_bag").mkdir(parents=True)
        (exports / f"{pseudonym}_bag" / "transcript.txt").write_text(f"{SPOKEN} {NAME}")
        (exports / "T-0000-0000.zip").write_bytes(b"another record")

        with svc.db.session() as s:
            sealed_before = [
                *s.scalars(select(Segment.sealed)),
                *s.scalars(select(AccessCopy.sealed_text)),
                *s.scalars(select(Identity.sealed)),
                *s.scalars(select(Testimony.removal_notes)),
                *s.scalars(select(Testimony.wrapped_key)),
            ]
        # The control: before withdrawal the key opens the stored files, the access copy
        # among them, and the export holds plaintext.
        names = svc.store.names(testimony.storage_id)
        assert "redacted-01.flac" in names and len(sealed_before) == 5
        with svc.store.open(key, testimony.storage_id, "redacted-01.flac") as copy:
            assert copy.read(4) == b"fLaC"
        assert any(SPOKEN.encode() in p.read_bytes() for p in _files(tmp_path))

        token = csrf_token(client, "/receipt")
        withdrawn = client.post(
            "/receipt/withdraw", data={"csrf_token": token, "code": code, "confirm": "y"}
        )
        assert withdrawn.status_code == 200
    finally:
        svc.db.dispose()

    assert (exports / "T-0000-0000.zip").exists()
    for path in _files(tmp_path):
        data = path.read_bytes()
        for canary in CANARIES:
            assert canary not in data, (path, canary)
        assert not _decrypts(path, key), f"{path} still decrypts with the withdrawn key"
    values = _db_values(app)
    for value in values:
        text = value if isinstance(value, bytes) else str(value).encode()
        for canary in CANARIES:
            assert canary not in text, canary
    for sealed in sealed_before:
        assert sealed not in values
