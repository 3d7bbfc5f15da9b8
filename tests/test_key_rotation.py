"""`testimony keys rotate`: interrupted half way, resumed, and then everything opens with the new
key alone, the data keys (and so the stored files) unchanged, the old private key retired."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from intake import crypto, sealing
from intake.cli import main
from intake.config import Config
from intake.crypto import Keyring
from intake.db import Database
from intake.models import AudioFile, Event, Identity, Testimony
from intake.records import key_rotation
from intake.storage import Store
from tests import audio_fixtures as fx
from tests.support import receipt_code, submit


def _env(config: Config) -> dict[str, str]:
    return {
        "TESTIMONY_INSTANCE_PATH": str(config.instance_path),
        "TESTIMONY_DATABASE_URL": config.database_url,
        "TESTIMONY_BROKER_URL": config.broker_url,
    }


def _sealed(db: Database) -> dict[tuple[str, int], bytes]:
    """Every sealed key in the database, by (column, row id)."""
    found = {}
    with db.session() as s:
        for column in key_rotation.SEALED_KEY_COLUMNS:
            model = column.class_
            for row_id, sealed in s.execute(select(model.id, column)):
                if sealed is not None:
                    found[(f"{model.__tablename__}.{column.key}", row_id)] = sealed
    return found


def _open_all(keyring: Keyring, sealed: dict[tuple[str, int], bytes]) -> dict[object, bytes]:
    return {where: sealing.testimony_key(keyring, value) for where, value in sealed.items()}


def _fill(client: FlaskClient) -> None:
    for n in range(3):
        code = receipt_code(submit(client, [(fx.tone_wav(0.5), "a.wav")], name=f"Canary {n}"))
        assert code


def test_rotation_interrupted_and_resumed(
    app: Flask, client: FlaskClient, migrated: Config
) -> None:
    _fill(client)
    files = migrated.archive_keys
    svc = app.extensions["testimony"]
    old_private = files.private.read_bytes()
    old = Keyring(archive_private=[old_private])
    before = _sealed(svc.db)
    assert len(before) == 9  # three testimonies, three audio files, three identities
    data_keys = _open_all(old, before)

    stopped = CliRunner().invoke(
        main, ["keys", "rotate", "--limit", "4", "--batch", "2"], env=_env(migrated)
    )
    assert stopped.exit_code == 0, stopped.output
    assert "5 left" in stopped.output
    new_private = files.private.read_bytes()
    assert new_private != old_private
    assert files.public.read_bytes() == crypto.public_key_of(new_private)
    assert [p.name for p in files.rotating_keys()] == [
        crypto.fingerprint(crypto.public_key_of(old_private)).hex() + ".key"
    ]
    half = _sealed(svc.db)
    new_fp = {crypto.fingerprint(crypto.public_key_of(new_private))}
    assert sum(sealing.is_sealed_to(v, new_fp) for v in half.values()) == 4
    # Half way, a worker started now opens every row: the old key still waits in rotating/.
    worker = Keyring.load(archive=files, private=True, create=False)
    assert _open_all(worker, half) == data_keys
    # The public app follows the new public key without a restart.
    assert submit(client, [(fx.tone_wav(0.5), "a.wav")]).status_code == 200
    with svc.db.session() as s:
        newest = s.scalars(select(Testimony).order_by(Testimony.id.desc())).first()
        assert newest is not None and sealing.is_sealed_to(newest.wrapped_key or b"", new_fp)

    done = CliRunner().invoke(main, ["keys", "rotate"], env=_env(migrated))
    assert done.exit_code == 0, done.output
    assert "every row is sealed to the new key" in done.output
    assert files.rotating_keys() == []
    assert [p.read_bytes() for p in files.retired_keys()] == [old_private]  # moved aside

    after = _sealed(svc.db)
    assert all(sealing.is_sealed_to(v, new_fp) for v in after.values())
    only_new = Keyring(archive_private=[new_private])
    opened = _open_all(only_new, after)
    assert {k: v for k, v in opened.items() if k in data_keys} == data_keys  # keys unchanged
    fresh = Keyring.load(archive=files, private=True, create=False)
    assert _open_all(fresh, after) == opened
    # The audio was not re-encrypted, and opens with the re-sealed file keys.
    store = Store(migrated.storage_path)
    with svc.db.session() as s:
        for row in s.scalars(select(AudioFile)):
            testimony = s.get(Testimony, row.testimony_id)
            assert testimony is not None and testimony.wrapped_key is not None
            key = sealing.audio_key(only_new, testimony.wrapped_key, row.sealed_key)
            with store.open(key, testimony.storage_id, row.access_name) as reader:
                assert reader.read(4) == b"fLaC"
        rotated = s.scalars(select(Event).where(Event.action == "archive_key_rotated")).all()
        assert [e.detail["resealed"] for e in rotated] == [4, 5]  # type: ignore[index]
        assert s.scalars(select(Identity)).first() is not None


def test_rotation_resumes_after_a_crash_between_its_file_moves(
    app: Flask, client: FlaskClient, migrated: Config
) -> None:
    _fill(client)
    files = migrated.archive_keys
    db = app.extensions["testimony"].db
    old = Keyring(archive_private=[files.private.read_bytes()])
    data_keys = _open_all(old, _sealed(db))
    # Killed after the new pair was written and the old private key moved to rotating/, but
    # before the new one took its place: no current private key on disk at all.
    new_private, _ = crypto.new_key_pair()
    crypto.write_file_atomically(files.next_private, new_private, 0o600)
    files.rotating.mkdir(mode=0o700)
    old_fp = crypto.sealed_to(next(iter(_sealed(db).values()))).hex()
    os.replace(files.private, files.rotating / f"{old_fp}.key")

    report = key_rotation.rotate(migrated, db)
    assert report.finished and report.retired == [old_fp]
    assert files.private.read_bytes() == new_private
    assert files.public.read_bytes() == crypto.public_key_of(new_private)
    assert not files.next_private.exists() and not files.next_public.exists()
    assert _open_all(Keyring(archive_private=[new_private]), _sealed(db)) == data_keys


def test_rotation_killed_half_way_resumes(migrated: Config, tmp_path: Path) -> None:
    """A real interruption: the process is killed while it re-seals; run again, it finishes."""
    app_db = Database(migrated.database_url)
    from intake import create_app

    app = create_app(migrated)
    try:
        client = app.test_client()
        _fill(client)
    finally:
        app.extensions["testimony"].db.dispose()
    data_keys = _open_all(
        Keyring(archive_private=[migrated.archive_keys.private.read_bytes()]), _sealed(app_db)
    )
    script = tmp_path / "slow_rotate.py"
    # Each re-seal waits, so that the kill lands half way; the pause changes nothing else.
    script.write_text(
        "import sys, time\n"
        "from intake import cli, sealing\n"
        "real = sealing.reseal_key\n"
        "def slow(keyring, sealed):\n"
        "    print('resealing', flush=True)\n"
        "    time.sleep(0.3)\n"
        "    return real(keyring, sealed)\n"
        "sealing.reseal_key = slow\n"
        "sys.argv = ['testimony', 'keys', 'rotate', '--batch', '1']\n"
        "cli.main()\n"
    )
    env = {
        **os.environ,
        **_env(migrated),
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    proc = subprocess.Popen(
        [sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    seen = 0
    for line in proc.stdout:
        seen += line.startswith("resealing")
        if seen == 4:
            proc.kill()
            break
    proc.wait(timeout=30)
    proc.stdout.close()
    files = migrated.archive_keys
    assert files.rotating_keys(), "the kill landed after the rotation finished"
    half = _sealed(app_db)
    new_fp = {crypto.fingerprint(files.public.read_bytes())}
    assert 0 < sum(sealing.is_sealed_to(v, new_fp) for v in half.values()) < len(half)

    report = key_rotation.rotate(migrated, app_db)
    try:
        assert report.finished
        assert files.rotating_keys() == [] and len(files.retired_keys()) == 1
        after = _sealed(app_db)
        assert all(sealing.is_sealed_to(v, new_fp) for v in after.values())
        assert _open_all(Keyring(archive_private=[files.private.read_bytes()]), after) == data_keys
    finally:
        app_db.dispose()
