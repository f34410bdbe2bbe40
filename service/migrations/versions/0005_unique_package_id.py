"""a device's package ids are unique

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service.db import DatabaseError

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    dup = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT device_id, package_id, COUNT(*) FROM hit_events WHERE package_id IS NOT NULL "
                "GROUP BY device_id, package_id HAVING COUNT(*) > 1 ORDER BY device_id, package_id"
            )
        )
        .all()
    )
    if dup:
        named = ", ".join(f"{d} {p} ({n}x)" for d, p, n in dup[:10])
        raise DatabaseError(
            f"hit_events: {len(dup)} package ids were used more than once by one device ({named}); "
            "a person must decide which row stays before package ids can be made unique"
        )
    op.create_index("uq_hit_events_device_package", "hit_events", ["device_id", "package_id"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_hit_events_device_package", table_name="hit_events")
