"""questions to a submitter through the receipt code, and their answers; the public key the
code derives for them

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("testimony") as batch_op:
        batch_op.add_column(sa.Column("message_key", sa.LargeBinary(length=32), nullable=True))
    op.create_table(
        "question",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("testimony_id", sa.Integer(), nullable=False),
        sa.Column("asked_by", sa.Integer(), nullable=False),
        sa.Column("asked_at", intake.models.UTCDateTime(), nullable=False),
        sa.Column("for_archive", sa.LargeBinary(), nullable=False),
        sa.Column("for_submitter", sa.LargeBinary(), nullable=True),
        sa.Column("answered_at", intake.models.UTCDateTime(), nullable=True),
        sa.Column("answer", sa.LargeBinary(), nullable=True),
        sa.Column("answer_audio", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["testimony_id"], ["testimony.id"], name=op.f("fk_question_testimony_id_testimony")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_question")),
    )
    op.create_index(op.f("ix_question_testimony_id"), "question", ["testimony_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_question_testimony_id"), table_name="question")
    op.drop_table("question")
    with op.batch_alter_table("testimony") as batch_op:
        batch_op.drop_column("message_key")
