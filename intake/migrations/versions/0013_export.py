"""archival export: export runs, export jobs (a job that names no testimony)

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# After 0004_n, which admitted "redact".
_KINDS_BEFORE = ("transcribe", "translate_draft", "redact")
_KINDS_AFTER = (*_KINDS_BEFORE, "export")


def _kind_check(kinds: Sequence[str]) -> str:
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def upgrade() -> None:
    # The job kind is a VARCHAR with a CHECK: the check is rebuilt to admit "export".
    with op.batch_alter_table("job") as batch_op:
        batch_op.drop_constraint(op.f("ck_job_jobkind"), type_="check")
        batch_op.create_check_constraint("jobkind", _kind_check(_KINDS_AFTER))
        batch_op.alter_column("testimony_id", existing_type=sa.Integer(), nullable=True)
    op.create_table(
        "export_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("since", sa.Date(), nullable=True),
        sa.Column("pseudonyms", sa.JSON(), nullable=True),
        sa.Column("out_dir", sa.Text(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", intake.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", intake.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"], name=op.f("fk_export_run_job_id_job")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_run")),
        sa.UniqueConstraint("job_id", name=op.f("uq_export_run_job_id")),
    )


def downgrade() -> None:
    op.drop_table("export_run")
    op.execute("DELETE FROM job WHERE kind = 'export'")
    with op.batch_alter_table("job") as batch_op:
        batch_op.alter_column("testimony_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_constraint(op.f("ck_job_jobkind"), type_="check")
        batch_op.create_check_constraint("jobkind", _kind_check(_KINDS_BEFORE))
