"""``nce ledger verify --db URL``: recompute the ledger's hash chain (and, with ``--checkpoint``, check
the log and ledger against a signed checkpoint: :mod:`service.cli_checkpoint`, which also adds
``nce ledger checkpoint`` and ``nce ledger publish-key``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from service import cli_checkpoint
from service.settings import default_db_url


def register(sub: Any) -> None:
    p = sub.add_parser("ledger", help="the hash-chained ledger")
    inner = p.add_subparsers(dest="ledger_command", metavar="ACTION")
    inner.required = True
    v = inner.add_parser("verify", help="recompute the chain; exit 1 naming the first broken entry")
    v.add_argument("--db", default=None)
    v.add_argument("--json", action="store_true", help="print one JSON object")
    cli_checkpoint.add_verify_options(v)
    v.set_defaults(func=_verify)
    cli_checkpoint.add_actions(inner)


def _verify(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from service import ledger
    from service.db import DatabaseError, make_engine, make_sessionmaker

    engine = make_engine(args.db or default_db_url())
    try:
        with make_sessionmaker(engine)() as session:
            r = ledger.verify(session)
            cp_problems = cli_checkpoint.checkpoint_problems(args, session) if args.checkpoint else []
    except SQLAlchemyError as exc:
        raise DatabaseError(
            f"cannot read the ledger: {type(exc).__name__}: {str(exc).splitlines()[0]}"
        ) from exc
    finally:
        engine.dispose()
    if args.json:
        print(
            json.dumps(
                {
                    "ok": r.ok,
                    "entries": r.entries,
                    "head_hash": r.head_hash,
                    "first_broken_seq": r.first_broken_seq,
                    "reason": r.reason,
                    **({"checkpoint_problems": cp_problems} if args.checkpoint else {}),
                }
            )
        )
    elif r.ok:
        print(f"ledger OK: {r.entries} entries, head {r.head_hash}")
    else:
        print(
            f"ledger BROKEN at entry {r.first_broken_seq}: {r.reason} ({r.entries} entries verified before it)"
        )
    if not args.json:
        for line in cp_problems:
            print(f"checkpoint MISMATCH: {line}")
        if args.checkpoint and not cp_problems:
            print(f"log and ledger match the checkpoint {args.checkpoint}")
    return 0 if r.ok and not cp_problems else 1
