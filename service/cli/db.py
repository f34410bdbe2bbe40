"""``nce db upgrade|current --db URL``: schema migrations (Alembic)."""

from __future__ import annotations

import argparse
from typing import Any

from service.settings import default_db_url


def register(sub: Any) -> None:
    p = sub.add_parser("db", help="database schema migrations")
    inner = p.add_subparsers(dest="db_command", metavar="ACTION")
    inner.required = True
    up = inner.add_parser("upgrade", help="apply every migration (the service also does on start)")
    up.add_argument("--db", default=None, help="database URL (default: the service's SQLite file)")
    up.add_argument("--revision", default="head")
    up.set_defaults(func=_upgrade)
    cur = inner.add_parser("current", help="print the schema revision")
    cur.add_argument("--db", default=None)
    cur.set_defaults(func=_current)


def _upgrade(args: argparse.Namespace) -> int:
    from service.db import make_engine
    from service.migrate import current, upgrade

    engine = make_engine(args.db or default_db_url())
    upgrade(engine, args.revision)
    print(f"database at revision {current(engine)}")
    engine.dispose()
    return 0


def _current(args: argparse.Namespace) -> int:
    from service.db import make_engine
    from service.migrate import current

    engine = make_engine(args.db or default_db_url())
    print(current(engine) or "empty (no migration applied)")
    engine.dispose()
    return 0
