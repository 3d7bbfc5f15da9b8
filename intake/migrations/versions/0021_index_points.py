"""Index points: a time in one recording with its sealed title, synopsis, keywords and
subjects, under four eyes, for the OHMS index.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "index_point",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("testimony_id", sa.Integer(), nullable=False),
        sa.Column("audio_file_id", sa.Integer(), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "machine",
                "edited",
                "approved",
                name="reviewstate",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("edited_by", sa.String(length=64), nullable=True),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", intake.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", intake.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["testimony_id"],
            ["testimony.id"],
            name=op.f("fk_index_point_testimony_id_testimony"),
        ),
        sa.ForeignKeyConstraint(
            ["audio_file_id"],
            ["audio_file.id"],
            name=op.f("fk_index_point_audio_file_id_audio_file"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_index_point")),
    )
    with op.batch_alter_table("index_point") as batch:
        batch.create_index(batch.f("ix_index_point_testimony_id"), ["testimony_id"], unique=False)
        batch.create_index(batch.f("ix_index_point_audio_file_id"), ["audio_file_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("index_point") as batch:
        batch.drop_index(batch.f("ix_index_point_audio_file_id"))
        batch.drop_index(batch.f("ix_index_point_testimony_id"))
    op.drop_table("index_point")
