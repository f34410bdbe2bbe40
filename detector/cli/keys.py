"""``nce keys generate --out DIR --device-id ID``: a device's Ed25519 signing key pair (``--name
release``: the key that signs model releases, ``nce model release``; ``--name service``: the service's).

Writes ``DIR/ID.key`` (PKCS#8 PEM, mode 0600; the site config's ``device.key_file``) and
``DIR/ID.pub`` (the public key the service enrols with ``nce admin add-device --pubkey``). Refuses to
overwrite either file.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from detector.errors import EvidenceError
from nce.manifest import (
    ManifestError,
    check_safe_name,
    generate_private_key,
    key_fingerprint,
    save_private_key,
    save_public_key,
)


def register(sub: Any) -> None:
    parser = sub.add_parser("keys", help="signing keys (Ed25519): a device's, the service's, a release key")
    inner = parser.add_subparsers(dest="keys_command", metavar="ACTION")
    inner.required = True
    gen = inner.add_parser("generate", help="write DIR/ID.key (mode 0600) and DIR/ID.pub")
    gen.add_argument("--out", required=True, type=Path, help="folder for the key files")
    gen.add_argument(
        "--device-id",
        "--name",
        dest="device_id",
        required=True,
        help="the device id (the site config's device.id), or a name: service, release",
    )
    gen.set_defaults(func=_generate)


def _generate(args: argparse.Namespace) -> int:
    try:
        check_safe_name(args.device_id)
    except ValueError as exc:
        raise EvidenceError(f"--device-id: {exc}") from None
    out: Path = args.out
    key_path, pub_path = out / f"{args.device_id}.key", out / f"{args.device_id}.pub"
    for p in (key_path, pub_path):
        if p.exists():
            raise EvidenceError(f"{p}: already exists; refusing to overwrite a key")
    try:
        out.mkdir(parents=True, exist_ok=True)
        key = generate_private_key()
        save_private_key(key, key_path)
        save_public_key(key.public_key(), pub_path)
    except ManifestError as exc:
        raise EvidenceError(str(exc)) from exc
    except OSError as exc:
        raise EvidenceError(f"{out}: {exc.strerror}") from exc
    if args.device_id == "release":
        print(f"private key: {key_path} (mode 0600; sign releases: nce model release --key {key_path} …)")
        print(f"public key:  {pub_path} (trust it: NCE_RELEASE_PUBKEYS, and the edges' model.release_pubkey)")
    else:
        print(f"private key: {key_path} (mode 0600; set device.key_file to it)")
        print(
            f"public key:  {pub_path} (enrol it: nce admin add-device --device-id {args.device_id} --pubkey …)"
        )
    print(f"fingerprint: sha256 {key_fingerprint(key.public_key())}")
    return 0
