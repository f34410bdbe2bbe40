"""Schema migrations: ``upgrade(engine)`` brings a database to the newest revision (Alembic)."""

from __future__ import annotations

import logging
from pathlib import Path

# alembic logs each plugin it sets up (when imported) and each step at INFO: keep the log about NCE
logging.getLogger("alembic").setLevel(logging.WARNING)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from sqlalchemy import Engine  # noqa: E402
from sqlalchemy.exc import SQLAlchemyError  # noqa: E402

from service.db import DatabaseError  # noqa: E402

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
log = logging.getLogger(__name__)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration up to ``revision`` on ``engine``'s database."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    before = current(engine)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"migration failed on {engine.url!r}: {exc}") from exc
    after = current(engine)
    if after != before:
        log.info("database migrated from %s to %s", before or "empty", after)


def current(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
