"""The service key (Ed25519, a PEM file named by ``NCE_SERVICE_KEY_FILE``) and what an app holds."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nce.manifest import ManifestError, generate_private_key, load_private_key, save_private_key
from service.settings import Settings, SettingsError
from service.transparency.log import TreeCache


def load_key_file(path: Path) -> Ed25519PrivateKey:
    try:
        return load_private_key(path)
    except ManifestError as exc:
        raise SettingsError(f"service key (NCE_SERVICE_KEY_FILE): {exc}") from exc


def load_service_key(settings: Settings) -> Ed25519PrivateKey:
    """The key the settings name; in demo mode without one, ``var/demo/service.key`` (made once)."""
    path = settings.resolved_service_key_file()
    if settings.demo and settings.service_key_file is None and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(ManifestError):  # another process made it first: load theirs
            save_private_key(generate_private_key(), path)
    return load_key_file(path)


@dataclass
class TransparencyLog:
    """The log's signing key, its origin name and the in-memory tree of its leaves."""

    key: Ed25519PrivateKey
    origin: str
    tree: TreeCache = field(default_factory=TreeCache)
