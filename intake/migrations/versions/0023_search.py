"""the blind search index: one row per approved segment or translation, its keyed tokens

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "search_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("testimony_id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=True),
        sa.Column("translation_segment_id", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column(
            "tokens",
            postgresql.ARRAY(sa.Integer()).with_variant(sa.JSON(), "sqlite"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["segment.id"],
            name=op.f("fk_search_entry_segment_id_segment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["testimony_id"],
            ["testimony.id"],
            name=op.f("fk_search_entry_testimony_id_testimony"),
        ),
        sa.ForeignKeyConstraint(
            ["translation_segment_id"],
            ["translation_segment.id"],
            name=op.f("fk_search_entry_translation_segment_id_translation_segment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_entry")),
    )
    op.create_index(
        op.f("ix_search_entry_testimony_id"), "search_entry", ["testimony_id"], unique=False
    )
    if op.get_bind().dialect.name == "postgresql":
        # GIN answers `tokens @> ARRAY[...]` from the index; SQLite has none to offer.
        op.create_index(
            "ix_search_entry_tokens", "search_entry", ["tokens"], postgresql_using="gin"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_search_entry_tokens", table_name="search_entry")
    op.drop_index(op.f("ix_search_entry_testimony_id"), table_name="search_entry")
    op.drop_table("search_entry")
