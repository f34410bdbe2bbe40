"""This edge box: its id and the key that signs every evidence package."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from detector.config.base import ConfigModel, Id


class Device(ConfigModel):
    """This edge box: it signs every evidence package with its Ed25519 key."""

    id: Id = Field(
        title="Device id",
        description="this box's id, as registered with the service",
        examples=["edge-baoshan-01"],
    )
    key_file: Path = Field(
        title="Signing key",
        description="Ed25519 private key from `nce keys generate`",
        examples=["var/keys/edge-baoshan-01.key"],
    )
