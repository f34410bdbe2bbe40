"""``nce dataset export --db URL --evidence-dir DIR --out DIR``: the frame pool as an Ultralytics
dataset (:mod:`service.datasets`: data.yaml, images, labels, provenance.jsonl; split by camera and
day; byte-identical for the same database)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from service.cli.evidence_gc import add_store_options, store_from
from service.settings import default_db_url


def register(sub: Any) -> None:
    p = sub.add_parser("dataset", help="datasets from the frame pool")
    inner = p.add_subparsers(dest="dataset_command", metavar="ACTION")
    inner.required = True
    ex = inner.add_parser(
        "export", help="write the labelled frames as an Ultralytics dataset (train/val by camera and day)"
    )
    ex.add_argument("--db", default=None, help="database URL (default: the service's SQLite file)")
    add_store_options(ex)
    ex.add_argument("--out", required=True, help="a new or empty folder")
    ex.add_argument(
        "--since", default=None, help="only frames taken on or after this date (or time with an offset)"
    )
    ex.add_argument(
        "--val-fraction", type=float, default=0.2, help="share of (camera, day) groups held out for val"
    )
    ex.add_argument(
        "--include-partial",
        action="store_true",
        help="also frames whose labels are not complete (e.g. only a review's box; other objects unverified)",
    )
    ex.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    ex.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from service.cli.frames import parse_when
    from service.datasets import export_dataset
    from service.db import DatabaseError, make_engine, make_sessionmaker

    since = parse_when(args.since, "--since") if args.since else None
    store = store_from(args.evidence_dir, args.evidence_url)
    engine = make_engine(args.db or default_db_url())
    try:
        with make_sessionmaker(engine)() as session:
            summary = export_dataset(
                session,
                store=store,
                out=Path(args.out),
                since=since,
                val_fraction=args.val_fraction,
                include_partial=args.include_partial,
            )
    except SQLAlchemyError as exc:
        raise DatabaseError(
            f"cannot read the frame pool: {type(exc).__name__}: {str(exc).splitlines()[0]}"
        ) from exc
    finally:
        engine.dispose()
    print(json.dumps(summary.as_dict(), ensure_ascii=False) if args.json else summary.line())
    return 0
