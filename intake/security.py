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

# Pages that show or take a receipt code must never be kept by a browser or a proxy.
NO_STORE_ENDPOINTS = {
    "public.submit",
    "public.sent",
    "public.confirm_sent",
    "public.receipt",
    "public.add_audio",
    "public.withdraw",
}


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
    if request.endpoint in NO_STORE_ENDPOINTS or request.method == "POST":
        h["Cache-Control"] = "no-store"
        h["Pragma"] = "no-cache"
    return response


def init_app(app: Flask) -> None:
    """Register the header hook."""
    app.after_request(add_headers)
