"""custodians' key pairs; identities sealed to them; reveals and name releases

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "custodian",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("locked_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", intake.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["staff_account.id"],
            name=op.f("fk_custodian_account_id_staff_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custodian")),
        sa.UniqueConstraint("account_id", name=op.f("uq_custodian_account_id")),
    )
    op.create_table(
        "identity_seal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("custodian_id", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["custodian_id"], ["custodian.id"], name=op.f("fk_identity_seal_custodian_id_custodian")
        ),
        sa.ForeignKeyConstraint(
            ["identity_id"], ["identity.id"], name=op.f("fk_identity_seal_identity_id_identity")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_seal")),
    )
    op.create_index(
        "ix_identity_seal_identity_custodian",
        "identity_seal",
        ["identity_id", "custodian_id"],
        unique=True,
    )
    op.create_index(
        op.f("ix_identity_seal_custodian_id"), "identity_seal", ["custodian_id"], unique=False
    )
    op.create_table(
        "identity_reveal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("testimony_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("reason_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("at", intake.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["staff_account.id"],
            name=op.f("fk_identity_reveal_account_id_staff_account"),
        ),
        sa.ForeignKeyConstraint(
            ["testimony_id"],
            ["testimony.id"],
            name=op.f("fk_identity_reveal_testimony_id_testimony"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_reveal")),
    )
    op.create_index(
        op.f("ix_identity_reveal_testimony_id"), "identity_reveal", ["testimony_id"], unique=False
    )
    op.create_table(
        "name_release",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("testimony_id", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("released_at", intake.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["staff_account.id"],
            name=op.f("fk_name_release_account_id_staff_account"),
        ),
        sa.ForeignKeyConstraint(
            ["testimony_id"], ["testimony.id"], name=op.f("fk_name_release_testimony_id_testimony")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_name_release")),
        sa.UniqueConstraint("testimony_id", name=op.f("uq_name_release_testimony_id")),
    )
    # The identity key waits wrapped for the archive only until the first custodian exists.
    with op.batch_alter_table("identity") as batch:
        batch.alter_column("wrapped_key", existing_type=sa.LargeBinary(length=64), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("identity") as batch:
        batch.alter_column("wrapped_key", existing_type=sa.LargeBinary(length=64), nullable=False)
    op.drop_table("name_release")
    op.drop_index(op.f("ix_identity_reveal_testimony_id"), table_name="identity_reveal")
    op.drop_table("identity_reveal")
    op.drop_index(op.f("ix_identity_seal_custodian_id"), table_name="identity_seal")
    op.drop_index("ix_identity_seal_identity_custodian", table_name="identity_seal")
    op.drop_table("identity_seal")
    op.drop_table("custodian")
