"""The schema made by the migrations is exactly the schema the models describe."""

from __future__ import annotations

import re
from collections.abc import Callable

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from intake.config import Config
from intake.db import make_engine
from intake.models import Base


def _made_on(dialect: str) -> Callable[..., bool]:
    """Alembic's filter that leaves out an index the models make on another database only
    (`Index(...).ddl_if(dialect=...)`, such as the search index's GIN on PostgreSQL)."""

    def include(obj: object, name: str | None, type_: str, reflected: bool, _: object) -> bool:
        ddl_if = getattr(obj, "_ddl_if", None)
        only = getattr(ddl_if, "dialect", None) if type_ == "index" and not reflected else None
        return only is None or only == dialect

    return include


def test_migrated_schema_equals_models(migrated: Config) -> None:
    engine = make_engine(migrated.database_url)
    try:
        with engine.connect() as conn:
            opts = {"compare_type": True, "include_object": _made_on(engine.dialect.name)}
            context = MigrationContext.configure(conn, opts=opts)
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


def _revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_the_history_goes_down_to_empty_and_up_again(migrated: Config) -> None:
    from intake import schema

    assert _tables(migrated.database_url) >= {"testimony", "event", "segment"}
    schema.downgrade(migrated.database_url)
    assert _revision(migrated.database_url) is None
    assert _tables(migrated.database_url) == set()
    schema.upgrade(migrated.database_url)
    test_migrated_schema_equals_models(migrated)


def test_the_history_reads_in_order_from_the_file_names() -> None:
    from intake import schema

    files = sorted((schema.MIGRATIONS / "versions").glob("*.py"))
    revisions, downs = [], []
    for path in files:
        source = path.read_text()
        revisions.append(re.search(r'^revision: str = "(\d{4})"', source, re.M).group(1))  # type: ignore[union-attr]
        found = re.search(r'^down_revision: str \| None = "(\d{4})"', source, re.M)
        downs.append(found.group(1) if found else None)
    assert [path.name[:4] for path in files] == revisions
    assert revisions == [f"{n:04d}" for n in range(1, len(files) + 1)]
    assert downs == [None, *revisions[:-1]]


def test_a_database_migrated_before_the_rename_upgrades(config: Config) -> None:
    from intake import schema

    # A database last migrated when the export step (now 0013) was still called 0004_o.
    migrated = config
    schema.upgrade(migrated.database_url, "0013")
    engine = make_engine(migrated.database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0004_o'"))
    engine.dispose()
    schema.upgrade(migrated.database_url)
    assert _revision(migrated.database_url) == ScriptDirectory.from_config(
        schema.alembic_config(migrated.database_url)
    ).get_current_head()
