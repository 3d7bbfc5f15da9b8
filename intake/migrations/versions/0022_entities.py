"""the entity register: people, prisons, places, organisations and dates (names sealed), and
their citations in testimonies

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = ("person", "prison", "place", "organisation", "date")


def upgrade() -> None:
    op.create_table(
        "entity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                *_KINDS, name="entitykind", native_enum=False, create_constraint=True, length=32
            ),
            nullable=False,
        ),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("glossary_term_id", sa.Integer(), nullable=True),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("origin_testimony_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", intake.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", intake.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["glossary_term_id"],
            ["glossary_term.id"],
            name=op.f("fk_entity_glossary_term_id_glossary_term"),
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["entity.id"], name=op.f("fk_entity_merged_into_id_entity")
        ),
        sa.ForeignKeyConstraint(
            ["origin_testimony_id"],
            ["testimony.id"],
            name=op.f("fk_entity_origin_testimony_id_testimony"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entity")),
        sa.UniqueConstraint("glossary_term_id", name=op.f("uq_entity_glossary_term_id")),
    )
    op.create_index(op.f("ix_entity_kind"), "entity", ["kind"], unique=False)
    op.create_index(op.f("ix_entity_merged_into_id"), "entity", ["merged_into_id"], unique=False)
    op.create_index(
        op.f("ix_entity_origin_testimony_id"), "entity", ["origin_testimony_id"], unique=False
    )
    op.create_table(
        "entity_citation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("testimony_id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=True),
        sa.Column("index_point_id", sa.Integer(), nullable=True),
        sa.Column("redaction_mark_id", sa.Integer(), nullable=True),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", intake.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entity_id"], ["entity.id"], name=op.f("fk_entity_citation_entity_id_entity")
        ),
        sa.ForeignKeyConstraint(
            ["testimony_id"],
            ["testimony.id"],
            name=op.f("fk_entity_citation_testimony_id_testimony"),
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"], ["segment.id"], name=op.f("fk_entity_citation_segment_id_segment")
        ),
        sa.ForeignKeyConstraint(
            ["index_point_id"],
            ["index_point.id"],
            name=op.f("fk_entity_citation_index_point_id_index_point"),
        ),
        sa.ForeignKeyConstraint(
            ["redaction_mark_id"],
            ["redaction_mark.id"],
            name=op.f("fk_entity_citation_redaction_mark_id_redaction_mark"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entity_citation")),
    )
    for column in (
        "entity_id",
        "testimony_id",
        "segment_id",
        "index_point_id",
        "redaction_mark_id",
    ):
        op.create_index(
            op.f(f"ix_entity_citation_{column}"), "entity_citation", [column], unique=False
        )


def downgrade() -> None:
    for column in (
        "entity_id",
        "testimony_id",
        "segment_id",
        "index_point_id",
        "redaction_mark_id",
    ):
        op.drop_index(op.f(f"ix_entity_citation_{column}"), table_name="entity_citation")
    op.drop_table("entity_citation")
    op.drop_index(op.f("ix_entity_origin_testimony_id"), table_name="entity")
    op.drop_index(op.f("ix_entity_merged_into_id"), table_name="entity")
    op.drop_index(op.f("ix_entity_kind"), table_name="entity")
    op.drop_table("entity")
