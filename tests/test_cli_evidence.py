"""``nce keys generate`` and ``nce evidence verify``: exit codes and messages, one per tamper case."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nce.cli import main
from nce.manifest import GENESIS_HASH, MANIFEST_NAME, canonical_json, load_private_key, manifest_hash
from tests.support.manifests import make_package


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    code, out, _ = _run(capsys, "keys", "generate", "--out", str(tmp_path / "keys"), "--device-id", "edge-01")
    assert code == 0 and "fingerprint: sha256 " in out
    return tmp_path / "keys"


def test_keys_generate(keys: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert stat.S_IMODE((keys / "edge-01.key").stat().st_mode) == 0o600
    assert (keys / "edge-01.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    before = (keys / "edge-01.key").read_bytes()
    code, _, err = _run(capsys, "keys", "generate", "--out", str(keys), "--device-id", "edge-01")
    assert code == 2 and "refusing to overwrite" in err
    assert (keys / "edge-01.key").read_bytes() == before
    code, _, err = _run(capsys, "keys", "generate", "--out", str(keys), "--device-id", "../evil")
    assert code == 2 and "--device-id" in err


def _chain(root: Path, key: Ed25519PrivateKey, seqs: list[int]) -> list[Path]:
    folders, prev = [], GENESIS_HASH
    for seq in seqs:
        folder, m = make_package(root, key, sequence=seq, prev_hash=prev)
        folders.append(folder)
        prev = manifest_hash(m)
    return folders


def test_verify_ok(tmp_path: Path, keys: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = load_private_key(keys / "edge-01.key")
    folders = _chain(tmp_path / "ev", key, [1, 2, 3])
    code, out, _ = _run(capsys, "evidence", "verify", str(folders[0]), "--pubkey", str(keys / "edge-01.pub"))
    assert code == 0 and "OK: 1 package(s)" in out and "the given public key" in out
    code, out, _ = _run(capsys, "evidence", "verify", str(tmp_path / "ev"), "--chain")
    assert code == 0 and "OK: 3 package(s), chain continuous" in out
    assert "the public key in the manifest" in out and "integrity, not origin" in out


def _flip_byte(folder: Path) -> None:
    p = folder / "still-2-between.jpg"
    data = bytearray(p.read_bytes())
    data[-1] ^= 0xFF
    p.write_bytes(bytes(data))


def _edit(folder: Path) -> None:
    data = json.loads((folder / MANIFEST_NAME).read_bytes())
    data["violation"] = "street_vending"
    (folder / MANIFEST_NAME).write_bytes(canonical_json(data))


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (_flip_byte, "file still-2-between.jpg hash mismatch"),
        (lambda f: (f / "clip.mp4").unlink(), "missing file clip.mp4"),
        (lambda f: (f / "notes.txt").write_text("x"), "extra file notes.txt"),
        (_edit, "signature invalid"),
    ],
)
def test_verify_tampered(
    tmp_path: Path, keys: Path, capsys: pytest.CaptureFixture[str], tamper: Any, expected: str
) -> None:
    (folder,) = _chain(tmp_path / "ev", load_private_key(keys / "edge-01.key"), [1])
    tamper(folder)
    code, out, _ = _run(capsys, "evidence", "verify", str(folder))
    assert code == 1
    assert expected in out and "FAILED: 1 problem(s)" in out


def test_verify_chain_gap_and_other_key(
    tmp_path: Path, keys: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = load_private_key(keys / "edge-01.key")
    folders = _chain(tmp_path / "ev", key, [1, 2, 3, 4])
    import shutil

    shutil.rmtree(folders[2])
    code, out, _ = _run(capsys, "evidence", "verify", str(tmp_path / "ev"), "--chain")
    assert code == 1 and "chain gap at seq 3" in out
    # a package signed by another key, checked against this device's key
    other = Ed25519PrivateKey.generate()
    (stranger,) = _chain(tmp_path / "other", other, [1])
    code, out, _ = _run(capsys, "evidence", "verify", str(stranger), "--pubkey", str(keys / "edge-01.pub"))
    assert code == 1 and "signed by another key" in out


def test_verify_bad_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "evidence", "verify", str(tmp_path / "nothing"))
    assert code == 2 and "no such file" in err


def test_schema_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "evidence", "schema")
    assert code == 0 and json.loads(out)["title"] == "Manifest"


def _deep_json(depth: int) -> bytes:
    return b'{"schema_version": 1, "files": ' + b"[" * depth + b"]" * depth + b"}"


# (folder name, manifest.json bytes, what its one problem line says)
MALFORMED_MANIFESTS: list[tuple[str, bytes, str]] = [
    ("a-bad-json", b'{"schema_version": 1, "files": [', "manifest is not valid JSON"),
    ("a-deep-json", _deep_json(100_000), "manifest is not valid JSON: nested too deeply"),
    ("a-deep-json-within-the-decoder", _deep_json(500), "manifest is invalid"),
    ("a-empty", b"", "manifest is not valid JSON"),
    ("a-not-utf8", b'{"schema_version": 1, "kind": "\xff\xfe"}', "manifest is not valid JSON"),
    ("a-list", b"[1, 2, 3]", "manifest must be a JSON object, got list"),
    ("a-string", b'"manifest"', "manifest must be a JSON object, got str"),
    ("a-old-schema", b'{"schema_version": "1"}', "unsupported manifest schema_version '1'"),
    ("a-files-not-a-list", b'{"schema_version": 1, "files": "clip.mp4"}', "manifest is invalid: "),
]


@pytest.mark.parametrize("chain", [False, True], ids=["no-chain", "chain"])
def test_verify_reports_each_malformed_manifest_and_goes_on(
    tmp_path: Path, keys: Path, capsys: pytest.CaptureFixture[str], chain: bool
) -> None:
    """Malformed manifests among good packages: each is that package's problem, the others are
    still verified (a tampered good package after them is found), exit 1 at the end."""
    root = tmp_path / "ev"
    folders = _chain(root, load_private_key(keys / "edge-01.key"), [1, 2, 3])
    for name, raw, _ in MALFORMED_MANIFESTS:
        (root / name).mkdir()
        (root / name / MANIFEST_NAME).write_bytes(raw)
    _flip_byte(folders[-1])  # sorted after every malformed one ("a-…" < "edge-…")
    code, out, err = _run(capsys, "evidence", "verify", str(root), *(["--chain"] if chain else []))
    assert code == 1 and err == ""
    lines = out.splitlines()
    for name, _, expected in MALFORMED_MANIFESTS:
        mine = [line for line in lines if line.startswith(f"{name}: ")]
        assert len(mine) == 1 and expected in mine[0], (name, mine)
    assert f"{folders[-1].name}: file still-2-between.jpg hash mismatch" in lines
    total = len(MALFORMED_MANIFESTS) + 1
    assert lines[-1] == f"FAILED: {total} problem(s) in {len(MALFORMED_MANIFESTS) + 3} package(s)"
    assert len(lines) == total + 1  # the good packages' chain is continuous: no chain problem
