"""role grants waiting for a second admin, and the expiry of a one-time password

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROLES = ("reviewer", "translator", "archivist", "custodian", "admin")


def upgrade() -> None:
    with op.batch_alter_table("staff_account") as batch:
        batch.add_column(
            sa.Column(
                "one_time_expires_at", intake.models.UTCDateTime(timezone=True), nullable=True
            )
        )
    op.create_table(
        "role_grant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                *_ROLES,
                name="role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "confirmed",
                "cancelled",
                name="grantstate",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column("requested_at", intake.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", intake.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["staff_account.id"], name=op.f("fk_role_grant_account_id_staff_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_grant")),
    )
    with op.batch_alter_table("role_grant") as batch:
        batch.create_index(batch.f("ix_role_grant_account_id"), ["account_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("role_grant") as batch:
        batch.drop_index(batch.f("ix_role_grant_account_id"))
    op.drop_table("role_grant")
    with op.batch_alter_table("staff_account") as batch:
        batch.drop_column("one_time_expires_at")
