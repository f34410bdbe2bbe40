"""``nce admin import-shops --db URL FILE``: the shop registry from a site config, a shops YAML or a
CSV (:mod:`service.shop_import`); prints what was created, updated and left unchanged."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(inner: Any) -> None:
    imp = inner.add_parser(
        "import-shops",
        help="add or update shops (一店一码) from a site config, a shops YAML or a CSV",
        description=(
            "Add or update the shop registry from FILE: a site config (its shops: list), a YAML list "
            "of shops, or a CSV with a header (shop_id or id, name, code, license_no, address, "
            "contact). Every row is checked first: a bad row is named and nothing is imported. Each "
            "change is a ledger entry; running the same file again changes nothing."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    imp.add_argument("--db", default=None, help="database URL (default: the local SQLite, var/nce.sqlite3)")
    imp.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    imp.add_argument("file", type=Path, help="site config YAML, shops YAML or CSV")
    imp.set_defaults(func=_import_shops)


def _import_shops(args: argparse.Namespace) -> int:
    import json

    from service.accounts import cli_actor
    from service.cli.admin import with_session
    from service.shop_import import BadRows, import_shops, read_shops

    try:
        rows = read_shops(args.file)
    except BadRows as exc:
        if len(exc.lines) > 1:
            for line in exc.lines:
                print(line, file=sys.stderr)
        raise
    summary = with_session(args.db, lambda s: import_shops(s, rows=rows, actor=cli_actor()))
    if args.json:
        print(
            json.dumps(
                {"created": summary.created, "updated": summary.updated, "unchanged": summary.unchanged}
            )
        )
    else:
        print(f"{args.file}: {len(rows)} shop(s): {summary.line()}")
        for label, ids in (("created", summary.created), ("updated", summary.updated)):
            if ids:
                print(f"  {label}: {', '.join(ids)}")
    return 0
