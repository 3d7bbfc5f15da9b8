"""The web app reads a large request body from the server in 1 MiB blocks.

Werkzeug's multipart parser asks for 64 KiB at a time, which costs a server such as gunicorn a
copy of its read-ahead buffer per call; the app reads 1 MiB blocks instead. An upload succeeds
either way, so the test records what the app asks of the server's input stream.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from intake.models import AudioFile
from tests import audio_fixtures as fx
from tests.support import ALL_CONSENT, csrf_token

MIB = 1024 * 1024


class ServerInput(io.BytesIO):
    """The server's `wsgi.input`: a body that notes the size of every read asked of it."""

    def __init__(self, body: bytes) -> None:
        super().__init__(body)
        self.asked: list[int] = []

    def read(self, size: int | None = -1, /) -> bytes:
        self.asked.append(-1 if size is None else size)
        return super().read(size)

    def readinto(self, buffer: bytearray | memoryview, /) -> int:  # type: ignore[override]
        self.asked.append(len(buffer))
        return super().readinto(buffer)

    def readline(self, size: int | None = -1, /) -> bytes:
        self.asked.append(-1 if size is None else size)
        return super().readline(size)


def test_large_body_is_read_from_the_server_in_1_mib_blocks(
    app: Flask, client: FlaskClient
) -> None:
    wav = fx.tone_wav(20.0)  # 3.8 MB
    fields: MultiDict[str, Any] = MultiDict(
        {"csrf_token": csrf_token(client), "language": "en", **ALL_CONSENT}
    )
    fields.add("audio", FileStorage(io.BytesIO(wav), filename="long.wav"))
    boundary, body = encode_multipart(fields)
    assert len(body) > 3 * MIB
    server = ServerInput(body)
    response = client.post(
        "/submit",
        input_stream=server,
        content_length=len(body),
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert response.status_code == 303  # to the receipt page
    with app.extensions["testimony"].db.session() as s:
        assert round(s.scalars(select(AudioFile)).one().duration_s, 1) == 20.0

    assert server.tell() == len(body)  # all of it, and nothing read past the body
    whole_blocks = len(body) // MIB
    assert server.asked[:whole_blocks] == [MIB] * whole_blocks
    assert all(size <= MIB for size in server.asked)
    assert len(server.asked) <= whole_blocks + 2
