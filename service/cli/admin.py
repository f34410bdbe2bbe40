"""``nce admin add-device|add-user|add-client --db URL``: bootstrap identities (tokens printed once);
``list-users|disable-user|enable-user|reset-password|revoke-client|new-client-token``: account hygiene
(the data functions are :mod:`service.accounts`; each change is a ledger entry); ``import-shops``:
the shop registry from a file (:mod:`service.cli.shops`); ``gc-evidence``: unreferenced evidence
objects (:mod:`service.cli.evidence_gc`)."""

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
    _register_accounts(inner)
    from service.cli import evidence_gc, models, rollouts, shop_qr, shops, webhooks

    shops.register(inner)
    shop_qr.register(inner)
    evidence_gc.register(inner)
    models.register(inner)
    rollouts.register(inner)
    webhooks.register(inner)


def _register_accounts(inner: Any) -> None:
    users = inner.add_parser("list-users", help="people: role, enabled, must change password, live sessions")
    users.add_argument("--db", default=None)
    users.add_argument("--json", action="store_true", help="one JSON object per line")
    users.set_defaults(func=_list_users)
    for action, what in (("disable-user", "refuse a person's sign-in and end their sessions at once"),
                         ("enable-user", "let a disabled person sign in again")):  # fmt: skip
        toggle = inner.add_parser(action, help=what)
        toggle.add_argument("--db", default=None)
        toggle.add_argument("--username", required=True)
        toggle.set_defaults(func=_set_user_enabled, enabled=action == "enable-user")
    reset = inner.add_parser(
        "reset-password",
        help="set a person's password (a one-time temporary one, printed once, unless --password-file); "
        "their sessions end and they must change it at the next sign-in",
    )
    reset.add_argument("--db", default=None)
    reset.add_argument("--username", required=True)
    reset.add_argument(
        "--password-file", default=None, help="read the new password from this file's first line"
    )
    reset.set_defaults(func=_reset_password)
    revoke = inner.add_parser("revoke-client", help="revoke a case system's token (refused from now on)")
    revoke.add_argument("--db", default=None)
    revoke.add_argument("--name", required=True)
    revoke.set_defaults(func=_revoke_client)
    issue = inner.add_parser("new-client-token", help="give a case system a new token; prints it once")
    issue.add_argument("--db", default=None)
    issue.add_argument("--name", required=True)
    issue.add_argument("--token-out", default=None, help="also write the token to this file (mode 0600)")
    issue.set_defaults(func=_new_client_token)


def with_session(url: str | None, fn: Callable[[Session], Any]) -> Any:
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
    from service.accounts import cli_actor
    from service.crud.identities import add_device

    try:
        key = Path(args.pubkey).read_bytes()
    except OSError as exc:
        raise Invalid(f"{args.pubkey}: cannot read the public key: {exc.strerror}") from exc
    token: str = with_session(
        args.db, lambda s: add_device(s, device_id=args.device_id, public_key=key, actor=cli_actor())
    )
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
    from service.accounts import cli_actor
    from service.crud.identities import set_device_enabled

    changed = with_session(
        args.db,
        lambda s: set_device_enabled(s, device_id=args.device_id, enabled=args.enabled, actor=cli_actor()),
    )
    state = "enabled" if args.enabled else "disabled"
    print(f"device {args.device_id} {state}" + ("" if changed else " (it already was)"), file=sys.stderr)
    return 0


def _new_device_token(args: argparse.Namespace) -> int:
    from service.accounts import cli_actor
    from service.crud.identities import new_device_token

    token: str = with_session(
        args.db, lambda s: new_device_token(s, device_id=args.device_id, actor=cli_actor())
    )
    _write_token(args.token_out, token)
    print(token)
    print(
        f"device {args.device_id}: new token above, shown once; the old one no longer works", file=sys.stderr
    )
    return 0


def _add_user(args: argparse.Namespace) -> int:
    from service.accounts import cli_actor
    from service.crud.identities import add_user

    password = sys.stdin.readline().rstrip("\r\n")
    with_session(
        args.db,
        lambda s: add_user(s, username=args.username, role=args.role, password=password, actor=cli_actor()),
    )
    print(f"user {args.username} ({args.role}) added")
    return 0


def _add_client(args: argparse.Namespace) -> int:
    from service.accounts import cli_actor
    from service.crud.identities import add_client

    token: str = with_session(args.db, lambda s: add_client(s, name=args.name, actor=cli_actor()))
    print(token)
    print(f"client {args.name} (case_system) added; the token above is shown once", file=sys.stderr)
    return 0


def _list_users(args: argparse.Namespace) -> int:
    import json

    from service.accounts import list_users

    rows = with_session(args.db, list_users)
    if args.json:
        for r in rows:
            print(
                json.dumps(
                    {
                        "username": r.username,
                        "role": r.role,
                        "enabled": r.enabled,
                        "must_change_password": r.must_change_password,
                        "sessions": r.sessions,
                        "created_at": r.created_at.isoformat(),
                    }
                )
            )
        return 0
    print(f"{'USERNAME':<24} {'ROLE':<11} {'STATE':<9} {'SESSIONS':>8}  PASSWORD")
    for r in rows:
        state = "enabled" if r.enabled else "disabled"
        pw = "must change" if r.must_change_password else "ok"
        print(f"{r.username:<24} {r.role:<11} {state:<9} {r.sessions:>8}  {pw}")
    return 0


def _set_user_enabled(args: argparse.Namespace) -> int:
    from service.accounts import cli_actor, set_user_enabled

    ended = with_session(
        args.db,
        lambda s: set_user_enabled(s, username=args.username, enabled=args.enabled, actor=cli_actor()),
    )
    if args.enabled:
        print(f"user {args.username} enabled", file=sys.stderr)
    else:
        print(f"user {args.username} disabled; {ended} session(s) ended", file=sys.stderr)
    return 0


def _reset_password(args: argparse.Namespace) -> int:
    from service.accounts import cli_actor, reset_password

    password = None
    if args.password_file:
        try:
            lines = Path(args.password_file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise Invalid(f"{args.password_file}: cannot read the password: {exc.strerror}") from exc
        password = lines[0] if lines else ""
    new: str = with_session(
        args.db, lambda s: reset_password(s, username=args.username, password=password, actor=cli_actor())
    )
    if password is None:
        print(new)
        print(
            f"user {args.username}: the temporary password above is shown once; they must change it at "
            "the next sign-in; their sessions ended",
            file=sys.stderr,
        )
    else:
        print(
            f"user {args.username}: password set from {args.password_file}; they must change it at the "
            "next sign-in; their sessions ended",
            file=sys.stderr,
        )
    return 0


def _revoke_client(args: argparse.Namespace) -> int:
    from service.accounts import cli_actor, revoke_client

    with_session(args.db, lambda s: revoke_client(s, name=args.name, actor=cli_actor()))
    print(f"client {args.name}: token revoked (refused from now on)", file=sys.stderr)
    return 0


def _new_client_token(args: argparse.Namespace) -> int:
    from service.accounts import cli_actor, new_client_token

    token: str = with_session(args.db, lambda s: new_client_token(s, name=args.name, actor=cli_actor()))
    _write_token(args.token_out, token)
    print(token)
    print(f"client {args.name}: new token above, shown once; the old one no longer works", file=sys.stderr)
    return 0
