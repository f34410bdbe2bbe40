"""``nce admin shop-qr --db URL --shop-id ID [--base-url URL] [--rotate] [--out FILE]``: a shop page's
link (一店一码, :mod:`service.shop_links`) and its QR code. The secret comes from ``NCE_SECRET_KEY``
(the service's own: the link is derived from it); the address from ``--base-url``, else
``NCE_PUBLIC_URL``. ``--out`` writes the QR code, its format by the suffix: ``.svg`` (the printable A6
card), ``.pdf`` (the code, 85 mm) or ``.png``. The last line printed is always the page's URL."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from service.errors import Invalid

SECRET_ENV = "NCE_SECRET_KEY"


def register(inner: Any) -> None:
    p = inner.add_parser(
        "shop-qr",
        help="a shop page's link and QR code (一店一码); --rotate retires the old link",
        description=(
            "Print a shop page's URL (its last line) and, with --out, write its QR code (.svg: an A6 "
            "card to print, .pdf: the code 85 mm square, .png). The link is derived from NCE_SECRET_KEY "
            "and the shop's link generation: the same until --rotate, after which the old link answers "
            "404. The address is --base-url, else NCE_PUBLIC_URL."
        ),
    )
    p.add_argument("--db", default=None, help="database URL (default: the local SQLite, var/nce.sqlite3)")
    p.add_argument("--shop-id", required=True)
    p.add_argument("--base-url", default=None, help="the service as shops reach it (default: NCE_PUBLIC_URL)")
    p.add_argument("--rotate", action="store_true", help="a new link; the old one stops working")
    p.add_argument("--out", type=Path, default=None, help="write the QR code here (.svg, .pdf or .png)")
    p.set_defaults(func=_shop_qr)


def _shop_qr(args: argparse.Namespace) -> int:
    from service import ledger
    from service.accounts import cli_actor
    from service.cli.admin import with_session
    from service.crud.shops import get_shop
    from service.shop_links import ensure_link, page_url, rotate_link
    from service.shop_qr import FORMATS, qr_file

    secret = os.environ.get(SECRET_ENV, "")
    if len(secret) < 16:
        raise Invalid(
            f"{SECRET_ENV}: expected the service's secret key (16 characters or more), found none or a shorter one"
        )
    base = args.base_url or os.environ.get("NCE_PUBLIC_URL")
    if not base or not base.startswith(("http://", "https://")):
        raise Invalid(f"--base-url: expected the service's public address (https://…), got {base!r}")
    kind = args.out.suffix.lower().lstrip(".") if args.out is not None else None
    if kind is not None and kind not in FORMATS:
        raise Invalid(f"--out {args.out}: expected a .svg, .pdf or .png file")

    def act(session: Any) -> tuple[str, str]:
        ledger.lock_head(session)
        shop = get_shop(session, shop_id=args.shop_id)
        if args.rotate:
            token = rotate_link(session, secret, shop, actor=cli_actor())
        else:
            token = ensure_link(session, secret, shop, actor=cli_actor())
        session.commit()
        return shop.name, token

    name, token = with_session(args.db, act)
    url = page_url(base, token)
    if args.out is not None and kind is not None:
        args.out.write_bytes(qr_file(url, kind, name=name, caption="扫码查看本店整改通知"))
        print(
            f"{args.shop_id}: QR code written to {args.out}"
            + (" (new link: the old one answers 404)" if args.rotate else "")
        )
    elif args.rotate:
        print(f"{args.shop_id}: new link (the old one answers 404)")
    print(url)
    return 0
