"""Request class that spools uploaded files into encrypted temporary files.

Werkzeug writes file parts larger than 500 KB to a plaintext temporary file; a testimony must
never touch the disk in plaintext, so each part goes to an `EncryptedTempFile` instead, in
the instance's own temporary folder, unlinked from the start.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from flask import Request, current_app

from intake.crypto import EncryptedTempFile
from intake.services import services

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


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
        return EncryptedTempFile(folder)  # type: ignore[return-value]


class _InputAdapter(io.RawIOBase):
    """The WSGI input as a raw stream of exactly Content-Length bytes, so that
    `io.BufferedReader` can sit on top of it without reading past the body (a plain socket
    would then block, waiting for bytes the client never sends)."""

    def __init__(self, stream: IO[bytes], length: int) -> None:
        super().__init__()
        self._stream = stream
        self._left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        if self._left <= 0:
            return 0
        data = self._stream.read(min(len(view), self._left))
        view[: len(data)] = data
        self._left -= len(data)
        return len(data)


class LargeReads:
    """WSGI middleware: read the request body from the server in 1 MiB blocks.

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
        if raw is not None and length.isdigit() and int(length) > self.BLOCK:
            environ["wsgi.input"] = io.BufferedReader(_InputAdapter(raw, int(length)), self.BLOCK)
        return self.app(environ, start_response)
