"""Rotation of the archive key pair: every sealed key sealed again to a new pair, row by row.

Only the sealed data keys change (88 bytes a row); the data keys inside them, and so every file,
segment and draft they encrypt, stay as they are, so a rotation re-encrypts no audio. It runs
in three steps, each of which can be interrupted and resumed by running it again:

1. a new pair is written beside the current one and takes its place; the old private key
   waits in `archive-rotating/`, where the workers and the staff app still find it (a running
   process reads its key files again when it meets a key it does not hold; a public app reads
   the public key file again when it changes);
2. every sealed key still sealed to an old key is opened and sealed to the new one, a small
   batch per transaction, each row updated only if it still holds what was read (a withdrawal
   that cleared it meanwhile wins);
3. when no row is left sealed to an old key, the old private key is moved to
   `archive-retired/`, which no app loads. It is not deleted: an operator destroys it once no
   backup made before the rotation is still wanted (docs/security.md).

The rows of step 2 are found by the fingerprint each sealed key carries in front, so the
rotation needs no bookkeeping of its own: whatever is not yet sealed to the new key is what is
left. Sealed keys naming a key this host does not hold (none so far) are left alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import InstrumentedAttribute

from intake import crypto, sealing
from intake.config import Config
from intake.crypto import ArchiveKeyFiles, Keyring
from intake.db import Database
from intake.events import Action, Actor
from intake.models import AudioFile, Identity, Testimony
from intake.records import audit

# Every column that holds a key sealed to the archive key pair.
SEALED_KEY_COLUMNS: tuple[
    InstrumentedAttribute[bytes | None] | InstrumentedAttribute[bytes], ...
] = (
    Testimony.wrapped_key,
    AudioFile.sealed_key,
    Identity.wrapped_key,
)


class RotationError(Exception):
    """The rotation cannot run on this host (no private key here)."""


@dataclass
class RotationReport:
    """What one run did."""

    fingerprint: str
    resealed: int = 0
    remaining: int = 0
    retired: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        """Whether every row is sealed to the new key and the old keys are retired."""
        return self.remaining == 0


def rotate(
    config: Config, db: Database, *, limit: int | None = None, batch: int = 50
) -> RotationReport:
    """Rotate the archive key pair, or resume a rotation under way; re-seal at most `limit`
    rows in this run (None: all), `batch` rows per transaction. Safe to run twice."""
    files = config.archive_keys
    _install_new_pair(files)
    old_keys = [p.read_bytes() for p in [*files.rotating_keys(), *files.retired_keys()]]
    public = files.public.read_bytes()
    keyring = Keyring(
        archive_public=public,
        archive_private=[crypto.load_secret(files.private), *old_keys],
    )
    old = {crypto.fingerprint(crypto.public_key_of(key)) for key in old_keys}
    report = RotationReport(fingerprint=crypto.fingerprint(public).hex())
    for column in SEALED_KEY_COLUMNS:
        left = None if limit is None else limit - report.resealed
        report.resealed += _reseal_column(db, keyring, column, old, batch, left)
    report.remaining = sum(1 for column in SEALED_KEY_COLUMNS for _ in _pending(db, column, old))
    if report.finished:
        report.retired = _retire(files)
    with db.session() as session:
        audit.record_event(
            session,
            None,
            Actor.operator,
            Action.archive_key_rotated,
            detail={
                "key": report.fingerprint,
                "resealed": report.resealed,
                "remaining": report.remaining,
                "retired": report.retired,
            },
        )
    return report


def _install_new_pair(files: ArchiveKeyFiles) -> None:
    """Step 1, resumable at every point: make the new pair beside the current one (unless a
    rotation is under way), move the current private key to `rotating/`, then put the new
    private and public keys in place, the public last."""
    starting = not (
        files.next_private.exists() or files.next_public.exists() or files.rotating_keys()
    )
    if starting:
        if not files.private.exists():
            raise RotationError(
                f"{files.private} is missing: rotate on the workers' or the staff app's host"
            )
        crypto.write_file_atomically(files.next_private, crypto.new_key_pair()[0], 0o600)
    if files.next_private.exists():
        new_private = files.next_private.read_bytes()
        if files.private.exists() and files.private.read_bytes() != new_private:
            current = files.private.read_bytes()
            name = crypto.fingerprint(crypto.public_key_of(current)).hex() + ".key"
            files.rotating.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.replace(files.private, files.rotating / name)
        if not files.next_public.exists():
            public = crypto.public_key_of(new_private)
            crypto.write_file_atomically(files.next_public, public, 0o644)
        os.replace(files.next_private, files.private)
    if files.next_public.exists():
        os.replace(files.next_public, files.public)


def _pending(
    db: Database,
    column: InstrumentedAttribute[bytes | None] | InstrumentedAttribute[bytes],
    old: set[bytes],
) -> Iterator[tuple[int, bytes]]:
    """(id, sealed key) of every row of `column` still sealed to one of the `old` keys."""
    model = column.class_
    last = 0
    while True:
        with db.session() as session:
            rows = session.execute(
                select(model.id, column)
                .where(model.id > last, column.is_not(None))
                .order_by(model.id)
                .limit(500)
            ).all()
        if not rows:
            return
        last = rows[-1][0]
        for row_id, sealed in rows:
            if sealing.is_sealed_to(sealed, old):
                yield row_id, sealed


def _reseal_column(
    db: Database,
    keyring: Keyring,
    column: InstrumentedAttribute[bytes | None] | InstrumentedAttribute[bytes],
    old: set[bytes],
    batch: int,
    limit: int | None,
) -> int:
    """Step 2 for one column: re-seal up to `limit` rows, `batch` per transaction."""
    model = column.class_
    done = 0
    chunk: list[tuple[int, bytes]] = []

    def flush() -> int:
        changed = 0
        with db.session() as session:
            for row_id, sealed in chunk:
                result = session.execute(
                    update(model)
                    .where(model.id == row_id, column == sealed)
                    .values({column.key: sealing.reseal_key(keyring, sealed)})
                )
                changed += result.rowcount if isinstance(result, CursorResult) else 0
        chunk.clear()
        return changed

    for item in _pending(db, column, old):
        if limit is not None and done + len(chunk) >= limit:
            break
        chunk.append(item)
        if len(chunk) >= batch:
            done += flush()
    if chunk:
        done += flush()
    return done


def _retire(files: ArchiveKeyFiles) -> list[str]:
    """Step 3: move the old private keys aside, where no app loads them."""
    retired = []
    for path in files.rotating_keys():
        files.retired.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.replace(path, files.retired / path.name)
        retired.append(path.stem)
    if files.rotating.is_dir():
        files.rotating.rmdir()
    return retired
