"""The long-lived parts an app holds: configuration, database, store, keys, job publisher."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from intake.config import Config
from intake.crypto import Keyring
from intake.db import Database
from intake.records.jobs import Publisher
from intake.storage import Store


@dataclass
class Services:
    """Built once in `create_app`; views, tasks and commands reach them through `services()`."""

    config: Config
    db: Database
    store: Store
    keyring: Keyring
    publish: Publisher


def services() -> Services:
    """The services of the current Flask app."""
    return current_app.extensions["testimony"]  # type: ignore[no-any-return]


def request_session() -> Session:
    """The database session of this request: opened on first use, closed at teardown."""
    if "db_session" not in g:
        g.db_session = services().db.sessions()
    return g.db_session  # type: ignore[no-any-return]


def init_app(app: Flask, svc: Services) -> None:
    """Attach the services and close each request's session when the request ends."""
    app.extensions["testimony"] = svc

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        db_session = g.pop("db_session", None)
        if db_session is not None:
            db_session.close()
