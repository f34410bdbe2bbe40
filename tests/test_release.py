"""The model release contract (nce.release): written by modeling.release, verified against a trusted
key; every kind of tampering and a wrong key are refused with one line naming the release."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from nce.release import (
    CARD_FILE,
    MODEL_FILE,
    RELEASE_FILE,
    ReleaseError,
    ReleaseGate,
    load_release_pubkey,
    read_release,
    verify_release,
)
from tests.support.releases import make_release, release_keys


def test_a_written_release_verifies_and_says_what_the_model_is(tmp_path: Path) -> None:
    key, pub = release_keys(tmp_path / "keys")
    folder, signed = make_release(tmp_path, key)
    assert sorted(p.name for p in folder.iterdir()) == [CARD_FILE, MODEL_FILE, RELEASE_FILE]
    record = verify_release(folder, load_release_pubkey(pub))
    assert record == signed.record == read_release(folder).record
    assert record.release_id == "patch-v1" and record.format == "nce-model-release/1"
    assert record.classes == ["red_thing", "green_thing"] and record.input_size == (64, 64)
    assert record.model_bytes == (folder / MODEL_FILE).stat().st_size and record.gate is None


def test_a_forced_release_says_so_in_its_signed_record(tmp_path: Path) -> None:
    key, pub = release_keys(tmp_path / "keys")
    gate = ReleaseGate(verdict="fail", forced=True, reason="hot fix for site 3")
    folder, _ = make_release(tmp_path, key, gate=gate)
    assert verify_release(folder, load_release_pubkey(pub)).gate == gate
    assert json.loads((folder / RELEASE_FILE).read_text())["record"]["gate"]["forced"] is True


def test_a_release_is_never_written_over(tmp_path: Path) -> None:
    key, _ = release_keys(tmp_path / "keys")
    folder, _ = make_release(tmp_path, key)
    with pytest.raises(ReleaseError, match="refusing to overwrite"):
        make_release(tmp_path, key, out=folder)


def _edit_record(field: str, value: object) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        data = json.loads((folder / RELEASE_FILE).read_text())
        data["record"][field] = value
        (folder / RELEASE_FILE).write_text(json.dumps(data))

    return edit


def _append(name: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        with open(folder / name, "ab") as fh:
            fh.write(b"\n")

    return edit


def _flip_signature(folder: Path) -> None:
    data = json.loads((folder / RELEASE_FILE).read_text())
    sig = data["signature"]["signature"]
    data["signature"]["signature"] = ("B" if sig[0] == "A" else "A") + sig[1:]
    (folder / RELEASE_FILE).write_text(json.dumps(data))


def _extra_field(folder: Path) -> None:
    _edit_record("note", "x")(folder)


def _not_json(folder: Path) -> None:
    (folder / RELEASE_FILE).write_text("{")


def _no_model(folder: Path) -> None:
    (folder / MODEL_FILE).unlink()


TAMPERING: list[tuple[str, Callable[[Path], None], str]] = [
    (
        "model changed",
        _append(MODEL_FILE),
        r"release patch-v1: model\.onnx sha256 .* differs from the signed",
    ),
    ("model missing", _no_model, r"release patch-v1: cannot read .*model\.onnx"),
    ("card changed", _append(CARD_FILE), r"release patch-v1: card\.md differs from the signed card"),
    ("classes edited", _edit_record("classes", ["red_thing"]), r"release patch-v1: signature invalid"),
    (
        "gate added",
        _edit_record("gate", {"verdict": "pass", "forced": False, "reason": None}),
        "signature invalid",
    ),
    ("signature altered", _flip_signature, r"release patch-v1: signature invalid"),
    ("field added", _extra_field, r"not a release record: record\.note"),
    ("not in normal form", _edit_record("model_bytes", "123"), "not a release record|not in normal form"),
    ("not JSON", _not_json, r"release\.json: not JSON"),
]


@pytest.mark.parametrize(("what", "tamper", "message"), TAMPERING, ids=[t[0] for t in TAMPERING])
def test_a_tampered_release_is_refused_in_one_line(
    tmp_path: Path, what: str, tamper: Callable[[Path], None], message: str
) -> None:
    key, pub = release_keys(tmp_path / "keys")
    folder, _ = make_release(tmp_path, key)
    tamper(folder)
    with pytest.raises(ReleaseError, match=message) as caught:
        verify_release(folder, load_release_pubkey(pub))
    assert "\n" not in str(caught.value)


def test_a_release_by_another_key_is_refused(tmp_path: Path) -> None:
    key, _ = release_keys(tmp_path / "keys")
    _, other_pub = release_keys(tmp_path / "keys", "other")
    folder, _ = make_release(tmp_path, key)
    with pytest.raises(ReleaseError, match=r"release patch-v1: signed by another key"):
        verify_release(folder, load_release_pubkey(other_pub))
