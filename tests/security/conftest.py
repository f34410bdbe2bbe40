"""The security tests run on the service tests' fixtures: ``db_url`` (SQLite and PostgreSQL) and ``api``
(the real app on a fresh database)."""

from __future__ import annotations

from security.svc_fixtures import api, db_url

__all__ = ["api", "db_url"]
