"""Close the event vocabulary: rewrite actions written as free strings before it existed.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # `transition` without an explicit action wrote "state:<to_state>"; the only such move
    # was to `transcribed`, which now has its own action.
    op.execute(sa.text("UPDATE event SET action = 'transcribed' WHERE action = 'state:transcribed'"))
    op.execute(sa.text("UPDATE event SET action = 'state_changed' WHERE action LIKE 'state:%'"))


def downgrade() -> None:
    op.execute(sa.text("UPDATE event SET action = 'state:transcribed' WHERE action = 'transcribed'"))
