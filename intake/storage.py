"""The encrypted file store: the only module that builds paths to testimony files.

Every path is made from a testimony's random storage id and a file name that this module
checks, then resolved and checked to stay inside the store root, so that no value from a
request can ever point elsewhere. Files are written under a temporary name, flushed to disk
and renamed, so a file either exists whole or not at all.
"""

from __future__ import annotations

import errno
import io
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from intake import crypto

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,80}$")
_PARTIAL = ".partial"
COPY_BLOCK = 1024 * 1024
_DELETE_TRIES = 5
_VANISHED = {errno.ENOENT, errno.ENOTEMPTY}


class StorageError(Exception):
    """A path outside the store, or a name this store does not accept."""


class Store:
    """Encrypted files grouped by testimony, under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def ensure(self) -> None:
        """Create the root folder, readable by this user only."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _folder(self, storage_id: str) -> Path:
        if not _NAME.match(storage_id):
            raise StorageError(f"bad storage id {storage_id!r}")
        folder = (self.root / storage_id).resolve()
        if folder.parent != self.root.resolve():
            raise StorageError("path escapes the store")
        return folder

    def path_for(self, storage_id: str, name: str) -> Path:
        """The path of one file of a testimony, checked to lie inside the store."""
        if not _NAME.match(name) or name.endswith(_PARTIAL):
            raise StorageError(f"bad file name {name!r}")
        path = (self._folder(storage_id) / name).resolve()
        if path.parent != self._folder(storage_id):
            raise StorageError("path escapes the store")
        return path

    def write(self, key: bytes, storage_id: str, name: str, source: BinaryIO | io.RawIOBase) -> int:
        """Encrypt `source` (read to its end) into a new file; returns the plaintext size."""
        path = self.path_for(storage_id, name)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = path.with_name(path.name + _PARTIAL)
        try:
            with open(partial, "xb") as raw:
                writer = crypto.EncryptingWriter(key, raw)
                while block := source.read(COPY_BLOCK):
                    writer.write(block)
                writer.close()
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(partial, path)
            _fsync_dir(path.parent)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return writer.plaintext_bytes

    @contextmanager
    def open(self, key: bytes, storage_id: str, name: str) -> Iterator[crypto.DecryptingReader]:
        """Open a stored file for reading its plaintext (seekable)."""
        path = self.path_for(storage_id, name)
        with open(path, "rb") as raw:
            reader = crypto.DecryptingReader(key, raw)
            try:
                yield reader
            finally:
                reader.close()

    def delete(self, storage_id: str, name: str) -> None:
        """Remove one file, if present."""
        self.path_for(storage_id, name).unlink(missing_ok=True)

    def delete_testimony(self, storage_id: str) -> None:
        """Remove every file of a testimony (withdrawal, or an intake that did not commit)."""
        folder = self._folder(storage_id)
        # An addition losing a race with a withdrawal may finish, rename or remove a file while
        # the folder is being removed: take the folder as it is then, and try again.
        for attempt in range(_DELETE_TRIES):
            if not folder.exists():
                return
            try:
                shutil.rmtree(folder)
            except OSError as exc:
                if attempt + 1 == _DELETE_TRIES or exc.errno not in _VANISHED:
                    raise

    def storage_ids(self) -> list[str]:
        """Storage ids present on disk (for the sweep of folders no row points to)."""
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _NAME.match(p.name))

    def names(self, storage_id: str) -> list[str]:
        """The complete files of one folder, sorted (none while a write is under way)."""
        folder = self._folder(storage_id)
        if not folder.is_dir():
            return []
        return sorted(
            p.name
            for p in folder.iterdir()
            if _NAME.match(p.name) and p.is_file() and not p.name.endswith(_PARTIAL)
        )

    def age_s(self, storage_id: str) -> float:
        """Seconds since the folder was last modified."""
        return time.time() - self._folder(storage_id).stat().st_mtime


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
