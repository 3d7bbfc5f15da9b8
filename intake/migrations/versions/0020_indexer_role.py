"""the indexer role: reads approved transcripts to index them and link what they name

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BEFORE = ("reviewer", "translator", "archivist", "custodian", "admin")
_AFTER = ("reviewer", "translator", "indexer", "archivist", "custodian", "admin")


def _role_check(values: tuple[str, ...]) -> str:
    return "role IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _set_roles(values: tuple[str, ...]) -> None:
    # The role is a VARCHAR with a CHECK (`intake.models._enum`): the check is rebuilt.
    for table in ("staff_role", "role_grant"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"ck_{table}_role"), type_="check")
            batch.create_check_constraint("role", _role_check(values))


def upgrade() -> None:
    _set_roles(_AFTER)


def downgrade() -> None:
    # An indexer's role rows cannot be kept under the old constraint: they go, as the role does.
    op.execute(sa.text("DELETE FROM staff_role WHERE role = 'indexer'"))
    op.execute(sa.text("DELETE FROM role_grant WHERE role = 'indexer'"))
    _set_roles(_BEFORE)
