"""audio_file: SHA-256 of the original as sent and of the access copy made from it

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Files received earlier have no recorded hash: there is no honest value to fill in.
    with op.batch_alter_table("audio_file", schema=None) as batch_op:
        batch_op.add_column(sa.Column("original_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("access_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audio_file", schema=None) as batch_op:
        batch_op.drop_column("access_sha256")
        batch_op.drop_column("original_sha256")
