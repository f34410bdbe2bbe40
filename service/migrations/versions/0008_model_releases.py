"""model releases: signed model releases stored by the service

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "model_releases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("release_id", sa.String(length=128), nullable=False),
        sa.Column("model_sha256", sa.String(length=64), nullable=False),
        sa.Column("model_bytes", sa.Integer(), nullable=False),
        sa.Column("card_sha256", sa.String(length=64), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("signed", sa.JSON(), nullable=False),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.Column("ledger_seq", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("release_id"),
    )
    with op.batch_alter_table("model_releases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_releases_model_sha256"), ["model_sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("model_releases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_releases_model_sha256"))
    op.drop_table("model_releases")
