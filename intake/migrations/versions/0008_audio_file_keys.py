"""audio files get data keys of their own, sealed to the archive key pair

Revision ID: 0008
Revises: 0007

Keys sealed to the archive's public key replace keys wrapped by a master key. The sealed keys
are made by the application, which holds the keys; this migration only adds the column.
Existing audio files keep using their testimony's key (a NULL `sealed_key`).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audio_file") as batch:
        batch.add_column(sa.Column("sealed_key", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audio_file") as batch:
        batch.drop_column("sealed_key")
