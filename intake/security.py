"""HTTP security headers, set on every response from the first page on.

The policy allows nothing from another host and no inline script or style, so that the site
works the same in Tor Browser's safest mode and gives an injected script nowhere to run.
"""

from __future__ import annotations

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
