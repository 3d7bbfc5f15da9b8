"""aligned words of reviewed segments, redaction proofs, marks widened by ear, align jobs

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS_BEFORE = ("transcribe", "translate_draft", "redact", "export")
_KINDS_AFTER = (*_KINDS_BEFORE, "align")


def _kind_check(kinds: Sequence[str]) -> str:
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def upgrade() -> None:
    with op.batch_alter_table("job") as batch_op:
        batch_op.drop_constraint(op.f("ck_job_jobkind"), type_="check")
        batch_op.create_check_constraint("jobkind", _kind_check(_KINDS_AFTER))
    with op.batch_alter_table("redaction_mark") as batch_op:
        batch_op.add_column(
            sa.Column("pad_before_s", sa.Float(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("pad_after_s", sa.Float(), server_default="0", nullable=False)
        )
    op.create_table(
        "segment_alignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("testimony_id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("created_at", intake.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["segment_id"], ["segment.id"], name=op.f("fk_segment_alignment_segment_id_segment")
        ),
        sa.ForeignKeyConstraint(
            ["testimony_id"],
            ["testimony.id"],
            name=op.f("fk_segment_alignment_testimony_id_testimony"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_alignment")),
        sa.UniqueConstraint("segment_id", name=op.f("uq_segment_alignment_segment_id")),
    )
    with op.batch_alter_table("segment_alignment") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_segment_alignment_testimony_id"), ["testimony_id"], unique=False
        )
    op.create_table(
        "redaction_proof",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("testimony_id", sa.Integer(), nullable=False),
        sa.Column("audio_file_id", sa.Integer(), nullable=False),
        sa.Column("copy_sha256", sa.String(length=64), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("spans", sa.JSON(), nullable=False),
        sa.Column("threshold_dbfs", sa.Float(), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("created_at", intake.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["audio_file_id"],
            ["audio_file.id"],
            name=op.f("fk_redaction_proof_audio_file_id_audio_file"),
        ),
        sa.ForeignKeyConstraint(
            ["testimony_id"],
            ["testimony.id"],
            name=op.f("fk_redaction_proof_testimony_id_testimony"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redaction_proof")),
        sa.UniqueConstraint("audio_file_id", name=op.f("uq_redaction_proof_audio_file_id")),
    )
    with op.batch_alter_table("redaction_proof") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_redaction_proof_testimony_id"), ["testimony_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("redaction_proof")
    op.drop_table("segment_alignment")
    with op.batch_alter_table("redaction_mark") as batch_op:
        batch_op.drop_column("pad_after_s")
        batch_op.drop_column("pad_before_s")
    op.execute("DELETE FROM job WHERE kind = 'align'")
    with op.batch_alter_table("job") as batch_op:
        batch_op.drop_constraint(op.f("ck_job_jobkind"), type_="check")
        batch_op.create_check_constraint("jobkind", _kind_check(_KINDS_BEFORE))
