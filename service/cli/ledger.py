"""``nce ledger verify --db URL``: recompute the ledger's hash chain and replay it against the tables
(and, with ``--checkpoint``, check the log and ledger against a signed checkpoint:
:mod:`service.cli.checkpoint`, which also adds ``nce ledger checkpoint`` and ``nce ledger publish-key``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from service.cli import checkpoint
from service.settings import default_db_url


def register(sub: Any) -> None:
    p = sub.add_parser("ledger", help="the hash-chained ledger")
    inner = p.add_subparsers(dest="ledger_command", metavar="ACTION")
    inner.required = True
    v = inner.add_parser(
        "verify",
        help="recompute the chain and replay it into the state of every case and shop; exit 1 naming "
        "the first broken entry and every difference from the tables",
    )
    v.add_argument("--db", default=None)
    v.add_argument("--json", action="store_true", help="print one JSON object")
    checkpoint.add_verify_options(v)
    v.set_defaults(func=_verify)
    checkpoint.add_actions(inner)


def _verify(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from service import ledger, ledger_replay
    from service.db import DatabaseError, make_engine, make_sessionmaker

    engine = make_engine(args.db or default_db_url())
    try:
        with make_sessionmaker(engine)() as session:
            r = ledger.verify(session)
            state = ledger_replay.replay(session)
            cp_problems = checkpoint.checkpoint_problems(args, session) if args.checkpoint else []
    except SQLAlchemyError as exc:
        raise DatabaseError(
            f"cannot read the ledger: {type(exc).__name__}: {str(exc).splitlines()[0]}"
        ) from exc
    finally:
        engine.dispose()
    ok = r.ok and state.ok and not cp_problems
    if args.json:
        print(
            json.dumps(
                {
                    "ok": ok,
                    "entries": r.entries,
                    "head_hash": r.head_hash,
                    "first_broken_seq": r.first_broken_seq,
                    "reason": r.reason if not r.ok else ledger_replay.summary(state),
                    "chain_ok": r.ok,
                    "state_ok": state.ok,
                    "cases": state.cases,
                    "packages": state.packages,
                    "shops": state.shops,
                    "differences": [d.message for d in state.differences],
                    "unchecked": state.unchecked,
                    **({"checkpoint_problems": cp_problems} if args.checkpoint else {}),
                },
                ensure_ascii=False,
            )
        )
        return 0 if ok else 1
    if r.ok:
        print(f"ledger OK: {r.entries} entries, head {r.head_hash}")
    else:
        print(
            f"ledger BROKEN at entry {r.first_broken_seq}: {r.reason} ({r.entries} entries verified before it)"
        )
    for d in state.differences:
        print(d.message)
    for line in state.unchecked:
        print(f"not checked: {line}")
    counts = (
        f"{state.cases} cases, {state.packages} packages, {state.events} plain events, {state.shops} shops"
    )
    if state.ok:
        print(f"tables OK: {counts} agree with the ledger")
    else:
        n = len(state.differences)
        print(f"tables DIFFER from the ledger: {n} difference{'s' if n != 1 else ''} ({counts})")
    for line in cp_problems:
        print(f"checkpoint MISMATCH: {line}")
    if args.checkpoint and not cp_problems:
        print(f"log and ledger match the checkpoint {args.checkpoint}")
    return 0 if ok else 1
