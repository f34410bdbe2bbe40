"""The settings every ``nce serve`` replica must agree on, as the first replica recorded them
(:mod:`service.replica_settings`): a fingerprint (SHA-256) per setting, never the value."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from service.models import Base, utcnow


class ReplicaSetting(Base):
    __tablename__ = "replica_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
