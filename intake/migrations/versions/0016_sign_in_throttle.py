"""sign-in throttle: failed attempts per bucket (untrusted browsers per email, device cookies,
custodian passphrases), named by keyed hashes

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_throttle",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.LargeBinary(length=32), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", intake.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", intake.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_throttle")),
        sa.UniqueConstraint("bucket", name=op.f("uq_sign_in_throttle_bucket")),
    )
    op.create_index(
        op.f("ix_sign_in_throttle_updated_at"), "sign_in_throttle", ["updated_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sign_in_throttle_updated_at"), table_name="sign_in_throttle")
    op.drop_table("sign_in_throttle")
