"""transparency log: leaves (one per accepted package) and signed checkpoints

Existing packages are logged in the order they were accepted (hit_events.id), with their
hit_events.received_at, so that exports of older cases carry inclusion proofs too.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from nce.times import utc_ms
from nce.transparency import LogLeaf

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    leaves = op.create_table(
        "transparency_leaves",
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("leaf_hash", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("manifest_hash", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.String(length=24), nullable=False),
        sa.PrimaryKeyConstraint("idx"),
        sa.UniqueConstraint("manifest_hash"),
    )
    op.create_table(
        "transparency_checkpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tree_size", sa.Integer(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("ledger_seq", sa.Integer(), nullable=False),
        sa.Column("ledger_head_hash", sa.String(length=64), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("signed", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    _backfill(leaves)


def _backfill(leaves: sa.Table) -> None:
    events = sa.table(
        "hit_events",
        sa.column("id", sa.Integer()),
        sa.column("device_id", sa.String()),
        sa.column("manifest_hash", sa.String()),
        sa.column("manifest", sa.JSON()),
        sa.column("received_at", sa.DateTime()),
    )
    rows = op.get_bind().execute(
        sa.select(events.c.device_id, events.c.manifest_hash, events.c.manifest, events.c.received_at)
        .where(events.c.manifest_hash.is_not(None))
        .order_by(events.c.id)
    )
    batch = []
    for idx, (device_id, m_hash, manifest, received_at) in enumerate(rows):
        leaf = LogLeaf(
            device_id=device_id,
            sequence=int(manifest["sequence"]),
            manifest_hash=m_hash,
            received_at=utc_ms(received_at.replace(tzinfo=dt.UTC)),  # stored naive UTC
        )
        batch.append(
            {
                "idx": idx,
                "leaf_hash": leaf.hash().hex(),
                "device_id": leaf.device_id,
                "sequence": leaf.sequence,
                "manifest_hash": leaf.manifest_hash,
                "received_at": leaf.received_at,
            }
        )
    if batch:
        op.bulk_insert(leaves, batch)


def downgrade() -> None:
    op.drop_table("transparency_checkpoints")
    op.drop_table("transparency_leaves")
