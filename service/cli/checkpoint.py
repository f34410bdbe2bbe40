"""``nce ledger checkpoint``, ``nce ledger publish-key`` and ``nce ledger verify --checkpoint``:
the transparency log's signed checkpoints from the command line (:mod:`service.transparency`).

- ``nce ledger checkpoint --db URL [--key-file FILE] [--origin NAME] [--out FILE]``: sign one now
  (stored like the service's own) and print it as JSON;
- ``nce ledger publish-key [--key-file FILE]``: the service's public key (PEM) and its fingerprint,
  for the bureau to publish; auditors pin it (``nce evidence verify … --service-key FINGERPRINT``);
- ``nce ledger verify --db URL --checkpoint FILE [--service-key FINGERPRINT]``: the log and the
  ledger in the database still match a checkpoint kept elsewhere (truncation, rewriting).

``--key-file`` defaults to ``NCE_SERVICE_KEY_FILE``, ``--origin`` to ``NCE_LOG_ORIGIN``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from service.errors import ServiceError


def add_actions(inner: Any) -> None:
    """Add ``checkpoint`` and ``publish-key`` to ``nce ledger``."""
    c = inner.add_parser("checkpoint", help="sign a checkpoint of the log and the ledger now; print it")
    c.add_argument("--db", default=None)
    c.add_argument("--key-file", type=Path, default=None, help="the service key (NCE_SERVICE_KEY_FILE)")
    c.add_argument("--origin", default=None, help="the log's name (NCE_LOG_ORIGIN)")
    c.add_argument("--out", type=Path, default=None, help="also write the signed checkpoint to this file")
    c.set_defaults(func=_checkpoint)
    k = inner.add_parser("publish-key", help="print the service's public key and its fingerprint")
    k.add_argument("--key-file", type=Path, default=None, help="the service key (NCE_SERVICE_KEY_FILE)")
    k.set_defaults(func=_publish_key)


def add_verify_options(verify: Any) -> None:
    verify.add_argument(
        "--checkpoint", type=Path, default=None, help="also check the log and ledger against this checkpoint"
    )
    verify.add_argument(
        "--service-key", metavar="FINGERPRINT", default=None, help="the checkpoint must be signed by this key"
    )


def _key_file(args: argparse.Namespace) -> Path:
    path = args.key_file or os.environ.get("NCE_SERVICE_KEY_FILE")
    if not path:
        raise ServiceError("no service key: pass --key-file FILE or set NCE_SERVICE_KEY_FILE")
    return Path(path)


def _checkpoint(args: argparse.Namespace) -> int:
    from service.db import make_engine, make_sessionmaker
    from service.settings import Settings, default_db_url
    from service.transparency import checkpoints
    from service.transparency.key import TransparencyLog, load_key_file

    key = load_key_file(_key_file(args))
    origin = args.origin or os.environ.get("NCE_LOG_ORIGIN") or Settings.model_fields["log_origin"].default
    engine = make_engine(args.db or default_db_url())
    try:
        with make_sessionmaker(engine)() as session:
            signed = checkpoints.make(session, TransparencyLog(key=key, origin=origin))
            session.commit()
    finally:
        engine.dispose()
    data = signed.to_json_bytes()
    if args.out is not None:
        args.out.write_bytes(data)
    print(data.decode(), end="")
    return 0


def _publish_key(args: argparse.Namespace) -> int:
    from cryptography.hazmat.primitives import serialization

    from nce.manifest import key_fingerprint
    from service.transparency.key import load_key_file

    pub = load_key_file(_key_file(args)).public_key()
    pem = pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    print(pem.decode(), end="")
    print(f"fingerprint: sha256 {key_fingerprint(pub)}")
    return 0


def checkpoint_problems(args: argparse.Namespace, session: Session) -> list[str]:
    """For ``nce ledger verify --checkpoint FILE``: why the database no longer matches it."""
    from nce.transparency import CheckpointError, parse_signed_checkpoint, verify_checkpoint
    from service.transparency import checkpoints

    try:
        signed = parse_signed_checkpoint(args.checkpoint.read_bytes())
        verify_checkpoint(signed, fingerprint=args.service_key)
    except OSError as exc:
        raise ServiceError(f"--checkpoint {args.checkpoint}: {exc.strerror}") from exc
    except CheckpointError as exc:
        return [f"{args.checkpoint}: {exc}"]
    return checkpoints.check_database(session, signed)
