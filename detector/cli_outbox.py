"""``nce outbox status|retry-poisoned --config FILE``: what the edge still owes the service."""

from __future__ import annotations

import argparse
from typing import Any

from detector.config import load_site_config
from detector.outbox import Outbox


def register(sub: Any) -> None:
    parser = sub.add_parser("outbox", help="the edge outbox (store-and-forward to the service)")
    inner = parser.add_subparsers(dest="outbox_command", metavar="ACTION")
    inner.required = True
    status = inner.add_parser("status", help="pending, delivered and poisoned items")
    status.add_argument("--config", required=True, help="site config YAML")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(func=_status)
    retry = inner.add_parser("retry-poisoned", help="queue poisoned items again")
    retry.add_argument("--config", required=True, help="site config YAML")
    retry.set_defaults(func=_retry)


def _open(config_file: str) -> Outbox:
    return Outbox(load_site_config(config_file).outbox_path())


def _status(args: argparse.Namespace) -> int:
    box = _open(args.config)
    st = box.status()
    if args.json:
        print(st.model_dump_json())
        return 0
    oldest = "—" if st.oldest_pending_s is None else f"{st.oldest_pending_s:.0f} s"
    print(f"outbox {box.path}")
    print(f"  pending:   {st.pending} (oldest {oldest})")
    print(f"  delivered: {st.delivered}")
    print(f"  poisoned:  {st.poisoned}")
    for item in box.items("poisoned"):
        print(f"    seq {item.seq} {item.kind} {item.hit_id} {item.event}: {item.last_error}")
    return 0


def _retry(args: argparse.Namespace) -> int:
    count = _open(args.config).retry_poisoned()
    print(f"{count} poisoned item(s) queued again")
    return 0
