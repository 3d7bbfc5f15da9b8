"""Redaction marks on segment text (offsets and times only), and each segment's word
probabilities in clear for the queue's share of low-confidence words.

Segments stored before this revision keep a NULL `word_probabilities` (their words are sealed
and a migration holds no key); the queue counts them from the next save.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import intake.models

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("segment") as batch:
        batch.add_column(sa.Column("word_probabilities", sa.JSON(), nullable=True))
    op.create_table(
        "redaction_mark",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("testimony_id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("char_start", sa.Integer(), nullable=False),
        sa.Column("char_end", sa.Integer(), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
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
            ["segment_id"], ["segment.id"], name=op.f("fk_redaction_mark_segment_id_segment")
        ),
        sa.ForeignKeyConstraint(
            ["testimony_id"],
            ["testimony.id"],
            name=op.f("fk_redaction_mark_testimony_id_testimony"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redaction_mark")),
    )
    with op.batch_alter_table("redaction_mark") as batch:
        batch.create_index(batch.f("ix_redaction_mark_segment_id"), ["segment_id"], unique=False)
        batch.create_index(
            batch.f("ix_redaction_mark_testimony_id"), ["testimony_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("redaction_mark") as batch:
        batch.drop_index(batch.f("ix_redaction_mark_testimony_id"))
        batch.drop_index(batch.f("ix_redaction_mark_segment_id"))
    op.drop_table("redaction_mark")
    with op.batch_alter_table("segment") as batch:
        batch.drop_column("word_probabilities")
