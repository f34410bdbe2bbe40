"""``nce admin webhooks status --db URL``: the outbox's messages (notice SMS and case-system webhooks)
pending, delivered and poisoned per target; ``nce admin webhooks retry-poisoned --db URL [--target
NAME]``: put poisoned messages back to pending (a ledger entry), for the running service's worker to
send again."""

from __future__ import annotations

import argparse
import json
from typing import Any

DB_HELP = "database URL (default: the local SQLite, var/nce.sqlite3)"


def register(inner: Any) -> None:
    p = inner.add_parser("webhooks", help="the outbox: notice messages and case-system webhooks")
    sub = p.add_subparsers(dest="webhooks_command", metavar="ACTION")
    sub.required = True
    st = sub.add_parser("status", help="pending, delivered and poisoned messages per target (a table)")
    st.add_argument("--db", default=None, help=DB_HELP)
    st.add_argument("--json", action="store_true", help="one JSON object per target")
    st.set_defaults(func=_status)
    rt = sub.add_parser("retry-poisoned", help="send poisoned messages again (the service's worker does)")
    rt.add_argument("--db", default=None, help=DB_HELP)
    rt.add_argument("--target", default=None, help="only this target's (default: every target's)")
    rt.set_defaults(func=_retry)


def _status(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from service.cli.admin import with_session
    from service.outbox.admin import counts

    rows = with_session(args.db, counts)
    if args.json:
        for r in rows:
            print(json.dumps(r.__dict__))
        return 0
    table = Table(title="outbound messages")
    for col in ("target", "kind", "pending", "delivered", "poisoned"):
        table.add_column(col, justify="right" if col not in ("target", "kind") else "left")
    for r in rows:
        table.add_row(r.target, r.kind, str(r.pending), str(r.delivered), str(r.poisoned))
    Console().print(table if rows else "no outbound messages yet")
    return 0


def _retry(args: argparse.Namespace) -> int:
    from service.accounts import cli_actor
    from service.cli.admin import with_session
    from service.outbox.admin import retry_poisoned

    n = with_session(args.db, lambda s: retry_poisoned(s, target=args.target, actor=cli_actor()))
    where = f" of {args.target}" if args.target else ""
    print(f"{n} poisoned message(s){where} back to pending; the running service sends them again")
    return 0
