"""frame pool: frames to learn from (samples, imports, reviewed cases) and their label history

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "frames",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("mime", sa.String(length=32), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("origin", sa.String(length=255), nullable=True),
        sa.Column("detections", sa.JSON(), nullable=False),
        sa.Column("taken_at", sa.DateTime(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("package_id", sa.String(length=128), nullable=True),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["hit_events.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256"),
    )
    with op.batch_alter_table("frames", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_frames_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_frames_taken_at"), ["taken_at"], unique=False)
        batch_op.create_index("ix_frames_status", ["status", "id"], unique=False)
        batch_op.create_index("ix_frames_camera", ["camera_id", "id"], unique=False)
    op.create_table(
        "frame_labels",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("frame_id", sa.Integer(), nullable=False),
        sa.Column("boxes", sa.JSON(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("how", sa.String(length=16), nullable=False),
        sa.Column("labelled_by", sa.String(length=100), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["frame_id"], ["frames.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("frame_labels", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_frame_labels_frame_id"), ["frame_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("frame_labels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_frame_labels_frame_id"))
    op.drop_table("frame_labels")
    with op.batch_alter_table("frames", schema=None) as batch_op:
        batch_op.drop_index("ix_frames_camera")
        batch_op.drop_index("ix_frames_status")
        batch_op.drop_index(batch_op.f("ix_frames_taken_at"))
        batch_op.drop_index(batch_op.f("ix_frames_case_id"))
    op.drop_table("frames")
