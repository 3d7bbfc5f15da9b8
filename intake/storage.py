"""The encrypted file store: the only module that builds paths to testimony files.

It also owns their names (`file_name`, `parse_name`): intake, withdrawal and export read the
same layout, one folder per testimony holding `audio-NN.flac` and `original-NN.bin`.

Every path is made from a testimony's random storage id and a file name that this module
checks, then resolved and checked to stay inside the store root, so that no value from a
request can ever point elsewhere. Files are written under a temporary name, flushed to disk
and renamed, so a file either exists whole or not at all.

The store also owns its room: an optional quota on the bytes it holds and a reserve of free
space it leaves on its disk. A full disk would stop the database and the workers too, and a
file cut short by ENOSPC is a recording lost after the visitor was told it was safe; so room
is checked before an upload is taken and again with every block written, and a write that
would break either limit stops with `StoreFull` and leaves nothing behind.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from intake import crypto
from intake.config import Config

_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,80}$")
_DELETE_TRIES = 5
_VANISHED = {errno.ENOENT, errno.ENOTEMPTY}

# `testimony status` warns once the store holds this share of its quota, or once the disk's
# free space is down to this multiple of the reserve.
NEAR_QUOTA = 0.9
NEAR_RESERVE = 2


class StorageError(Exception):
    """A path outside the store, or a name this store does not accept."""


class FileKind(StrEnum):
    """The kinds of file a testimony's folder holds; the value starts each file's name."""

    # The re-encoded, tag-free copy that workers and reviewers use.
    access = "audio"
    # The bytes as the submitter sent them, kept only where consent allows.
    original = "original"
    # Files kept for an intake form between rounds (`intake.public.spool`): the same two copies and
    # what was learnt about the file.
    kept_access = "kept-audio"
    kept_original = "kept-original"
    kept_info = "kept-info"
    # The redacted (and perhaps voice-disguised) public access copy (`intake.review.access_copies`).
    redacted = "redacted"
    # A resumable upload under way for an intake form (`intake.public.resumable`): what is known
    # of it, and its bytes, one file per request that carried some.
    upload_info = "upload-info"
    upload_part = "upload-part"


_SUFFIX = {
    FileKind.access: ".flac",
    FileKind.original: ".bin",
    FileKind.kept_access: ".flac",
    FileKind.kept_original: ".bin",
    FileKind.kept_info: ".json",
    FileKind.redacted: ".flac",
    FileKind.upload_info: ".json",
    FileKind.upload_part: ".bin",
}
_LAYOUT = re.compile(
    r"^(?P<kind>[a-z]+(?:-[a-z]+)?)-(?P<position>[0-9]{2,4})(?P<suffix>\.[a-z0-9]+)$"
)
# The one name outside the numbered layout: a folder's lock file (`intake.public.spool`).
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


class StoreFull(Exception):
    """Taking these bytes would pass the store's quota or eat into the disk's reserve."""


@dataclass(frozen=True)
class StoreUsage:
    """How full the store is, for the room checks and for `testimony status`."""

    used_bytes: int
    """On disk under the store's root (ciphertext, partial files included)."""
    quota_bytes: int
    """0 when there is no quota."""
    free_bytes: int
    """Free on the store's disk, for this (unprivileged) user."""
    reserve_bytes: int
    """Free space the store never takes; 0 when none is kept."""

    def room_bytes(self) -> int:
        """How many more bytes the store may take now (can be negative)."""
        room = self.free_bytes - self.reserve_bytes
        if self.quota_bytes:
            room = min(room, self.quota_bytes - self.used_bytes)
        return room

    def warning(self) -> str | None:
        """A line for an operator when the store is near or past a limit, else None."""
        if self.room_bytes() <= 0:
            return "the store is full: new uploads are refused"
        if self.quota_bytes and self.used_bytes >= NEAR_QUOTA * self.quota_bytes:
            return f"the store holds over {NEAR_QUOTA:.0%} of its quota"
        if self.free_bytes <= NEAR_RESERVE * self.reserve_bytes:
            return "the disk's free space is close to the reserve"
        return None


class Store:
    """Encrypted files grouped by testimony, under one root folder.

    `quota_bytes` caps what the store holds and `reserve_bytes` is free disk space it never
    takes (0 turns either off).
    """

    def __init__(self, root: Path, quota_bytes: int = 0, reserve_bytes: int = 0) -> None:
        self.root = Path(root)
        self.quota_bytes = quota_bytes
        self.reserve_bytes = reserve_bytes

    @classmethod
    def for_config(cls, config: Config) -> Store:
        """The store of a deployment, with its configured quota and reserve."""
        return cls(config.storage_path, config.store_quota_bytes, config.store_reserve_bytes)

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

    def usage(self, count_used: bool = False) -> StoreUsage:
        """Bytes held, the quota, the disk's free space and the reserve, measured now.

        The bytes held are counted (a walk of the store) only when there is a quota or
        `count_used` asks for them; otherwise `used_bytes` is 0.
        """
        used = 0
        if (self.quota_bytes or count_used) and self.root.exists():
            for folder in os.scandir(self.root):
                if folder.is_dir(follow_symlinks=False):
                    for entry in os.scandir(folder.path):
                        if entry.is_file(follow_symlinks=False):
                            used += entry.stat(follow_symlinks=False).st_size
        return StoreUsage(used, self.quota_bytes, self._free_bytes(), self.reserve_bytes)

    def _free_bytes(self) -> int:
        target = self.root if self.root.exists() else self.root.parent
        stats = os.statvfs(target)
        return stats.f_bavail * stats.f_frsize

    def ensure_room(self, incoming_bytes: int) -> None:
        """Raise StoreFull unless `incoming_bytes` more fit under the quota and the reserve."""
        if self.quota_bytes <= 0 and self.reserve_bytes <= 0:
            return
        room = self.usage().room_bytes()
        if incoming_bytes > room:
            raise StoreFull(f"{incoming_bytes} bytes do not fit in the {max(room, 0)} left")

    def write(self, key: bytes, storage_id: str, name: str, source: BinaryIO | io.RawIOBase) -> int:
        """Encrypt `source` (read to its end) into a new file; returns the plaintext size.

        Raises StoreFull, leaving no file, as soon as the next block would pass the quota or
        eat into the reserve (other writers may be filling the disk at the same time, so the
        free space is read again for every block).
        """
        path = self.path_for(storage_id, name)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = path.with_name(path.name + _PARTIAL)
        limited = self.quota_bytes > 0 or self.reserve_bytes > 0
        quota_left = self.usage().room_bytes() if limited else 0
        try:
            with open(partial, "xb") as raw:
                writer = crypto.EncryptingWriter(key, raw)
                while block := source.read(COPY_BLOCK):
                    if limited:
                        quota_left -= len(block)
                        if quota_left < 0 or self._free_bytes() - len(block) < self.reserve_bytes:
                            raise StoreFull(f"no room for {name} in the store")
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


_PSEUDONYM = re.compile(r"^T-[0-9A-Z]{4}-[0-9A-Z]{4}$")


def waiting_exports(export_root: Path, pseudonym: str) -> list[Path]:
    """The exports of one record waiting under `export_root`: entries named the pseudonym, or
    the pseudonym followed by ".", "-" or "_" (`T-7K3M-Q9XD.zip`, `T-7K3M-Q9XD_bag/`), or a
    half-written bag of it (`.T-7K3M-Q9XD.partial-…`), at the top or inside an export run's
    folders (`export-12/T-7K3M-Q9XD/`, `export-12/preservation/T-7K3M-Q9XD/`)."""
    if not _PSEUDONYM.match(pseudonym):
        raise StorageError(f"bad pseudonym {pseudonym!r}")

    def matches(name: str) -> bool:
        name = name.removeprefix(".")
        rest = name.removeprefix(pseudonym)
        return name.startswith(pseudonym) and (rest == "" or rest[0] in ".-_")

    found: list[Path] = []
    folders = [export_root]
    for _depth in range(3):  # the root, a run's folder, its preservation folder
        deeper = []
        for folder in folders:
            if not folder.is_dir() or folder.is_symlink():
                continue
            for entry in folder.iterdir():
                if matches(entry.name):
                    found.append(entry)
                elif entry.is_dir() and not entry.is_symlink():
                    deeper.append(entry)
        folders = deeper
    return sorted(found)


def remove_exports(export_root: Path, pseudonym: str) -> int:
    """Remove every export of a record waiting under `export_root` (withdrawal), and its rows
    from the catalogues of the folders it was in; returns how many entries went. Links are
    removed, never followed."""
    removed = 0
    folders: set[Path] = set()
    for entry in waiting_exports(export_root, pseudonym):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
        folders.add(entry.parent.parent if entry.parent.name == "preservation" else entry.parent)
    for folder in sorted(folders):
        _forget_in_catalogue(folder, pseudonym)
    return removed


def _forget_in_catalogue(folder: Path, pseudonym: str) -> None:
    """Drop the record from the catalogue of an export folder whose bags of it were removed,
    so that the catalogue still lists exactly the bags the folder holds. Written in the
    export's own layout (`intake.export.catalogue`); replaced atomically."""
    table = folder / "catalogue.csv"
    if table.is_file() and not table.is_symlink():
        with table.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            fields, rows = reader.fieldnames, list(reader)
        if fields is not None:
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\r\n")
            writer.writeheader()
            writer.writerows(r for r in rows if r.get("pseudonym") != pseudonym)
            _replace_text(table, out.getvalue())
    document = folder / "catalogue.json"
    if document.is_file() and not document.is_symlink():
        content = json.loads(document.read_text(encoding="utf-8"))
        if isinstance(content, dict) and isinstance(content.get("records"), list):
            content["records"] = [
                r for r in content["records"] if r.get("pseudonym") != pseudonym
            ]
            text = json.dumps(content, ensure_ascii=False, sort_keys=True, indent=2) + "\n"
            _replace_text(document, text)


def _replace_text(path: Path, text: str) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
