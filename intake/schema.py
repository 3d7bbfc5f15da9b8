"""Create and upgrade the database schema through Alembic, never through `create_all`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import inspect, text

from intake.db import make_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

#: The history was renamed to a plain sequence (0001, 0002, ...) so that its order reads from
#: the file names. A database migrated before the rename records one of these older names in
#: `alembic_version`; `upgrade` rewrites it to the new name of the same step first.
LEGACY_REVISIONS = {
    "0002_a1": "0002",
    "0002_a2": "0003",
    "0002_g": "0004",
    "0003_g": "0005",
    "0002_f": "0006",
    "0004_j": "0007",
    "0004_k": "0008",
    "0004_m": "0009",
    "0004_l": "0010",
    "0004_i": "0011",
    "0004_n": "0012",
    "0004_o": "0013",
}


def alembic_config(database_url: str) -> AlembicConfig:
    """An Alembic configuration for `database_url`, with no alembic.ini needed."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database to `revision` (the newest by default)."""
    rename_legacy_revision(database_url)
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    """Take the database back to `revision` (an empty database by default)."""
    command.downgrade(alembic_config(database_url), revision)


def rename_legacy_revision(database_url: str) -> None:
    """Rewrite a pre-rename revision name in `alembic_version` to its sequential name."""
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return
            for old, new in LEGACY_REVISIONS.items():
                conn.execute(
                    text("UPDATE alembic_version SET version_num = :new WHERE version_num = :old"),
                    {"new": new, "old": old},
                )
    finally:
        engine.dispose()
