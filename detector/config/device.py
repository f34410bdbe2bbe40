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

    def missing_key_message(self) -> str:
        """Why a missing ``key_file`` matters and how to fix it: point ``device.key_file`` at the
        enrolled key. Never "make a new one": the service only accepts the key it enrolled."""
        return (
            f"device.key_file: no key at {self.key_file} (a relative key_file is relative to the site "
            "config's folder): point device.key_file at the private key whose public key was enrolled "
            f"for {self.id} (`nce admin add-device --device-id {self.id} --pubkey ...`); a new key from "
            "`nce keys generate` is not enrolled, so the service would refuse its packages"
        )
