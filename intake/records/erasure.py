"""Erasure of a testimony's content: one place that withdrawal and retention both call.

What to erase is read from the models' own marks (`info["erase"]` on tables and columns, see
`intake.models`), not from a list kept here, so a table added later is erased by declaring
what it holds; tests/test_erasure.py fails for a table or content column that declares
nothing. Rows are found through a `testimony_id` column or, one step further, through a
foreign key to a table that has one (segments through their transcript).

Erasure deletes rows; the files in the store are removed by the caller after the commit, since
the destroyed key already makes them unreadable (see `submissions.withdraw`).
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Column, CursorResult, Table, delete, select, update
from sqlalchemy.orm import Session

from intake.models import Base, Testimony

ROWS = "rows"
COLUMNS = "columns"
KEEP = "keep"
#: A table shared by all testimonies whose rows may have grown from one (the entity register):
#: the rows whose origin column (`info={"origin": True}`) names the testimony are deleted once
#: no row of any table refers to them any more, and the rest forget their origin.
ORPHANS = "orphans"


def plan(table: Table) -> str:
    """What withdrawal does to `table`: "rows", "columns" or "keep" (KeyError if unmarked)."""
    return str(table.info["erase"])


def erased_columns(table: Table) -> list[Column[object]]:
    """The columns of a "columns" table that withdrawal clears."""
    return [c for c in table.columns if c.info.get("erase") is True]


def _owner_filter(table: Table, testimony_id: int) -> object:
    if "testimony_id" in table.columns:
        return table.c.testimony_id == testimony_id
    for fk in table.foreign_keys:
        parent = fk.column.table
        if "testimony_id" in parent.columns:
            owned = select(fk.column).where(parent.c.testimony_id == testimony_id)
            return fk.parent.in_(owned)
    raise LookupError(f"table {table.name} is marked for erasure but reaches no testimony")


def erase_testimony_content(session: Session, testimony_id: int) -> dict[str, int]:
    """Delete every row and clear every column that holds the testimony's content; return the
    number of rows touched per table. Runs in the caller's transaction."""
    counts: dict[str, int] = {}
    # Children before parents, so foreign keys hold at every step.
    for table in reversed(Base.metadata.sorted_tables):
        how = plan(table)
        if how == ROWS:
            result = session.execute(
                delete(table).where(_owner_filter(table, testimony_id))  # type: ignore[arg-type]
            )
            counts[table.name] = cast(CursorResult[Any], result).rowcount
        elif how == ORPHANS:
            counts[table.name] = _erase_orphans(session, table, testimony_id)
        elif how == COLUMNS:
            columns = erased_columns(table)
            key = table.c.id if table.name == Testimony.__tablename__ else None
            where = key == testimony_id if key is not None else _owner_filter(table, testimony_id)
            result = session.execute(
                update(table).where(where).values({c.name: None for c in columns})  # type: ignore[arg-type]
            )
            counts[table.name] = cast(CursorResult[Any], result).rowcount
    return counts


def origin_column(table: Table) -> Column[object]:
    """The column of an "orphans" table that names the testimony a row grew from."""
    found = [c for c in table.columns if c.info.get("origin") is True]
    if len(found) != 1:
        raise LookupError(f"table {table.name} is marked orphans without one origin column")
    return found[0]


def _referenced(table: Table) -> list[object]:
    """A condition per foreign key in the metadata (its own included) that points at
    `table`: true for the rows some row still refers to."""
    conditions: list[object] = []
    for other in Base.metadata.sorted_tables:
        for fk in other.foreign_keys:
            if fk.column.table is table:
                alias = other.alias()
                conditions.append(
                    select(alias.c[fk.parent.name])
                    .where(alias.c[fk.parent.name] == fk.column)
                    .exists()
                )
    return conditions


def _erase_orphans(session: Session, table: Table, testimony_id: int) -> int:
    """Delete the rows grown from the testimony that nothing refers to any more (after the
    testimony's own rows went, children first); the others forget where they grew from.

    Deleting goes on until nothing more goes: a row referred to only by rows that go with the
    same testimony (an entry merged into another, both grown from it) is an orphan once they
    are gone. All in the caller's transaction, so a crash leaves every row as it was."""
    origin = origin_column(table)
    mine = origin == testimony_id
    condition = mine
    for referenced in _referenced(table):
        condition = condition & ~referenced  # type: ignore[operator]
    deleted = 0
    while True:
        result = session.execute(delete(table).where(condition))
        count = cast(CursorResult[Any], result).rowcount
        if not count:
            break
        deleted += count
    session.execute(update(table).where(mine).values({origin.name: None}))
    return deleted
