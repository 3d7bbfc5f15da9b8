"""Reading request bodies: encrypted spools, large reads, and bodies that stall.

Werkzeug writes file parts larger than 500 KB to a plaintext temporary file; a testimony must
never touch the disk in plaintext, so each part goes to an `EncryptedTempFile` instead, in
the instance's own temporary folder, unlinked from the start. The SHA-256 of each file is
computed as its bytes arrive (`HashingSpool`): the chain of custody starts from exactly what
the submitter sent, before anything has read or changed it. A body that stops arriving
(the server's socket timeout, see `intake.serving`) drops the connection and closes every
spool of that request, so a stalled upload leaves neither bytes on disk nor a file open.
"""

from __future__ import annotations

import errno
import hashlib
import io
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from flask import Request, current_app
from werkzeug.exceptions import RequestTimeout

from intake.crypto import EncryptedTempFile
from intake.services import services

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class HashingSpool(EncryptedTempFile):
    """An upload's spool that also hashes the bytes written to it, in the order they come.

    The form parser writes each file part from its first byte to its last, once; should
    anything ever write elsewhere, the running hash no longer describes the file and
    `sha256` says so by answering None (the caller then hashes what the spool holds).
    """

    def __init__(self, directory: Path | None = None) -> None:
        super().__init__(directory)
        self._hash: hashlib._Hash | None = hashlib.sha256()
        self._hashed = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if self._hash is not None:
            if self.tell() == self._hashed:
                self._hash.update(data)
                self._hashed += len(data)
            else:
                self._hash = None
        return super().write(data)

    @property
    def sha256(self) -> str | None:
        """The hex SHA-256 of the file as it arrived, or None if it was not written in order."""
        if self._hash is None or self._hashed != self.size:
            return None
        return self._hash.hexdigest()


def sent_sha256(stream: object) -> str | None:
    """The SHA-256 of an uploaded file computed while it arrived, if it was spooled here."""
    return stream.sha256 if isinstance(stream, HashingSpool) else None


class SpoolingRequest(Request):
    """Flask request whose uploads are spooled encrypted."""

    def _get_file_stream(  # type: ignore[override]
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        # Before the first byte of a file is spooled: a body the store has no room for is
        # refused now (StoreFull, shown by the error handler), not after it filled the disk.
        services().store.ensure_room(total_content_length or 0)
        folder = Path(current_app.config["TESTIMONY_TEMP"])
        spool = HashingSpool(folder)
        self.__dict__.setdefault("_spools", []).append(spool)
        return spool  # type: ignore[return-value]

    def _load_form_data(self) -> None:
        try:
            super()._load_form_data()
        except BaseException:
            # The body broke off (stalled, too large, malformed): the parts spooled so far
            # belong to no form; close them now rather than when the garbage collector
            # finds them, so their disk space comes back at once.
            for spool in self.__dict__.pop("_spools", []):
                spool.close()
            raise


class BodyStalled(ConnectionResetError):
    """The client sent nothing for the configured time: the server drops the connection
    without an answer (gunicorn treats a reset as the client's doing and logs nothing)."""

    def __init__(self) -> None:
        super().__init__(errno.ECONNRESET, "request body stalled")


class _InputAdapter(io.RawIOBase):
    """The WSGI input as a raw stream of exactly Content-Length bytes (or up to the end of a
    chunked body), so that `io.BufferedReader` can sit on top of it without reading past the
    body (a plain socket would then block, waiting for bytes the client never sends).

    A read that times out (the server's socket timeout) marks the body stalled and raises
    408, which unwinds the form parser and the view; `LargeReads` then drops the connection.
    """

    def __init__(self, stream: IO[bytes], length: int | None) -> None:
        super().__init__()
        self._stream = stream
        self._left = length
        self.stalled = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        want = len(view) if self._left is None else min(len(view), self._left)
        if want <= 0:
            return 0
        try:
            data = self._stream.read(want)
        except TimeoutError:
            self.stalled = True
            raise RequestTimeout() from None
        view[: len(data)] = data
        if self._left is not None:
            self._left -= len(data)
        return len(data)


class LargeReads:
    """WSGI middleware: read the request body from the server in 1 MiB blocks, and drop a
    connection whose body stalls.

    Werkzeug's multipart parser asks for 64 KiB at a time, and gunicorn copies the rest of its
    own read-ahead buffer on every such call; a 1 GiB upload spent about 3 CPU-seconds there
    (benchmarks/upload.py). One large read per MiB removes most of that.
    """

    BLOCK = 1024 * 1024

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raw = environ.get("wsgi.input")
        length = environ.get("CONTENT_LENGTH", "")
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if raw is None or not (length.isdigit() or chunked):
            return self.app(environ, start_response)
        adapter = _InputAdapter(raw, int(length) if length.isdigit() else None)
        # A resumable upload's PATCH (`intake.public.resumable`) reads its body in small
        # pieces, unbuffered: what a buffer holds when the connection drops would be lost,
        # and the client would send it again.
        resumable = environ.get("CONTENT_TYPE", "").startswith("application/offset+octet-stream")
        if length.isdigit() and int(length) > self.BLOCK and not resumable:
            environ["wsgi.input"] = io.BufferedReader(adapter, self.BLOCK)
        else:
            environ["wsgi.input"] = adapter
        result = self.app(environ, start_response)
        if adapter.stalled:
            close = getattr(result, "close", None)
            if close is not None:
                close()
            raise BodyStalled()
        return result
