"""``nce admin add-model --db URL DIR``: store a model release folder (``nce model release``) as
``POST /api/v1/models`` does: refused unless signed by a trusted release key (``--pubkey``, or
``NCE_RELEASE_PUBKEYS``); a ledger entry ``model_release_added``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from nce.release import CARD_FILE, MODEL_FILE, RELEASE_FILE
from service.cli.evidence_gc import add_store_options, store_from
from service.errors import Invalid


def register(inner: Any) -> None:
    add = inner.add_parser(
        "add-model",
        help="store a signed model release folder (release.json, model.onnx, card.md)",
    )
    add.add_argument("--db", default=None, help="database URL (default: the local SQLite, var/nce.sqlite3)")
    add_store_options(add)
    add.add_argument(
        "--pubkey",
        type=Path,
        action="append",
        default=None,
        help="a trusted release public key (repeatable; default: NCE_RELEASE_PUBKEYS)",
    )
    add.add_argument("folder", type=Path, help="the release folder nce model release wrote")
    add.set_defaults(func=_add_model)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise Invalid(f"{path}: cannot read: {exc.strerror}") from None


def _add_model(args: argparse.Namespace) -> int:
    from service.accounts import cli_actor
    from service.cli.admin import with_session
    from service.crud.releases import add_release, trusted_keys

    folder: Path = args.folder
    paths = args.pubkey or [
        Path(p.strip()) for p in os.environ.get("NCE_RELEASE_PUBKEYS", "").split(",") if p.strip()
    ]
    if not paths:
        raise Invalid("no trusted release key: pass --pubkey KEY.pub or set NCE_RELEASE_PUBKEYS")
    trusted = trusted_keys(paths)
    store = store_from(args.evidence_dir, args.evidence_url, create=True)
    release_json, model, card = (_read(folder / n) for n in (RELEASE_FILE, MODEL_FILE, CARD_FILE))
    row, created = with_session(
        args.db,
        lambda s: add_release(
            s,
            store=store,
            release_json=release_json,
            model=model,
            card=card,
            trusted=trusted,
            actor=cli_actor(),
        ),
    )
    if created:
        print(
            f"release {row.release_id} stored (model sha256 {row.model_sha256}, ledger entry {row.ledger_seq})"
        )
    else:
        print(f"release {row.release_id} is stored already; nothing changed")
    return 0
