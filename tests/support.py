"""Helpers for driving the public forms the way a browser does (CSRF token included)."""

from __future__ import annotations

import io
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import TestResponse, encode_multipart

from intake.crypto import Keyring

_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
_FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
_CODE = re.compile(r'id="receipt-code"[^>]*>([^<]+)<')

ALL_CONSENT = {"archive": "y", "transcribe": "y", "translate": "y", "publish_anonymised": "y"}


def csrf_token(client: FlaskClient, path: str = "/") -> str:
    """Fetch a page and return the CSRF token of its form."""
    html = client.get(path).get_data(as_text=True)
    match = _TOKEN.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def form_token(html: str) -> str:
    """The one-time token of the intake form on a page."""
    match = _FORM_TOKEN.search(html)
    assert match, "no form token on the page"
    return match.group(1)


def submit(
    client: FlaskClient,
    files: list[tuple[bytes, str]],
    *,
    consent: dict[str, str] | None = None,
    **fields: Any,
) -> TestResponse:
    """Post a fresh intake form with `files` as (content, filename) pairs, following the
    redirect to the receipt page as a browser does."""
    html = client.get("/").get_data(as_text=True)
    data: dict[str, Any] = {
        "csrf_token": _TOKEN.search(html).group(1),  # type: ignore[union-attr]
        "form_token": form_token(html),
        "language": "en",
    }
    data.update(ALL_CONSENT if consent is None else consent)
    data.update(fields)
    data["audio"] = [(io.BytesIO(content), name) for content, name in files]
    return post_multipart(client, "/submit", data, follow_redirects=True)


def post_multipart(
    client: FlaskClient, path: str, data: dict[str, Any], *, follow_redirects: bool = False
) -> TestResponse:
    """POST a multipart form built in memory.

    The test client would spool bodies over 500 KB into a temporary file that it never
    closes (a ResourceWarning, which this suite treats as an error).
    """
    body = MultiDict()
    for key, value in data.items():
        for item in value if isinstance(value, list) else [value]:
            body.add(
                key, FileStorage(item[0], filename=item[1]) if isinstance(item, tuple) else item
            )
    boundary, payload = encode_multipart(body)
    return client.post(
        path,
        data=payload,
        content_type=f"multipart/form-data; boundary={boundary}",
        follow_redirects=follow_redirects,
    )


def receipt_code(response: TestResponse) -> str:
    """The receipt code shown on the success page, as 16 ASCII digits."""
    match = _CODE.search(response.get_data(as_text=True))
    assert match, "no receipt code on the page"
    shown = match.group(1).translate(str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789"))
    return shown.replace(" ", "")


def worker_keyring(app: Flask) -> Keyring:
    """The keys a worker (or the staff app) holds for `app`'s instance: the public app holds no
    private key, so tests that open or seal content as a worker does use these."""
    config = app.extensions["testimony"].config
    return Keyring.load(archive=config.archive_keys, private=True, create=False)
