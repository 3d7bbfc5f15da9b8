"""The encrypted file store: the only module that builds paths to testimony files.

It also owns their names (`file_name`, `parse_name`): intake, withdrawal and export read the
same layout, one folder per testimony holding `audio-NN.flac` and `original-NN.bin`.

Every path is made from a testimony's random storage id and a file name that this module
checks, then resolved and checked to stay inside the store root, so that no value from a
request can ever point elsewhere. Files are written under a temporary name, flushed to disk
and renamed, so a file either exists whole or not at all.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from intake import crypto

_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,80}$")


class StorageError(Exception):
    """A path outside the store, or a name this store does not accept."""


class FileKind(StrEnum):
    """The kinds of file a testimony's folder holds; the value starts each file's name."""

    # The re-encoded, tag-free copy that workers and reviewers use.
    access = "audio"
    # The bytes as the submitter sent them, kept only where consent allows.
    original = "original"
    # Files kept for an intake form between rounds (`intake.spool`): the same two copies and
    # what was learnt about the file.
    kept_access = "kept-audio"
    kept_original = "kept-original"
    kept_info = "kept-info"


_SUFFIX = {
    FileKind.access: ".flac",
    FileKind.original: ".bin",
    FileKind.kept_access: ".flac",
    FileKind.kept_original: ".bin",
    FileKind.kept_info: ".json",
}
_LAYOUT = re.compile(
    r"^(?P<kind>[a-z]+(?:-[a-z]+)?)-(?P<position>[0-9]{2,4})(?P<suffix>\.[a-z0-9]+)$"
)
# The one name outside the numbered layout: a folder's lock file (`intake.spool`).
LOCK_NAME = "lock"


def file_name(kind: FileKind, position: int) -> str:
    """The name of the `position`th file (1-based) of a kind: `audio-01.flac`, `original-01.bin`."""
    if not 1 <= position <= 9999:
        raise StorageError(f"bad file position {position}")
    return f"{kind.value}-{position:02d}{_SUFFIX[kind]}"


def parse_name(name: str) -> tuple[FileKind, int]:
    """The kind and position of a file name of the layout; StorageError for any other name."""
    match = _LAYOUT.match(name)
    if match is None:
        raise StorageError(f"bad file name {name!r}")
    try:
        kind = FileKind(match["kind"])
    except ValueError:
        raise StorageError(f"bad file name {name!r}") from None
    if match["suffix"] != _SUFFIX[kind]:
        raise StorageError(f"bad file name {name!r}")
    return kind, int(match["position"])


_PARTIAL = ".partial"
COPY_BLOCK = 1024 * 1024


class Store:
    """Encrypted files grouped by testimony, under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def ensure(self) -> None:
        """Create the root folder, readable by this user only."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _folder(self, storage_id: str) -> Path:
        if not _ID.match(storage_id):
            raise StorageError(f"bad storage id {storage_id!r}")
        folder = (self.root / storage_id).resolve()
        if folder.parent != self.root.resolve():
            raise StorageError("path escapes the store")
        return folder

    def path_for(self, storage_id: str, name: str) -> Path:
        """The path of one file of a testimony, checked to lie inside the store."""
        if name != LOCK_NAME:
            parse_name(name)  # only names of the layout, never one made from a request
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
        if folder.exists():
            shutil.rmtree(folder)

    def storage_ids(self) -> list[str]:
        """Storage ids present on disk (for the sweep of folders no row points to)."""
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _ID.match(p.name))

    def names(self, storage_id: str) -> list[str]:
        """The complete files of one folder, sorted (none while a write is under way)."""
        folder = self._folder(storage_id)
        if not folder.is_dir():
            return []
        return sorted(
            p.name
            for p in folder.iterdir()
            if _LAYOUT.match(p.name) and p.is_file() and not p.name.endswith(_PARTIAL)
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
