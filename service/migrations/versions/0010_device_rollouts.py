"""device rollouts: a model release assigned to a device (or its canary cameras), remote per-camera
settings, and the rollout state the device reports

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_rollouts",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("release_id", sa.String(length=128), nullable=True),
        sa.Column("canary_cameras", sa.JSON(), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("assigned_by", sa.String(length=100), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=True),
        sa.Column("why", sa.Text(), nullable=True),
        sa.Column("state_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("device_id"),
    )


def downgrade() -> None:
    op.drop_table("device_rollouts")
