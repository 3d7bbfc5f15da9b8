"""Testimony intake: the Flask application factory."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from intake import crypto, i18n, security, services
from intake.config import Config
from intake.crypto import Keyring
from intake.db import Database
from intake.public.uploads import LargeReads, SpoolingRequest
from intake.records import queues
from intake.services import Services
from intake.storage import Store

PROJECT_ROOT = Path(__file__).resolve().parent.parent
Audience = Literal["public", "staff", "worker"]
AUDIENCES: tuple[Audience, ...] = ("public", "staff", "worker")

# The secrets each audience holds (see `crypto.Keyring`): the public app checks receipt codes
# and seals what it stores to the archive's public key, and holds nothing that opens it; the
# staff app signs sessions, seals its accounts' secrets and opens content for review; a
# worker opens content only. Only the staff app holds the search key, which keys the blind
# index of approved text: it indexes at the last approval and searches; `testimony search
# reindex` loads the key itself on the host that runs it. A worker indexes nothing, so it holds
# one secret fewer.
_SECRETS: dict[Audience, set[str]] = {
    "public": {"session", "pepper"},
    # No session key: the staff app signs its sessions with a key derived from the staff key,
    # which the public app never holds, so a seized public host cannot forge a staff session.
    "staff": {"private", "staff", "search"},
    "worker": {"private"},
}


# The session cookie's name per app; the staff app's device cookie is
# `views.staff.auth.DEVICE_COOKIE`, the language cookie (`i18n.COOKIE`) is shared on purpose.
SESSION_COOKIES: dict[Audience, str] = {"public": "testimony_public", "staff": "testimony_staff"}


def create_app(config: Config | None = None, audience: Audience = "public") -> Flask:
    """Build the app of one audience for `config`; nothing is built at import time.

    The public app registers the intake pages only; the staff app registers the staff
    blueprints only, every one under /staff/, so that neither answers the other's URLs and each
    can be served on its own port (SecureDrop's source and journalist apps). The worker's app
    registers no page: it gives tasks their services and app context. Each loads only the
    secrets its audience needs.
    """
    if audience not in AUDIENCES:
        raise ValueError(f"unknown audience {audience!r}")
    config = config or Config.from_env()
    app = Flask(
        __name__,
        instance_path=str(config.instance_path),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
        static_url_path="/staff/static" if audience == "staff" else None,
    )
    app.request_class = SpoolingRequest
    app.wsgi_app = LargeReads(app.wsgi_app)  # type: ignore[method-assign]
    needs = _SECRETS[audience]
    keyring = Keyring.load(
        archive=config.archive_keys,
        private="private" in needs,
        session=config.secret_key_file if "session" in needs else None,
        pepper=config.receipt_pepper_file if "pepper" in needs else None,
        staff=config.staff_key_file if "staff" in needs else None,
        search=config.search_key_file if "search" in needs else None,
        create=config.testing,
    )
    app.config.update(
        SECRET_KEY=_session_secret(keyring, audience),
        TESTING=config.testing,
        MAX_CONTENT_LENGTH=config.max_upload_bytes,
        # Text fields are small; anything larger is an attack, not a testimony.
        MAX_FORM_MEMORY_SIZE=256 * 1024,
        # Each app its own cookie name, so that both can be served side by side on one host:
        # browsers keep cookies per host, not per port, and a shared name would let the public
        # form's session replace the staff sign-in.
        SESSION_COOKIE_NAME=SESSION_COOKIES.get(audience, "testimony_worker"),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=config.secure_cookies,
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_DEFAULT_LOCALE=i18n.DEFAULT_LOCALE,
        BABEL_TRANSLATION_DIRECTORIES=str(PROJECT_ROOT / "translations"),
        TESTIMONY_TEMP=str(config.temp_path),
    )
    store = Store.for_config(config)
    store.ensure()
    config.temp_path.mkdir(parents=True, exist_ok=True, mode=0o700)
    db = Database(config.database_url)
    publish = queues.make_publisher(config)
    queues.publish_after_commit(db, publish)
    services.init_app(
        app, Services(config=config, db=db, store=store, keyring=keyring, publish=publish)
    )
    if audience == "worker":
        return app
    CSRFProtect(app)
    i18n.init_app(app)
    security.init_app(app)

    from intake.views import errors

    if audience == "staff":
        from intake.views import staff

        staff.init_app(app, config)
    else:
        from intake.views import public

        app.register_blueprint(public.make_blueprint(config))
    errors.register(app)
    _quiet_request_logs()
    return app


def _session_secret(keyring: Keyring, audience: Audience) -> bytes | None:
    """The key that signs this app's session cookies: the public app's own, or for the staff
    app one derived from the staff key (never the public app's, see docs/security.md)."""
    if audience == "staff":
        return crypto.derive_key(keyring.staff_key, b"staff-app-sessions")
    if audience == "public":
        return keyring.session_key
    return None


def _quiet_request_logs() -> None:
    # Werkzeug's request log line starts with the client address; the archive keeps none.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
