"""Redaction marks on translations (offsets and a category only), so an approved translation
is exported redacted rather than as placeholders.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import intake.models

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "translation_mark",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("testimony_id", sa.Integer(), nullable=False),
        sa.Column("translation_id", sa.Integer(), nullable=False),
        sa.Column("char_start", sa.Integer(), nullable=False),
        sa.Column("char_end", sa.Integer(), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "person",
                "place",
                "date",
                "other",
                name="redactioncategory",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", intake.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["testimony_id"],
            ["testimony.id"],
            name=op.f("fk_translation_mark_testimony_id_testimony"),
        ),
        sa.ForeignKeyConstraint(
            ["translation_id"],
            ["translation_segment.id"],
            name=op.f("fk_translation_mark_translation_id_translation_segment"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_translation_mark")),
    )
    with op.batch_alter_table("translation_mark") as batch:
        batch.create_index(
            batch.f("ix_translation_mark_testimony_id"), ["testimony_id"], unique=False
        )
        batch.create_index(
            batch.f("ix_translation_mark_translation_id"), ["translation_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("translation_mark") as batch:
        batch.drop_index(batch.f("ix_translation_mark_translation_id"))
        batch.drop_index(batch.f("ix_translation_mark_testimony_id"))
    op.drop_table("translation_mark")
