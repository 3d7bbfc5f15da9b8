"""The event log becomes a hash chain: seq, prev_hash and hash on every event, and a head row;
staff events carry the acting account's id.

Existing events are chained in the order they were written (by id).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from intake.records import audit

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("event") as batch:
        batch.add_column(sa.Column("account_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    conn = op.get_bind()
    event = sa.table(
        "event",
        sa.column("id", sa.Integer()),
        sa.column("testimony_id", sa.Integer()),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("actor", sa.String()),
        sa.column("action", sa.String()),
        sa.column("from_state", sa.String()),
        sa.column("to_state", sa.String()),
        sa.column("detail", sa.JSON()),
        sa.column("seq", sa.Integer()),
        sa.column("prev_hash", sa.String()),
        sa.column("hash", sa.String()),
    )
    seq, prev = 0, audit.GENESIS
    for row in conn.execute(sa.select(event).order_by(event.c.id)).mappings():
        seq += 1
        at = audit.as_utc(row["at"])
        digest = audit.entry_hash(
            seq=seq,
            prev_hash=prev,
            testimony_id=row["testimony_id"],
            at=at,
            actor=row["actor"],
            action=row["action"],
            from_state=row["from_state"],
            to_state=row["to_state"],
            detail=row["detail"],
        )
        conn.execute(
            event.update()
            .where(event.c.id == row["id"])
            .values(seq=seq, prev_hash=prev, hash=digest)
        )
        prev = digest
    conn.execute(
        sa.table(
            "audit_head",
            sa.column("id", sa.Integer()),
            sa.column("seq", sa.Integer()),
            sa.column("hash", sa.String()),
        ).insert(),
        [{"id": 1, "seq": seq, "hash": prev}],
    )
    with op.batch_alter_table("event") as batch:
        batch.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
        batch.create_unique_constraint(batch.f("uq_event_seq"), ["seq"])


def downgrade() -> None:
    op.drop_table("audit_head")
    with op.batch_alter_table("event") as batch:
        batch.drop_constraint(batch.f("uq_event_seq"), type_="unique")
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
        batch.drop_column("seq")
        batch.drop_column("account_id")
