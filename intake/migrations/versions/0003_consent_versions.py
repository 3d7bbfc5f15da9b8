"""consent: anonymised audio as a use of its own; versions kept when a submitter narrows

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Consents given before this version never agreed to publishing any audio: false.
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "publish_anonymised_audio", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.add_column(
            sa.Column("version", sa.Integer(), nullable=False, server_default=sa.text("1"))
        )
        batch_op.add_column(
            sa.Column("changed_at", intake.models.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "consent_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("consent_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("wording_version", sa.String(length=32), nullable=False),
        sa.Column("wording_locale", sa.String(length=8), nullable=False),
        sa.Column("wording_sha256", sa.String(length=64), nullable=False),
        sa.Column("archive", sa.Boolean(), nullable=False),
        sa.Column("transcribe", sa.Boolean(), nullable=False),
        sa.Column("translate", sa.Boolean(), nullable=False),
        sa.Column("publish_anonymised", sa.Boolean(), nullable=False),
        sa.Column("publish_named", sa.Boolean(), nullable=False),
        sa.Column("publish_anonymised_audio", sa.Boolean(), nullable=False),
        sa.Column("embargo_until", sa.Date(), nullable=True),
        sa.Column("valid_from", intake.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("superseded_at", intake.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["consent_id"], ["consent.id"], name=op.f("fk_consent_version_consent_id_consent")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_version")),
    )
    with op.batch_alter_table("consent_version", schema=None) as batch_op:
        batch_op.create_index(
            "uq_consent_version_consent_id_version", ["consent_id", "version"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("consent_version", schema=None) as batch_op:
        batch_op.drop_index("uq_consent_version_consent_id_version")
    op.drop_table("consent_version")
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.drop_column("changed_at")
        batch_op.drop_column("version")
        batch_op.drop_column("publish_anonymised_audio")
