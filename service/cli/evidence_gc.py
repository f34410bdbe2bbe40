"""``nce admin gc-evidence --db URL [--evidence-dir DIR | --evidence-url s3://bucket/prefix]
[--older-than HOURS] [--dry-run]``: remove the evidence objects no row names (uploads whose commit
failed), never one younger than the grace period (:mod:`service.evidence_gc`)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.errors import Invalid

if TYPE_CHECKING:
    from service.evidence_store import EvidenceStore


def register(inner: Any) -> None:
    from service.evidence_gc import DEFAULT_GRACE_HOURS

    p = inner.add_parser(
        "gc-evidence",
        help="remove evidence objects that no row names (uploads whose commit failed), "
        f"older than a grace period (default {DEFAULT_GRACE_HOURS:g} h)",
    )
    p.add_argument("--db", default=None, help="database URL (default sqlite:///var/nce.sqlite3)")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--evidence-dir", default=None, help="local store (default NCE_EVIDENCE_DIR, var/evidence)"
    )
    where.add_argument(
        "--evidence-url",
        default=None,
        help="S3-compatible store s3://bucket/prefix (default NCE_EVIDENCE_URL; endpoint NCE_S3_ENDPOINT "
        "or AWS_ENDPOINT_URL; credentials AWS_*)",
    )
    p.add_argument(
        "--older-than",
        type=float,
        default=DEFAULT_GRACE_HOURS,
        metavar="HOURS",
        help="grace period: younger objects are kept (an upload precedes its commit)",
    )
    p.add_argument("--dry-run", action="store_true", help="only report what would be removed")
    p.set_defaults(func=_gc)


def add_store_options(p: Any) -> None:
    """``--evidence-dir`` | ``--evidence-url``: the service's evidence store, for a command."""
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--evidence-dir",
        default=None,
        help="the service's evidence folder (default NCE_EVIDENCE_DIR, var/evidence)",
    )
    where.add_argument(
        "--evidence-url",
        default=None,
        help="or its S3-compatible store s3://bucket/prefix (default NCE_EVIDENCE_URL; endpoint "
        "NCE_S3_ENDPOINT or AWS_ENDPOINT_URL; credentials AWS_*)",
    )


def store_from(
    evidence_dir: str | Path | None, evidence_url: str | None, *, create: bool = False
) -> EvidenceStore:
    """The store a command names: ``--evidence-url``, ``--evidence-dir``, then NCE_EVIDENCE_URL,
    NCE_EVIDENCE_DIR, the default folder (made when ``create``). Checked (reachable) before it is
    returned."""
    from service.evidence_store import LocalEvidenceStore
    from service.settings import DEFAULT_EVIDENCE_DIR

    url = evidence_url or (None if evidence_dir else os.environ.get("NCE_EVIDENCE_URL"))
    store: EvidenceStore
    if url:
        from service.evidence_s3 import S3EvidenceStore, parse_url

        try:
            parse_url(url)
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        store = S3EvidenceStore.from_url(url, endpoint=os.environ.get("NCE_S3_ENDPOINT"))
    else:
        folder = Path(evidence_dir or os.environ.get("NCE_EVIDENCE_DIR") or DEFAULT_EVIDENCE_DIR)
        if not create and not folder.is_dir():
            raise Invalid(f"--evidence-dir {folder}: no such folder")
        store = LocalEvidenceStore(folder)
    store.check()
    return store


def _gc(args: argparse.Namespace) -> int:
    from rich.console import Console

    from service.cli.admin import with_session
    from service.evidence_gc import GcResult, collect

    if not args.older_than >= 0:
        raise Invalid(f"--older-than must be a number of hours >= 0, got {args.older_than}")
    store = store_from(args.evidence_dir, args.evidence_url)
    console = Console(stderr=True)
    with console.status(f"gc-evidence: listing {store.describe()}"):
        result: GcResult = with_session(
            args.db,
            lambda s: collect(store, s, older_than_hours=args.older_than, dry_run=args.dry_run),
        )
    verb = "would remove" if args.dry_run else "removed"
    for obj in result.removed:
        print(f"{verb} {obj.sha256} ({obj.size} bytes, {obj.modified:%Y-%m-%d %H:%M} UTC)")
    print(
        f"gc-evidence {store.describe()}: {result.scanned} objects, {result.named} named by rows, "
        f"{result.young} younger than {args.older_than:g} h (kept); {verb} {len(result.removed)} "
        f"({result.removed_bytes} bytes) and {result.stale_uploads} interrupted uploads"
    )
    return 0
