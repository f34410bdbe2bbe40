"""Model releases for tests: a release key pair and a tiny real model (the colour-patch finder)
released with ``modeling.release.write_release``."""

from __future__ import annotations

from pathlib import Path

from nce.manifest import generate_private_key, save_private_key, save_public_key
from nce.release import ReleaseGate, SignedRelease
from tests.support.onnx_models import colour_patch_model

NAMES = {0: "red_thing", 1: "green_thing"}
COLOURS = {0: "red", 1: "green"}


def release_keys(folder: Path, name: str = "release") -> tuple[Path, Path]:
    """``(private key file, public key file)`` of a new Ed25519 release key."""
    folder.mkdir(parents=True, exist_ok=True)
    key = generate_private_key()
    return save_private_key(key, folder / f"{name}.key"), save_public_key(
        key.public_key(), folder / f"{name}.pub"
    )


def small_model(
    path: Path, colours: dict[int, str] | None = None, names: dict[int, str] | None = None
) -> Path:
    return colour_patch_model(path, names=names or NAMES, colours=colours or COLOURS, imgsz=(64, 64))


def make_release(
    tmp: Path,
    key_file: Path,
    *,
    out: Path | None = None,
    release_id: str | None = "patch-v1",
    gate: ReleaseGate | None = None,
    model: Path | None = None,
) -> tuple[Path, SignedRelease]:
    from modeling.release import write_release

    model = model or small_model(tmp / "patch.onnx")
    card = tmp / "patch.md"
    if not card.exists():
        card.write_text("# patch finder\n\nA test model.\n", encoding="utf-8")
    out = out or tmp / "release"
    signed = write_release(
        model=model, card=card, key_file=key_file, out=out, release_id=release_id, gate=gate
    )
    return out, signed
