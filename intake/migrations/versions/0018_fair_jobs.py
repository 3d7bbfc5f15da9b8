"""fair transcription order: the audio a job works on and when its turn comes; an index for
the glossary's stamp

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("job") as batch_op:
        batch_op.add_column(sa.Column("audio_s", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("turn_at", intake.models.UTCDateTime(), nullable=True))
    op.create_index(
        op.f("ix_glossary_term_updated_at"), "glossary_term", ["updated_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_glossary_term_updated_at"), table_name="glossary_term")
    with op.batch_alter_table("job") as batch_op:
        batch_op.drop_column("turn_at")
        batch_op.drop_column("audio_s")
