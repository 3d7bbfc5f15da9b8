"""Resumable uploads (tus 1.0: core, creation, expiration, termination, checksum) for the form.

A recording of an hour is 60-600 MB, and many submitters send it over Tor from a throttled
network that cuts connections; a plain form post that breaks at 90% is lost. With tus the page
sends the file in as many requests as the connection allows, asking the server where to go on.

Everything of an upload lives in the spool folder of its form (`intake.public.spool`): the form
token, sent with every request, names the folder and derives the key, so the upload's address
alone opens nothing and the server keeps no key. Each request's bytes go, encrypted, into a
file of their own (`upload-part-NNNN.bin`), in the order listed by the upload's description
(`upload-info-NN.json`, encrypted too); the offset is the sum of the listed parts. When the last
byte arrives the parts are joined, checked and re-encoded in the sandbox, and kept like a file
sent with the form (`Spool.keep`), or removed, all of them, if refused. An abandoned upload goes
with its form's folder when the upkeep sweep finds it older than `Config.form_keep_s`.

Limits apply as the bytes arrive: an upload longer than `Config.max_upload_bytes` is refused at
creation, and a request that brings more bytes than announced is cut at the first byte too many
and keeps nothing. One request at a time writes to a form (`Busy` otherwise, which the client
retries), so a stalled request from a dropped connection never blocks the process.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import io
import json
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO

from werkzeug.exceptions import ClientDisconnected, RequestTimeout

from intake.config import Config
from intake.public import submissions
from intake.public.spool import Spool
from intake.public.uploads import HashingSpool
from intake.storage import (
    COPY_BLOCK,
    LOCK_NAME,
    FileKind,
    StorageError,
    Store,
    StoreFull,
    file_name,
    parse_name,
)

VERSION = "1.0.0"
EXTENSIONS = "creation,expiration,termination,checksum"
CHECKSUM_ALGORITHMS = "sha256"
_ID_LENGTH = 32
# The most a PATCH reads at once: at most this much of what arrived is lost at a break.
READ_BLOCK = 64 * 1024
# How long a request waits for its form's lock before it is answered 423 (see `writing`).
LOCK_WAIT_S = 3.0
# Positions of the files of the layout (`intake.storage.file_name`).
_MAX_POSITION = 9999


class UploadError(Exception):
    """A request that cannot be served; `status` is its HTTP status, `reason` the message."""

    status = 400
    reason = "bad_request"


class UnknownUpload(UploadError):
    status = 404
    reason = "unknown_upload"


class Busy(UploadError):
    """Another request of this form is writing now; the client tries again shortly."""

    status = 423
    reason = "busy"


class OffsetMismatch(UploadError):
    status = 409
    reason = "offset"

    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


class TooLarge(UploadError):
    status = 413
    reason = "too_large"


class TooMany(UploadError):
    status = 413
    reason = "too_many_files"


class ChecksumMismatch(UploadError):
    status = 460
    reason = "checksum"


class BadChecksumAlgorithm(UploadError):
    status = 400
    reason = "checksum_algorithm"


class NoRoom(UploadError):
    status = 507
    reason = "store_full"


class Refused(UploadError):
    """The finished file is not a recording the archive accepts; nothing of it is left."""

    status = 422

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Upload:
    """What is known of an upload under way (its encrypted description)."""

    id: str
    length: int
    parts: list[list[int]] = field(default_factory=list)  # [position, bytes], in order

    @property
    def offset(self) -> int:
        """Bytes received so far."""
        return sum(size for _position, size in self.parts)


@dataclass(frozen=True)
class Status:
    """An upload's offset and length, and when its form's files expire (Unix time)."""

    offset: int
    length: int
    expires_at: float
    finished: bool


def parse_metadata(header: str | None) -> dict[str, str]:
    """The Upload-Metadata header as a dict; UploadError when malformed. Nothing of it is
    stored: a file is known by its content, never by the name the browser gave it."""
    found: dict[str, str] = {}
    for pair in (header or "").split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, value = pair.partition(" ")
        if not key or not key.isascii() or " " in key or key in found:
            raise UploadError("bad metadata")
        try:
            found[key] = base64.b64decode(value, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            raise UploadError("bad metadata") from None
    return found


def parse_checksum(header: str | None) -> bytes | None:
    """The digest an Upload-Checksum header announces (sha256 only), or None without one."""
    if not header:
        return None
    algorithm, _, value = header.strip().partition(" ")
    if algorithm.lower() != "sha256":
        raise BadChecksumAlgorithm("checksum algorithm")
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise UploadError("bad checksum") from None
    if len(digest) != hashlib.sha256().digest_size:
        raise UploadError("bad checksum")
    return digest


class _Uploads:
    """The uploads of one form, in its spool folder, under its key."""

    def __init__(self, config: Config, token: str) -> None:
        self.config = config
        self.spool = Spool(config, token)
        self.store: Store = self.spool.store
        self.folder_id = self.spool.id
        self._key = self.spool._key  # noqa: SLF001 - the same key as the form's kept files

    @contextmanager
    def writing(self) -> Iterator[None]:
        """This form's lock, never waited for in a blocking call: a request that finds it held
        (the request of a connection that just dropped, still storing what it received) tries
        again for `LOCK_WAIT_S` in short sleeps, which yield under gevent, then is answered
        `Busy` (the client retries) rather than holding the process. The spool's own requests
        take the same lock (`Spool.locked`)."""
        path = self.store.path_for(self.folder_id, LOCK_NAME)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(path, "a+b") as handle:
            deadline = time.monotonic() + LOCK_WAIT_S
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise Busy("busy") from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _described(self) -> list[tuple[int, Upload]]:
        found = []
        for name in self.store.names(self.folder_id):
            kind, position = parse_name(name)
            if kind == FileKind.upload_info:
                with self.store.open(self._key, self.folder_id, name) as reader:
                    value = json.loads(reader.read())
                found.append((position, Upload(value["id"], value["length"], value["parts"])))
        return found

    def find(self, upload_id: str) -> tuple[int, Upload] | None:
        """An upload under way and the position of its description, or None."""
        for position, upload in self._described():
            if secrets.compare_digest(upload.id, upload_id):
                return position, upload
        return None

    def describe(self, position: int, upload: Upload) -> None:
        """Write the upload's description (replacing the last one in one rename)."""
        value = {"id": upload.id, "length": upload.length, "parts": upload.parts}
        self.store.write(
            self._key,
            self.folder_id,
            file_name(FileKind.upload_info, position),
            io.BytesIO(json.dumps(value).encode()),
        )

    def next_part(self) -> int:
        """A part position no file of the folder has, finished or not."""
        folder = self.store.path_for(self.folder_id, LOCK_NAME).parent
        used = [0]
        for entry in os.scandir(folder):
            name = entry.name.removesuffix(".partial")
            try:
                kind, position = parse_name(name)
            except StorageError:  # the lock, and anything not of the layout
                continue
            if kind == FileKind.upload_part:
                used.append(position)
        position = max(used) + 1
        if position > _MAX_POSITION:
            raise TooLarge("too many parts")
        return position

    def remove(self, position: int, upload: Upload) -> None:
        """Remove an upload's parts, then its description."""
        for part, _size in upload.parts:
            self.store.delete(self.folder_id, file_name(FileKind.upload_part, part))
        self.store.delete(self.folder_id, file_name(FileKind.upload_info, position))

    def expires_at(self) -> float:
        """When the sweep may remove this form's files, if nothing arrives before."""
        age = self.store.age_s(self.folder_id)
        return time.time() - age + self.config.form_keep_s


class _Body(io.RawIOBase):
    """A request body read up to `allowed` bytes, hashed as it comes. One byte too many raises
    TooLarge (the store then keeps nothing of this request); a connection that breaks off ends
    the body early instead, so that what arrived is kept and the client resumes after it."""

    def __init__(self, stream: IO[bytes], allowed: int) -> None:
        super().__init__()
        self._stream = stream
        self._allowed = allowed
        self.received = 0
        self.broken = False
        self.hash = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        if self.broken:
            return b""
        # Small reads: the server's reader fills each read before returning it, and a read
        # under way when the connection drops is lost (see `uploads.LargeReads`).
        want = READ_BLOCK if size is None or size < 0 else min(size, READ_BLOCK)
        try:
            data = self._stream.read(want)
        except (ClientDisconnected, RequestTimeout, OSError):
            self.broken = True
            return b""
        self.received += len(data)
        if self.received > self._allowed:
            raise TooLarge("too large")
        self.hash.update(data)
        return data


def create(config: Config, token: str, length: int) -> str:
    """Start an upload of `length` bytes for the form; returns its id.

    Refused at once when it is longer than the archive accepts, when the form already holds
    as many files as one submission may have, or when the store has no room for it."""
    if length < 0:
        raise UploadError("bad length")
    if length > config.max_upload_bytes:
        raise TooLarge("too large")
    uploads = _Uploads(config, token)
    try:
        uploads.store.ensure_room(length)
    except StoreFull:
        raise NoRoom("store full") from None
    with uploads.writing():
        described = uploads._described()  # noqa: SLF001
        if len(described) + uploads.spool.count() >= config.max_files_per_submission:
            raise TooMany("too many files")
        used = {position for position, _upload in described}
        position = next(p for p in range(1, len(used) + 2) if p not in used)
        upload = Upload(secrets.token_hex(_ID_LENGTH // 2), length)
        uploads.describe(position, upload)
    return upload.id


def status(config: Config, token: str, upload_id: str) -> Status:
    """Where an upload stands. A finished upload whose file is kept reports its full length,
    so a page that reloads after the last byte knows there is nothing left to send."""
    uploads = _Uploads(config, token)
    # Under the lock: a HEAD sent just after a break waits for the broken request to store
    # what it received, instead of reporting an offset the next PATCH would find stale.
    with uploads.writing():
        found = uploads.find(upload_id)
        kept = uploads.spool.finished_uploads() if found is None else {}
    if found is not None:
        _position, upload = found
        return Status(upload.offset, upload.length, uploads.expires_at(), False)
    size = kept.get(upload_id)
    if size is None:
        raise UnknownUpload("unknown")
    return Status(size, size, uploads.expires_at(), True)


def append(
    config: Config,
    token: str,
    upload_id: str,
    offset: int,
    body: IO[bytes],
    checksum: bytes | None = None,
) -> Status:
    """Append one request's bytes at `offset` (which must be the upload's offset); finish the
    upload when its last byte arrived. Returns the new status.

    A body that breaks off keeps what arrived (unless a checksum was announced, which then
    cannot match); a checksum that does not match keeps nothing of this request.
    """
    uploads = _Uploads(config, token)
    with uploads.writing():
        found = uploads.find(upload_id)
        if found is None:
            if upload_id in uploads.spool.finished_uploads():
                raise OffsetMismatch(uploads.spool.finished_uploads()[upload_id])
            raise UnknownUpload("unknown")
        position, upload = found
        if offset != upload.offset:
            raise OffsetMismatch(upload.offset)
        reader = _Body(body, upload.length - upload.offset)
        part = uploads.next_part()
        name = file_name(FileKind.upload_part, part)
        try:
            size = uploads.store.write(uploads._key, uploads.folder_id, name, reader)  # noqa: SLF001
        except StoreFull:
            raise NoRoom("store full") from None
        if checksum is not None and (reader.broken or reader.hash.digest() != checksum):
            uploads.store.delete(uploads.folder_id, name)
            raise ChecksumMismatch("checksum")
        if size == 0:
            uploads.store.delete(uploads.folder_id, name)
        else:
            upload.parts.append([part, size])
            uploads.describe(position, upload)
        if upload.offset < upload.length:
            return Status(upload.offset, upload.length, uploads.expires_at(), False)
        _finish(uploads, position, upload)
        return Status(upload.length, upload.length, uploads.expires_at(), True)


def _finish(uploads: _Uploads, position: int, upload: Upload) -> None:
    """Join the parts, check and re-encode the file in the sandbox, and keep it for the form;
    whatever the outcome, the parts go. A refused file leaves nothing."""
    config = uploads.config
    joined = HashingSpool(config.temp_path)
    try:
        for part, _size in upload.parts:
            name = file_name(FileKind.upload_part, part)
            with uploads.store.open(uploads._key, uploads.folder_id, name) as reader:  # noqa: SLF001
                while block := reader.read(COPY_BLOCK):
                    joined.write(block)
        uploads.remove(position, upload)
        spool = uploads.spool
        sent = submissions.Upload(joined, "", sha256=joined.sha256)  # type: ignore[arg-type]
        fingerprint = spool.fingerprint(sent)
        if spool.holds(fingerprint):
            return
        index = spool.count() + 1
        if spool.count() >= config.max_files_per_submission:
            raise TooMany("too many files")
        used_s = spool.total_duration_s()
        try:
            item = submissions.check_file(sent, index, config, uploads.store, used_s)
        except submissions.SubmissionRejected as exc:
            raise Refused(exc.reason) from None
        try:
            if used_s + item.info.duration_s > config.max_duration_s:
                raise Refused("too_long")
            spool.keep(item, fingerprint, upload.id)
        finally:
            item.access.close()
    except BaseException:
        found = uploads.find(upload.id)
        if found is not None:
            uploads.remove(*found)
        raise
    finally:
        joined.close()


def terminate(config: Config, token: str, upload_id: str) -> None:
    """Remove an upload under way, its bytes first (tus termination)."""
    uploads = _Uploads(config, token)
    with uploads.writing():
        found = uploads.find(upload_id)
        if found is None:
            raise UnknownUpload("unknown")
        uploads.remove(*found)


def unfinished(config: Config, token: str, named: list[str]) -> list[str]:
    """Of the uploads a form names, those whose file is not kept for it (not finished, or
    refused, or expired)."""
    kept = Spool(config, token).finished_uploads()
    return [upload_id for upload_id in named if upload_id not in kept]


def read_names(text: str | None) -> list[str]:
    """The upload ids a form names (its `uploads` field), malformed ones dropped."""
    names = []
    for value in (text or "").split():
        value = value.rsplit("/", 1)[-1]
        if len(value) == _ID_LENGTH and all(c in "0123456789abcdef" for c in value):
            names.append(value)
    return names
