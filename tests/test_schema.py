"""The schema made by the migrations is exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from intake.config import Config
from intake.db import make_engine
from intake.models import Base


def test_migrated_schema_equals_models(migrated: Config) -> None:
    engine = make_engine(migrated.database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_migrations_run_twice_without_change(migrated: Config) -> None:
    from intake import schema

    schema.upgrade(migrated.database_url)  # a second `testimony init` is harmless
    engine = make_engine(migrated.database_url)
    try:
        with engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() is not None
    finally:
        engine.dispose()
