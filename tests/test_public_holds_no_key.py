"""The public app holds no key that decrypts anything, and still does all its work.

The archive's private key lives on another host (here: a folder outside the instance). The
public app is started with only the public key on disk and runs the whole public flow; then a
worker's keyring, with the private key, opens everything that was stored: the removal notes,
the identity and every audio file, byte for byte.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from intake import create_app, crypto, sealing
from intake.config import Config
from intake.crypto import Keyring
from intake.db import Database
from intake.models import AudioFile, Identity, Testimony, TestimonyState
from intake.storage import Store
from tests import audio_fixtures as fx
from tests.support import csrf_token, post_multipart, receipt_code, submit


def _post(client: FlaskClient, path: str, **data: str) -> str:
    response = client.post(path, data={"csrf_token": csrf_token(client, "/receipt"), **data})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def test_public_flow_without_a_private_key_then_the_worker_opens_it(
    migrated: Config, tmp_path: Path
) -> None:
    # The private half is made on the workers' host; only archive.pub reaches the instance.
    worker_side = crypto.ArchiveKeyFiles(
        tmp_path / "worker-secrets" / "archive.key", migrated.archive_public_key_file
    )
    worker_side.ensure()
    assert not migrated.archive_private_key_file.exists()
    first, second, added = fx.tone_wav(1.0), fx.tone_wav(1.5), fx.tone_ogg_opus(1.0)

    app = create_app(migrated, "public")
    try:
        keyring = app.extensions["testimony"].keyring
        assert "archive private key" not in keyring.holds()
        # Nor the search key: with it, the blind index could be tested for any word.
        assert "search key" not in keyring.holds()
        with pytest.raises(crypto.MissingSecret):
            _ = keyring.search_key
        client = app.test_client()
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"

        kept = receipt_code(
            submit(
                client,
                [(first, "a.wav")],
                name="Canary Name",
                contact="canary@example.org",
                removal_notes="Canary Street",
            )
        )
        assert "Your testimony" in _post(client, "/receipt", code=kept)  # the status page
        response = post_multipart(
            client,
            "/receipt/add",
            {
                "csrf_token": csrf_token(client, "/receipt"),
                "code": kept,
                "audio": [(io.BytesIO(second), "b.wav"), (io.BytesIO(added), "c.ogg")],
            },
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        assert "was added" in response.get_data(as_text=True)
        assert "narrowed" in _post(client, "/receipt/consent", code=kept, withdraw_translate="y")

        gone = receipt_code(submit(client, [(first, "a.wav")], name="Other Canary"))
        _post(client, "/receipt/withdraw", code=gone, confirm="y")
        assert "withdrawn" in _post(client, "/receipt", code=gone).lower()
    finally:
        app.extensions["testimony"].db.dispose()

    # Nothing under the instance folder is the private key: the public app never made one,
    # nor a search key.
    assert not migrated.search_key_file.exists()
    private = worker_side.private.read_bytes()
    for path in migrated.instance_path.rglob("*"):
        assert not path.is_file() or private not in path.read_bytes(), path

    worker = create_app(
        migrated.with_overrides(archive_private_key_file=worker_side.private), "worker"
    )
    try:
        svc = worker.extensions["testimony"]
        assert "archive private key" in svc.keyring.holds()
        _worker_opens_everything(svc.db, svc.keyring, svc.store, [first, second, added])
    finally:
        worker.extensions["testimony"].db.dispose()


def _worker_opens_everything(
    db: Database, keyring: Keyring, store: Store, sent: list[bytes]
) -> None:
    with db.session() as s:
        kept, gone = s.scalars(select(Testimony).order_by(Testimony.id)).all()
        assert gone.state == TestimonyState.withdrawn
        assert gone.wrapped_key is None
        assert all(f.sealed_key is None for f in gone.audio_files)
        assert not s.scalars(select(Identity).where(Identity.testimony_id == gone.id)).all()

        assert kept.wrapped_key is not None and kept.removal_notes is not None
        key = sealing.testimony_key(keyring, kept.wrapped_key)
        assert sealing.open_removal_notes(key, kept.id, kept.removal_notes) == "Canary Street"
        ident = s.scalars(select(Identity).where(Identity.testimony_id == kept.id)).one()
        # No custodian yet: the identity's key waits sealed to the archive.
        waiting = sealing.waiting_identity_key(keyring, ident.wrapped_key)
        assert sealing.open_identity(waiting, kept.id, ident.sealed) == {
            "name": "Canary Name",
            "contact": "canary@example.org",
        }
        files = s.scalars(
            select(AudioFile).where(AudioFile.testimony_id == kept.id).order_by(AudioFile.position)
        ).all()
        assert len(files) == 3
        file_keys = set()
        for row, original in zip(files, sent, strict=True):
            assert row.sealed_key is not None  # a key of its own, added audio included
            file_key = sealing.audio_key(keyring, kept.wrapped_key, row.sealed_key)
            file_keys.add(file_key)
            assert row.original_name is not None
            with store.open(file_key, kept.storage_id, row.original_name) as reader:
                assert reader.read() == original
            with store.open(file_key, kept.storage_id, row.access_name) as reader:
                assert reader.read(4) == b"fLaC"
            with (
                pytest.raises(crypto.DecryptionError),
                store.open(key, kept.storage_id, row.access_name) as reader,
            ):
                reader.read()  # the testimony's key opens no file of its own
        assert len(file_keys) == 3 and key not in file_keys
