"""Resumable uploads through the real server (`testimony serve`: gunicorn, gevent workers): a
request cut off mid-body keeps what arrived and the upload goes on from there; wrong offsets,
checksum mismatches, termination and the size limit are answered as tus says; the finished
upload, named by the form, is stored byte for byte; and no address or user agent is logged."""

from __future__ import annotations

import base64
import hashlib
import http.client
import re
import socket
import struct
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from intake.config import Config
from intake.models import AudioFile
from tests import audio_fixtures as fx
from tests.support import ALL_CONSENT
from tests.test_serving import MARKED_ADDRESS, MARKED_AGENT, Server

_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
_FORM = re.compile(r'name="form_token" value="([^"]+)"')


@pytest.fixture
def server(migrated: Config, tmp_path: Path) -> Iterator[Server]:
    running = Server(migrated, tmp_path)
    yield running
    running.stop()


class Visitor:
    """One browser's session with the served form: its cookie and the page's tokens."""

    def __init__(self, port: int) -> None:
        self.port = port
        answer = self.request("GET", "/")
        html = answer.read_body.decode()  # type: ignore[attr-defined]
        self.cookie = answer.headers["Set-Cookie"].split(";", 1)[0]
        self.csrf = _CSRF.search(html).group(1)  # type: ignore[union-attr]
        self.token = _FORM.search(html).group(1)  # type: ignore[union-attr]

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=30, source_address=(MARKED_ADDRESS, 0)
        )
        sent = {"User-Agent": MARKED_AGENT, **(headers or {})}
        if hasattr(self, "cookie"):
            sent["Cookie"] = self.cookie
        connection.request(method, path, body=body, headers=sent)
        answer = connection.getresponse()
        answer.read_body = answer.read()  # type: ignore[attr-defined]
        connection.close()
        return answer

    def tus(
        self, method: str, path: str, body: bytes = b"", **extra: str
    ) -> http.client.HTTPResponse:
        headers = {"Tus-Resumable": "1.0.0", "Form-Token": self.token, "X-CSRFToken": self.csrf}
        headers.update({k.replace("_", "-"): v for k, v in extra.items()})
        if method == "PATCH":
            headers["Content-Type"] = "application/offset+octet-stream"
        return self.request(method, path, body, headers)

    def offset(self, where: str) -> int:
        return int(self.tus("HEAD", where).headers["Upload-Offset"])

    def cut_patch(self, where: str, offset: int, announced: int, sent: bytes) -> None:
        """A PATCH whose connection breaks after `sent`, of `announced` bytes."""
        s = socket.create_connection(("127.0.0.1", self.port), source_address=(MARKED_ADDRESS, 0))
        s.sendall(
            (
                f"PATCH {where} HTTP/1.1\r\nHost: x\r\nCookie: {self.cookie}\r\n"
                f"Tus-Resumable: 1.0.0\r\nForm-Token: {self.token}\r\nX-CSRFToken: {self.csrf}\r\n"
                f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\n"
                f"Content-Length: {announced}\r\n\r\n"
            ).encode()
            + sent
        )
        time.sleep(0.5)
        # An abortive close (RST), as a dropped circuit looks to the server.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()


def _checksum(data: bytes) -> str:
    return "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_the_tus_protocol_under_the_real_server(server: Server, migrated: Config) -> None:
    visitor = Visitor(server.port)
    data = fx.tone_wav(40.0, rate=16000, channels=1)  # 1.2 MiB
    created = visitor.tus("POST", "/uploads", Upload_Length=str(len(data)), Upload_Metadata="")
    assert created.status == 201
    where = urllib.parse.urlsplit(created.headers["Location"]).path
    assert visitor.tus("PATCH", where, data[:40000], Upload_Offset="0").status == 204
    assert visitor.offset(where) == 40000
    # The connection breaks 300000 bytes into the next request, of over a MiB: what the server
    # read is kept, all but the piece it was reading (at most 64 KiB).
    visitor.cut_patch(where, 40000, len(data) - 40000, data[40000:340000])
    deadline = time.monotonic() + 10
    while visitor.offset(where) == 40000 and time.monotonic() < deadline:
        time.sleep(0.1)
    offset = visitor.offset(where)
    assert 340000 - 64 * 1024 <= offset <= 340000
    wrong = visitor.tus("PATCH", where, data[100:200], Upload_Offset="100")
    assert wrong.status == 409
    bad = visitor.tus(
        "PATCH",
        where,
        data[offset : offset + 1000],
        Upload_Offset=str(offset),
        Upload_Checksum=_checksum(b"other"),
    )
    assert bad.status == 460
    assert visitor.offset(where) == offset
    done = visitor.tus(
        "PATCH",
        where,
        data[offset:],
        Upload_Offset=str(offset),
        Upload_Checksum=_checksum(data[offset:]),
    )
    assert done.status == 204

    # Termination and the size limit.
    other = visitor.tus("POST", "/uploads", Upload_Length="5000")
    other_path = urllib.parse.urlsplit(other.headers["Location"]).path
    assert visitor.tus("DELETE", other_path).status == 204
    assert visitor.tus("HEAD", other_path).status == 404
    too_big = visitor.tus("POST", "/uploads", Upload_Length=str(migrated.max_upload_bytes + 1))
    assert too_big.status == 413

    form = {"csrf_token": visitor.csrf, "form_token": visitor.token, "language": "en"}
    form.update(ALL_CONSENT)
    form["uploads"] = where
    sent = visitor.request(
        "POST",
        "/submit",
        urllib.parse.urlencode(form).encode(),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert sent.status == 303, sent.read_body  # type: ignore[attr-defined]
    engine = create_engine(migrated.database_url)
    try:
        with Session(engine) as s:
            row = s.scalars(select(AudioFile)).one()
            assert row.original_sha256 == hashlib.sha256(data).hexdigest()
    finally:
        engine.dispose()
    server.stop()
    for path in (server.out, server.err):
        text = path.read_text(errors="replace")
        assert MARKED_ADDRESS not in text and MARKED_AGENT not in text
