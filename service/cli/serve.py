"""``nce serve``: the case service (FastAPI under uvicorn)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from service.settings import Settings


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the case service (API; migrations applied on start)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--db", default=None, help="database URL (default sqlite:///var/nce.sqlite3; NCE_DB_URL)")
    p.add_argument(
        "--evidence-dir", default=None, help="evidence store (default var/evidence; NCE_EVIDENCE_DIR)"
    )
    p.add_argument(
        "--evidence-url",
        default=None,
        help="evidence in an S3-compatible object store: s3://bucket/prefix (NCE_EVIDENCE_URL; endpoint: "
        "NCE_S3_ENDPOINT or AWS_ENDPOINT_URL, credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)",
    )
    p.add_argument("--demo", action="store_true", default=None, help="demo mode: allows the default secret")
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from nce.ports import check_port_free

    check_port_free(args.host, args.port)  # before the settings, the migrations and the app
    settings = Settings.load(
        db_url=args.db,
        evidence_dir=Path(args.evidence_dir) if args.evidence_dir else None,
        evidence_url=args.evidence_url,
        demo=args.demo,
    )
    from service.app import create_app
    from service.server import serve

    app = create_app(settings)
    docs = "/docs" if settings.demo else "/openapi.json"
    print(
        f"nce serve: http://{args.host}:{args.port}  (API docs at {docs}, db {_safe(settings.db_url)})",
        flush=True,
    )
    serve(app, settings, host=args.host, port=args.port)
    return 0


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
