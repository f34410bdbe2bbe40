"""``nce config check`` checks the files a site config names: the model loads (its metadata is
shown), the device key parses, the token, camera files and fonts are readable; a missing key says
where it looked and to point ``device.key_file`` at the enrolled key (never to make a new one)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from nce.manifest import generate_private_key, save_private_key
from tests.support.cli import nce

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "street-v1.onnx"


def _site(tmp_path: Path) -> Path:
    """A site config in tmp_path/site/ with relative paths to a key, a token and a camera file."""
    site = tmp_path / "site"
    (site / "keys").mkdir(parents=True)
    save_private_key(generate_private_key(), site / "keys" / "edge.key")
    (site / "keys" / "edge.token").write_text("nced_x\n", encoding="utf-8")
    (site / "cam.mp4").write_bytes(b"\0" * 16)
    doc = {
        "site": {"id": "s", "name": "s", "timezone": "Asia/Shanghai"},
        "model": {"path": str(MODEL)},
        "cameras": [{"id": "cam-1", "name": "c", "source": "cam.mp4", "zones": []}],
        "rules": [{"violation": "illegal_ad", "classes": ["banner"], "zone_kinds": ["no_ads"]}],
        "device": {"id": "edge-1", "key_file": "keys/edge.key"},
        "uplink": {"service_url": "http://127.0.0.1:1", "token_file": "keys/edge.token"},
    }
    (site / "site.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    return site / "site.yaml"


def test_the_files_of_a_good_config_are_shown(tmp_path: Path) -> None:
    config = _site(tmp_path)
    res = nce("config", "check", str(config), cwd=tmp_path)  # another folder: paths are the config's
    assert res.returncode == 0, res.stderr
    assert "file model.path: " in res.stdout and "7 classes: stall, goods" in res.stdout
    assert (
        f"file device.key_file: {config.parent / 'keys' / 'edge.key'} (public key fingerprint" in res.stdout
    )
    assert f"file uplink.token_file: {config.parent / 'keys' / 'edge.token'}" in res.stdout
    assert f"file cameras[0].source: {config.parent / 'cam.mp4'}" in res.stdout


def _rm(name: str) -> Callable[[Path], None]:
    return lambda site: (site / name).unlink()


def _write(name: str, data: bytes) -> Callable[[Path], None]:
    def write(site: Path) -> None:
        (site / name).write_bytes(data)

    return write


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (_rm("keys/edge.key"), "device.key_file: no key at {site}/keys/edge.key"),
        (_write("keys/edge.key", b"not a key"), "device.key_file: not an Ed25519 signing key"),
        (_rm("keys/edge.token"), "uplink.token_file: no such file: {site}/keys/edge.token"),
        (_write("keys/edge.token", b"\n"), "uplink.token_file: {site}/keys/edge.token is empty"),
        (_rm("cam.mp4"), "cameras[0].source: no such file: {site}/cam.mp4"),
        pytest.param(
            lambda site: (site / "keys" / "edge.key").chmod(0o000),
            "device.key_file: cannot read",
            marks=pytest.mark.optional("root reads every file"),  # CI runs as root
        ),
    ],
    ids=["no-key", "bad-key", "no-token", "empty-token", "no-camera-file", "unreadable-key"],
)
def test_a_bad_file_is_one_line_naming_the_key_and_the_path(
    tmp_path: Path, damage: Callable[[Path], None], expected: str
) -> None:
    import os

    config = _site(tmp_path)
    damage(config.parent)
    if "cannot read" in expected and os.geteuid() == 0:
        (config.parent / "keys" / "edge.key").chmod(0o600)
        pytest.skip("root reads every file")
    res = nce("config", "check", str(config), cwd=tmp_path)
    assert res.returncode == 2
    lines = res.stderr.splitlines()
    assert lines[0].startswith(f"{config}: " + expected.format(site=config.parent)), lines
    assert lines[-1] == f"{config}: 1 problem(s) with the files it names"
    assert "Traceback" not in res.stderr
    assert nce("config", "check", "--no-files", str(config), cwd=tmp_path).returncode == 0


@pytest.mark.parametrize(
    ("model", "expected"),
    [(b"not onnx", "the model does not load: "), (None, "model.path: no such file: ")],
    ids=["not-onnx", "missing"],
)
def test_a_model_that_does_not_load_is_a_problem(tmp_path: Path, model: bytes | None, expected: str) -> None:
    config = _site(tmp_path)
    doc = yaml.safe_load(config.read_text(encoding="utf-8"))
    doc["model"]["path"] = "m.onnx"
    config.write_text(yaml.safe_dump(doc), encoding="utf-8")
    if model is not None:
        (config.parent / "m.onnx").write_bytes(model)
    res = nce("config", "check", str(config), cwd=tmp_path)
    assert res.returncode == 2 and expected in res.stderr and "m.onnx" in res.stderr, res.stderr


def test_an_unknown_provider_name_is_a_problem(tmp_path: Path) -> None:
    config = _site(tmp_path)
    doc = yaml.safe_load(config.read_text(encoding="utf-8"))
    doc["model"]["providers"] = ["CUDA"]
    config.write_text(yaml.safe_dump(doc), encoding="utf-8")
    res = nce("config", "check", str(config), cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.startswith(f"{config}: model.providers: unknown execution provider 'CUDA': did you mean "
                                 "CUDAExecutionProvider?"), res.stderr  # fmt: skip


def test_a_missing_key_never_advises_a_new_key(tmp_path: Path) -> None:
    """A new key is not enrolled: the message says where it looked and to point key_file at the
    enrolled key (the config check and the packager of `nce run` say the same)."""
    from detector.config import load_site_config

    config = _site(tmp_path)
    (config.parent / "keys" / "edge.key").unlink()
    res = nce("config", "check", str(config), cwd=tmp_path)
    line = res.stderr.splitlines()[0]
    assert "point device.key_file at the private key whose public key was enrolled for edge-1" in line
    assert "nce keys generate --out" not in line and "is not enrolled" in line
    device = load_site_config(config).device
    assert device is not None and device.missing_key_message().split(": ", 1)[1] in line
