"""A chain of custody an outsider can check: the event log as a Merkle tree (RFC 9162), signed
checkpoints kept outside the database, and bags that carry them with inclusion proofs.

The attack of the issue: whoever can write the database deletes an event and recomputes every
hash after it; the hash chain is whole again, but the signed checkpoint's root is not."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import bagit
import pytest
from click.testing import CliRunner
from flask import Flask
from nacl.signing import SigningKey
from sqlalchemy import select, text

from intake import crypto
from intake.config import Config
from intake.db import Database
from intake.models import AuditHead, Event
from intake.records import audit, checkpoints
from tests.export.approved import approved_record
from tests.export.test_export_runs import _export

ROOT = Path(__file__).resolve().parents[2]
VERIFY_BAG = ROOT / "docs" / "verify_bag.py"


def _rfc_root(leaves: list[bytes]) -> bytes:
    """RFC 9162's MTH as the RFC defines it, recursively, to hold the tree against."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return checkpoints.node_hash(_rfc_root(leaves[:k]), _rfc_root(leaves[k:]))


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 9, 16, 31])
def test_the_tree_is_rfc_9162_and_every_proof_verifies(size: int) -> None:
    leaves = [checkpoints.leaf_hash(bytes([i]) * 32) for i in range(size)]
    tree = checkpoints.MerkleTree(leaves)
    assert tree.root == _rfc_root(leaves)
    assert checkpoints.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    for index in range(size):
        path = tree.inclusion_proof(index)
        assert checkpoints.verify_inclusion(index, size, leaves[index], path, tree.root)
        other = checkpoints.leaf_hash(b"another entry")
        assert not checkpoints.verify_inclusion(index, size, other, path, tree.root)
        if size > 1:
            assert not checkpoints.verify_inclusion(
                (index + 1) % size, size, leaves[index], path, tree.root
            )


def _rewrite_history(db: Database, victim_seq: int) -> None:
    """Delete one event and recompute every seq and hash after it, and the head: the attack."""
    with db.session() as session:
        events = list(session.scalars(select(Event).order_by(Event.seq)))
        session.delete(next(e for e in events if e.seq == victim_seq))
        session.flush()
        previous = audit.GENESIS
        for number, event in enumerate((e for e in events if e.seq != victim_seq), start=1):
            event.seq, event.prev_hash = number, previous
            event.hash = audit._hash_of(event)
            previous = event.hash
            session.flush()
        head = session.get(AuditHead, 1)
        assert head is not None
        head.seq, head.hash = len(events) - 1, previous


def _cli_env(config: Config) -> dict[str, str]:
    return {
        "TESTIMONY_INSTANCE_PATH": str(config.instance_path),
        "TESTIMONY_DATABASE_URL": config.database_url,
    }


def test_a_rewritten_history_passes_the_chain_but_not_the_signed_checkpoint(
    app: Flask, migrated: Config, tmp_path: Path
) -> None:
    approved_record(app)
    pseudonym = approved_record(app)
    _export(app, tmp_path / "out", pseudonyms=[pseudonym])
    runner = CliRunner()
    from intake.cli import main

    env = _cli_env(migrated)
    before = runner.invoke(main, ["audit", "verify"], env=env)
    assert before.exit_code == 0, before.output
    written = checkpoints.read_all(migrated.checkpoint_log_file)
    assert len(written) == 1 and written[0].tree_size > 3
    # The key is a file beside the archive key, not in the database; the log is a file too.
    key_text = migrated.checkpoint_key_file.read_text().strip()
    assert migrated.checkpoint_key_file.stat().st_mode & 0o777 == 0o600
    db = Database(migrated.database_url)
    try:
        with db.engine.connect() as conn:
            for table in ("event", "audit_head"):
                dump = " ".join(str(r) for r in conn.execute(text(f"SELECT * FROM {table}")))  # noqa: S608
                assert key_text not in dump
        _rewrite_history(db, victim_seq=2)
        with db.session() as session:
            assert audit.verify(session).ok  # the chain alone no longer sees it
    finally:
        db.dispose()
    after = runner.invoke(main, ["audit", "verify"], env=env)
    assert after.exit_code == 1
    assert "rewritten" in after.output


def test_a_forged_checkpoint_line_is_refused(app: Flask, migrated: Config) -> None:
    approved_record(app)
    svc = app.extensions["testimony"]
    with svc.db.session() as session:
        checkpoints.write(session, migrated.checkpoint_key_file, migrated.checkpoint_log_file)
        tree = checkpoints.log_tree(session)
        # Someone without the key appends a checkpoint of their own.
        forged = checkpoints.sign(tree, SigningKey.generate())
        checkpoints.append(migrated.checkpoint_log_file, forged)
        problem = checkpoints.verify(
            session, migrated.checkpoint_key_file, migrated.checkpoint_log_file
        )
    assert problem is not None and "not signed" in problem


def test_the_upkeep_sweep_writes_a_checkpoint_when_the_log_has_grown(
    app: Flask, migrated: Config
) -> None:
    from workers.upkeep import write_checkpoint

    approved_record(app)
    svc = app.extensions["testimony"]
    assert write_checkpoint(svc) == 1
    assert write_checkpoint(svc) == 0  # nothing new since
    approved_record(app)
    assert write_checkpoint(svc) == 1
    sizes = [c.tree_size for c in checkpoints.read_all(migrated.checkpoint_log_file)]
    assert len(sizes) == 2 and sizes[0] < sizes[1]


def _verify_bag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - the documented script, on our own bag
        [sys.executable, str(VERIFY_BAG), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": ""},
    )


def test_an_outsider_verifies_a_real_bag_with_the_documented_script(
    app: Flask, migrated: Config, tmp_path: Path
) -> None:
    private, public = crypto.new_key_pair()
    migrated.preservation_public_key_file.parent.mkdir(parents=True, exist_ok=True)
    migrated.preservation_public_key_file.write_text(public.hex())
    (tmp_path / "archive-private.key").write_text(private.hex())
    pseudonym = approved_record(app)
    out = tmp_path / "out"
    _export(app, out)
    bag = out / pseudonym
    bagit.Bag(str(bag)).validate()
    published = checkpoints.public_key_file(migrated.checkpoint_key_file)
    args = [
        str(bag),
        "--public-key",
        str(published),
        "--preservation",
        str(out / "preservation" / pseudonym),
        "--private-key",
        str(tmp_path / "archive-private.key"),
    ]
    done = _verify_bag(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("ok    ") == 5

    # Another key's signature is refused: the bag's own copy of the key is not trusted.
    other = tmp_path / "other.pub"
    other.write_text(bytes(SigningKey.generate().verify_key).hex())
    assert _verify_bag(str(bag), "--public-key", str(other)).returncode == 1

    # An event removed from the history (and the manifests mended) is found by its proof.
    history = bag / "data" / "history" / f"{pseudonym}.events.json"
    document = json.loads(history.read_text())
    document["events"][1]["detail"] = {"segments": 99}
    document["events"][1]["hash"] = hashlib.sha256(b"forged").hexdigest()
    history.write_text(json.dumps(document))
    tampered = _verify_bag(str(bag), "--public-key", str(published))
    assert tampered.returncode == 1
    assert "FAIL  files match the manifests" in tampered.stdout
    assert "not in the signed log" in tampered.stdout


def test_workers_checkpointing_at_once_never_append_a_smaller_tree(
    migrated: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exports and sweeps of several workers write checkpoints while events are added; the
    file lock keeps the checkpoints in the file in order of size, so verify never trips."""
    import threading

    from intake.events import Action, Actor

    read_tree = checkpoints.log_tree

    def slow_read(session: object, size: int | None = None) -> checkpoints.MerkleTree:
        # Some reads are slow (a long log, a busy disk): a worker that read later would append
        # first, but for the lock.
        tree = read_tree(session, size)  # type: ignore[arg-type]
        time.sleep(0.1 if tree.size % 2 == 0 else 0.0)
        return tree

    monkeypatch.setattr(checkpoints, "log_tree", slow_read)
    db = Database(migrated.database_url)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(6):
                with db.session() as session:
                    audit.record_event(session, None, Actor.system, Action.worker_lost)
                with db.session() as session:
                    checkpoints.write(
                        session, migrated.checkpoint_key_file, migrated.checkpoint_log_file
                    )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=work) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        sizes = [c.tree_size for c in checkpoints.read_all(migrated.checkpoint_log_file)]
        assert sizes == sorted(sizes) and sizes[-1] == 18
        with db.session() as session:
            assert checkpoints.verify(
                session, migrated.checkpoint_key_file, migrated.checkpoint_log_file
            ) is None
    finally:
        db.dispose()
