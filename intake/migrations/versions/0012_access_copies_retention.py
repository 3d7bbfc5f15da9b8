"""redacted access copies, voice disguise per record, retention settings

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _jobkind(*values: str) -> sa.Enum:
    return sa.Enum(*values, name="jobkind", native_enum=False, create_constraint=True, length=32)


_OLD_KINDS = ("transcribe", "translate_draft")
_NEW_KINDS = (*_OLD_KINDS, "redact")


def upgrade() -> None:
    op.create_table(
        "access_copy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("testimony_id", sa.Integer(), nullable=False),
        sa.Column("audio_file_id", sa.Integer(), nullable=False),
        sa.Column("audio_name", sa.String(length=64), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("copy_sha256", sa.String(length=64), nullable=False),
        sa.Column("marks_sha256", sa.String(length=64), nullable=False),
        sa.Column("marks", sa.Integer(), nullable=False),
        sa.Column("removed_s", sa.Float(), nullable=False),
        sa.Column("disguised", sa.Boolean(), nullable=False),
        sa.Column("sealed_text", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", intake.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["audio_file_id"],
            ["audio_file.id"],
            name=op.f("fk_access_copy_audio_file_id_audio_file"),
        ),
        sa.ForeignKeyConstraint(
            ["testimony_id"], ["testimony.id"], name=op.f("fk_access_copy_testimony_id_testimony")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_copy")),
        sa.UniqueConstraint("audio_file_id", name=op.f("uq_access_copy_audio_file_id")),
    )
    with op.batch_alter_table("access_copy", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_access_copy_testimony_id"), ["testimony_id"], unique=False
        )
    op.create_table(
        "retention_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("original_days", sa.Integer(), nullable=False),
        sa.Column("drop_drafts", sa.Boolean(), nullable=False),
        sa.Column("tombstone_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", intake.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column("applied_at", intake.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_settings")),
    )
    with op.batch_alter_table("testimony", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("disguise_voice", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # The job kind's CHECK constraint lists the kinds: it gains "redact".
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.alter_column(
            "kind",
            existing_type=_jobkind(*_OLD_KINDS),
            type_=_jobkind(*_NEW_KINDS),
            existing_nullable=False,
        )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM job WHERE kind = 'redact'"))
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.alter_column(
            "kind",
            existing_type=_jobkind(*_NEW_KINDS),
            type_=_jobkind(*_OLD_KINDS),
            existing_nullable=False,
        )
    with op.batch_alter_table("testimony", schema=None) as batch_op:
        batch_op.drop_column("disguise_voice")
    op.drop_table("retention_settings")
    with op.batch_alter_table("access_copy", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_copy_testimony_id"))
    op.drop_table("access_copy")
