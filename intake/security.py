"""HTTP security headers, set on every response from the first page on.

The policy allows nothing from another host and no inline script or style, so that the site
works the same in Tor Browser's safest mode and gives an injected script nowhere to run.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote, urlsplit

from flask import Flask, Response, request

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)

# A `next=` longer than this is no page of ours.
MAX_TARGET_CHARS = 2048
# How many layers of percent-encoding are undone before a target is judged; one still changing
# after that is refused.
_DECODINGS = 4


def local_path(target: str | None, prefix: str = "/") -> str | None:
    """`target` when it is a path of this very site under `prefix`, else None.

    The one judge of every `next=` on both apps (the public language switch, the staff sign-in
    and language switch), so that none can send a visitor to another host. Browsers drop tabs
    and newlines from URLs and read a backslash as a slash, so `/%09/evil.example` (a tab once
    decoded), `/%5C/evil.example` or `/%2F%2Fevil.example` can all become the scheme-relative
    `//evil.example`: refused here are any whitespace, control, format or separator character
    and any backslash, in the target and in each of its percent-decodings; a target that is not
    a plain path (a scheme, a host, `//`) at any decoding; and one that does not begin with
    `prefix`.
    """
    if not target or len(target) > MAX_TARGET_CHARS or not target.startswith(prefix):
        return None
    seen = target
    for _ in range(_DECODINGS):
        if not _plain_path(seen):
            return None
        decoded = unquote(seen)
        if decoded == seen:
            return target
        seen = decoded
    return None


def _plain_path(text: str) -> bool:
    if not text.startswith("/") or text.startswith("//"):
        return False
    for ch in text:
        if ch == "\\" or unicodedata.category(ch)[0] in "CZ":
            return False
    parts = urlsplit(text)
    return not parts.scheme and not parts.netloc


def add_headers(response: Response) -> Response:
    """Set the security headers on one response."""
    h = response.headers
    h["Content-Security-Policy"] = CSP
    h["X-Content-Type-Options"] = "nosniff"
    h["Referrer-Policy"] = "no-referrer"
    h["X-Frame-Options"] = "DENY"
    h["Cross-Origin-Opener-Policy"] = "same-origin"
    h["Cross-Origin-Resource-Policy"] = "same-origin"
    h["Permissions-Policy"] = "microphone=(self), camera=(), geolocation=()"
    # Every page may show a receipt code, a status or (on the staff side) testimony text: none
    # is ever kept by a browser or a proxy. Only the static files (CSS, scripts) are.
    if request.endpoint != "static":
        h["Cache-Control"] = "no-store"
        h["Pragma"] = "no-cache"
    return response


def init_app(app: Flask) -> None:
    """Register the header hook: once, on the app, so that no route of any blueprint (a
    later one included) can be without it; tests/test_route_rules.py walks the route maps."""
    app.after_request(add_headers)
