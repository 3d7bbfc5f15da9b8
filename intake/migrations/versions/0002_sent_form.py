"""sent forms: one testimony per intake form, and the receipt code until it is written down

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sent_form",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("sent_at", intake.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sealed_code", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_sent_form")),
    )
    with op.batch_alter_table("sent_form", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sent_form_sent_at"), ["sent_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sent_form", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sent_form_sent_at"))
    op.drop_table("sent_form")
