"""fleet health: the latest heartbeat of each device and camera, and hit events flagged for the
device's clock

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_health",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("offset_ms", sa.Integer(), nullable=False),
        sa.Column("error_ms", sa.Integer(), nullable=True),
        sa.Column("clock_ok", sa.Boolean(), nullable=False),
        sa.Column("clock_changed_at", sa.DateTime(), nullable=True),
        sa.Column("clock_changed_offset_ms", sa.Integer(), nullable=True),
        sa.Column("heartbeats", sa.Integer(), nullable=False),
        sa.Column("down", sa.Boolean(), nullable=False),
        sa.Column("down_since", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["devices.device_id"]),
        sa.PrimaryKeyConstraint("device_id"),
    )
    op.create_table(
        "camera_health",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("since", sa.DateTime(), nullable=False),
        sa.Column("state_at", sa.DateTime(), nullable=False),
        sa.Column("fps", sa.Float(), nullable=False),
        sa.Column("reconnects", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("down", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.device_id"]),
        sa.PrimaryKeyConstraint("device_id", "camera_id"),
    )
    with op.batch_alter_table("hit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clock_offset_ms", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hit_events", schema=None) as batch_op:
        batch_op.drop_column("clock_offset_ms")
    op.drop_table("camera_health")
    op.drop_table("device_health")
