"""``nce admin add-device|add-user|add-client --db URL``: bootstrap identities (tokens printed once)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from service.errors import Invalid
from service.settings import default_db_url


def register(sub: Any) -> None:
    p = sub.add_parser("admin", help="enroll devices, users and client systems")
    inner = p.add_subparsers(dest="admin_command", metavar="ACTION")
    inner.required = True
    dev = inner.add_parser("add-device", help="enroll an edge box; prints its API token once")
    dev.add_argument("--db", default=None)
    dev.add_argument("--device-id", required=True)
    dev.add_argument("--pubkey", required=True, help="the device's Ed25519 public key (nce keys generate)")
    dev.add_argument("--token-out", default=None, help="also write the token to this file (mode 0600)")
    dev.set_defaults(func=_add_device)
    for action, what in (("disable-device", "refuse an edge box's token and packages from now on"),
                         ("enable-device", "accept a disabled edge box again")):  # fmt: skip
        toggle = inner.add_parser(action, help=what)
        toggle.add_argument("--db", default=None)
        toggle.add_argument("--device-id", required=True)
        toggle.set_defaults(func=_set_device_enabled, enabled=action == "enable-device")
    rotate = inner.add_parser(
        "new-device-token", help="replace a device's API token; prints the new one once"
    )
    rotate.add_argument("--db", default=None)
    rotate.add_argument("--device-id", required=True)
    rotate.add_argument("--token-out", default=None, help="also write the token to this file (mode 0600)")
    rotate.set_defaults(func=_new_device_token)
    user = inner.add_parser("add-user", help="add an operator, supervisor or admin")
    user.add_argument("--db", default=None)
    user.add_argument("--username", required=True)
    user.add_argument("--role", required=True, choices=["operator", "supervisor", "admin"])
    user.add_argument(
        "--password-stdin", action="store_true", required=True, help="read the password from stdin"
    )
    user.set_defaults(func=_add_user)
    client = inner.add_parser("add-client", help="register a case system; prints its API token once")
    client.add_argument("--db", default=None)
    client.add_argument("--name", required=True)
    client.set_defaults(func=_add_client)


def _with_session(url: str | None, fn: Callable[[Session], Any]) -> Any:
    from service.db import make_engine, make_sessionmaker
    from service.migrate import upgrade

    engine = make_engine(url or default_db_url())
    try:
        upgrade(engine)
        with make_sessionmaker(engine)() as session:
            return fn(session)
    finally:
        engine.dispose()


def _add_device(args: argparse.Namespace) -> int:
    from service.crud.identities import add_device

    try:
        key = Path(args.pubkey).read_bytes()
    except OSError as exc:
        raise Invalid(f"{args.pubkey}: cannot read the public key: {exc.strerror}") from exc
    token: str = _with_session(args.db, lambda s: add_device(s, device_id=args.device_id, public_key=key))
    _write_token(args.token_out, token)
    print(token)
    print(f"device {args.device_id} enrolled; the token above is shown once (stored hashed)", file=sys.stderr)
    return 0


def _write_token(path: str | None, token: str) -> None:
    if path:
        import os

        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token + "\n")


def _set_device_enabled(args: argparse.Namespace) -> int:
    from service.crud.identities import set_device_enabled

    changed = _with_session(
        args.db, lambda s: set_device_enabled(s, device_id=args.device_id, enabled=args.enabled)
    )
    state = "enabled" if args.enabled else "disabled"
    print(f"device {args.device_id} {state}" + ("" if changed else " (it already was)"), file=sys.stderr)
    return 0


def _new_device_token(args: argparse.Namespace) -> int:
    from service.crud.identities import new_device_token

    token: str = _with_session(args.db, lambda s: new_device_token(s, device_id=args.device_id))
    _write_token(args.token_out, token)
    print(token)
    print(
        f"device {args.device_id}: new token above, shown once; the old one no longer works", file=sys.stderr
    )
    return 0


def _add_user(args: argparse.Namespace) -> int:
    from service.crud.identities import add_user

    password = sys.stdin.readline().rstrip("\r\n")
    _with_session(args.db, lambda s: add_user(s, username=args.username, role=args.role, password=password))
    print(f"user {args.username} ({args.role}) added")
    return 0


def _add_client(args: argparse.Namespace) -> int:
    from service.crud.identities import add_client

    token: str = _with_session(args.db, lambda s: add_client(s, name=args.name))
    print(token)
    print(f"client {args.name} (case_system) added; the token above is shown once", file=sys.stderr)
    return 0
