"""outbound messages: the outbox of notice SMS and case-system webhooks

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbound_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("refusals", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(), nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("receipt", sa.String(length=16), nullable=True),
        sa.Column("receipt_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("target", "message_id", name="uq_outbound_target_message"),
    )
    op.create_index("ix_outbound_due", "outbound_messages", ["status", "next_at"])
    op.create_index("ix_outbound_messages_case_id", "outbound_messages", ["case_id"])
    op.create_index("ix_outbound_messages_message_id", "outbound_messages", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_outbound_messages_message_id", table_name="outbound_messages")
    op.drop_index("ix_outbound_messages_case_id", table_name="outbound_messages")
    op.drop_index("ix_outbound_due", table_name="outbound_messages")
    op.drop_table("outbound_messages")
