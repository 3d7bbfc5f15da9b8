"""Shared fixtures: a fresh instance, database and broker for every test.

With `TESTIMONY_TEST_DATABASE_URL` (PostgreSQL) and `TESTIMONY_TEST_BROKER_URL` (Redis) set, as
CI sets them, tests run against those real services: a new PostgreSQL database per test and a
flushed Redis database. Unset, they use the embedded defaults (SQLite and the SQLite broker),
each in the test's own temporary folder.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from intake import create_app, schema
from intake.config import Config

PG_URL = os.environ.get("TESTIMONY_TEST_DATABASE_URL", "")
BROKER_URL = os.environ.get("TESTIMONY_TEST_BROKER_URL", "")
MODEL_CACHE = Path(os.environ.get("TESTIMONY_TEST_MODEL_CACHE", "/tmp/testimony-test-models"))


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A new, empty database for this test."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'instance' / 'testimony.sqlite'}"
        return
    name = f"t_{secrets.token_hex(6)}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def broker_url(tmp_path: Path) -> str:
    """An empty broker: a flushed Redis database, or a SQLite broker file of this test."""
    if not BROKER_URL:
        return f"sqla+sqlite:///{tmp_path / 'instance' / 'broker.sqlite'}"
    import redis

    client = redis.Redis.from_url(BROKER_URL)
    client.flushdb()
    client.close()
    return BROKER_URL


@pytest.fixture
def config(tmp_path: Path, database_url: str, broker_url: str) -> Config:
    """Settings for one test: its own instance folder, database and broker."""
    instance = tmp_path / "instance"
    instance.mkdir(exist_ok=True)
    return Config(
        instance_path=instance,
        database_url=database_url,
        broker_url=broker_url,
        model_cache_dir=MODEL_CACHE,
        max_upload_bytes=8 * 1024 * 1024,
        max_duration_s=120.0,
        testing=True,
        job_lease_s=6.0,
        job_retry_base_s=0.5,
        upkeep_interval_s=1.0,
        whisper_window_s=60.0,
    )


@pytest.fixture
def migrated(config: Config) -> Config:
    """The configuration, with its database migrated to the newest schema."""
    schema.upgrade(config.database_url)
    return config


@pytest.fixture
def app(migrated: Config) -> Iterator[Flask]:
    """The web app on a migrated database."""
    application = create_app(migrated)
    yield application
    application.extensions["testimony"].db.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client reading English; CSRF stays on, as in production (tests fetch the token
    from the form)."""
    test_client = app.test_client()
    test_client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return test_client


def espeak_wav(path: Path, sentence: str) -> Path:
    """Speak `sentence` into a WAV file with espeak-ng (skip the test if it is missing)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed: sudo apt-get install espeak-ng (.ci/run does)")
    subprocess.run([exe, "-v", "en-us", "-s", "140", "-w", str(path), sentence], check=True)
    return path


@pytest.fixture
def staff_app(app: Flask, migrated: Config) -> Iterator[Flask]:
    """The staff app, on the same instance and database as the public `app`."""
    application = create_app(migrated, "staff")
    yield application
    application.extensions["testimony"].db.dispose()
