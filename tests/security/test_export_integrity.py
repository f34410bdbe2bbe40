"""An export is exactly the evidence of its case, and the log proves it: attacks on the zip and on the
log, against the real service over HTTP (SQLite and PostgreSQL) and the real ``nce`` commands.

- two devices' packages with the same ``package_id`` merged into one case by shop: both folders
  intact, and the export verifies from the zip alone;
- a tampered file, swapped manifest, wrong device key, forged checkpoint, a proof for another tree,
  a package removed or smuggled in, a duplicate member, an edited ledger entry: each fails with a
  one-line reason;
- a case holding seq 1, 5 and 9 of a device's chain verifies (``--chain`` fails on the gaps, as it
  should for a device's whole chain);
- truncating or rewriting the ledger or the log after a checkpoint is found by
  ``nce ledger verify --checkpoint``.
"""

from __future__ import annotations

import io
import json
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import text

from nce.cli import main as nce_main
from nce.ledger_chain import canonical, entry_hash, sha256_hex
from nce.manifest import DerivedFrom, key_fingerprint
from nce.transparency import parse_signed_checkpoint, sign_checkpoint
from tests.support.devices import files_for, new_key
from tests.support.servers import serving

A = "packages/edge-a-00000001"
B = "packages/edge-b-00000001"


@pytest.fixture
def http(api: Any) -> Iterator[httpx.Client]:
    """The test's service over real HTTP (uvicorn on loopback)."""
    with serving(api.client.app) as base, httpx.Client(base_url=base, timeout=60) as client:
        yield client


def _confirm(api: Any, http: httpx.Client, case_id: int) -> None:
    r = http.post(
        f"/api/v1/cases/{case_id}/review", json={"decision": "confirm"}, headers=api.user("supervisor")
    )
    r.raise_for_status()


def _export(api: Any, http: httpx.Client, case_id: int) -> bytes:
    r = http.get(f"/api/v1/cases/{case_id}/export", headers=api.case_system())
    assert r.status_code == 200, r.text
    return r.content


def _fingerprint(api: Any) -> str:
    return key_fingerprint(api.state.transparency.key.public_key())


def _pem(key: Any) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _verify(capsys: pytest.CaptureFixture[str], path: Path, *args: str) -> tuple[int, list[str]]:
    code = nce_main(["evidence", "verify", str(path), *args])
    return code, capsys.readouterr().out.splitlines()


def _merged_case(api: Any, http: httpx.Client) -> tuple[int, Any, Any, Any, Any]:
    """Devices edge-a and edge-b each send a package named ``pkg-00000001`` for shop S-0001: the
    second merges into the first one's case."""
    a, b = api.device("edge-a"), api.device("edge-b")
    pa = a.package(package_id="pkg-00000001", shop_id="S-0001")
    pb = b.package(package_id="pkg-00000001", shop_id="S-0001")
    ra, rb = a.post(http, pa), b.post(http, pb)
    assert ra.status_code == rb.status_code == 201, (ra.text, rb.text)
    assert rb.json()["case_id"] == ra.json()["case_id"] and rb.json()["merged"] is True
    case_id = int(ra.json()["case_id"])
    _confirm(api, http, case_id)
    return case_id, a, b, pa, pb


def test_two_devices_same_package_id_merged_by_shop_export_holds_both(api, http, tmp_path, capsys):
    case_id, a, b, pa, pb = _merged_case(api, http)
    data = _export(api, http, case_id)
    zf = zipfile.ZipFile(io.BytesIO(data))
    names = zf.namelist()
    assert len(names) == len(set(names))
    for dev, pkg, folder in ((a, pa, A), (b, pb, B)):
        assert zf.read(f"{folder}/manifest.json") == pkg.manifest_bytes
        for name, (_role, _mime, body) in pkg.files.items():
            assert zf.read(f"{folder}/{name}") == body
        assert json.loads(zf.read("devices/index.json"))[dev.device_id] == {
            "key_file": f"devices/{dev.device_id}.pub",
            "fingerprint": key_fingerprint(dev.key.public_key()),
        }
        assert zf.read(f"devices/{dev.device_id}.pub") == _pem(dev.key)
        proof = json.loads(zf.read(f"transparency/inclusion/{folder}.json"))
        assert proof["leaf"]["manifest_hash"] == pkg.hash and proof["leaf"]["device_id"] == dev.device_id
    export_entry = json.loads(zf.read("ledger.json"))[-1]
    assert export_entry["action"] == "case_exported"
    members = export_entry["payload"]["members"]
    documents = {"README.txt", "README.zh-CN.txt", "证据清单.html"}
    assert {m.rsplit("/", 1)[0] for m in members if m not in documents} == {A, B}
    assert {m for m in members if "/" not in m} == documents
    for doc in documents:
        assert members[doc] == sha256_hex(zf.read(doc)), doc
    listing = zf.read("证据清单.html").decode()
    for folder, pkg in ((A, pa), (B, pb)):
        for name, (_role, _mime, body) in pkg.files.items():
            assert sha256_hex(body) in listing and f"{folder}/{name}" in listing, name  # every file, hashed
    assert "supervisor" in listing and "://" not in listing  # the reviewer; nothing fetched from elsewhere
    for img in re.findall(r'<img src="([^"]+)"', listing):
        assert img in names, img  # stills link into the zip itself
    readme_zh = zf.read("README.zh-CN.txt").decode()
    assert "离线核验" in readme_zh and _fingerprint(api) in readme_zh
    assert (
        key_fingerprint(a.key.public_key()) in readme_zh and key_fingerprint(b.key.public_key()) in readme_zh
    )
    assert members[f"{A}/manifest.json"] == pa.hash and members[f"{B}/manifest.json"] == pb.hash
    checkpoint = json.loads(zf.read("transparency/checkpoint.json"))["checkpoint"]
    assert (checkpoint["ledger_seq"], checkpoint["ledger_head_hash"]) == (
        export_entry["seq"],
        export_entry["hash"],
    )
    assert checkpoint["tree_size"] == 2
    assert _fingerprint(api) in zf.read("README.txt").decode()

    path = tmp_path / "case.zip"
    path.write_bytes(data)
    code, out = _verify(capsys, path, "--service-key", _fingerprint(api))
    assert code == 0, out
    assert any(line.startswith(f"OK {A}: violation, device edge-a seq 1 (first of") for line in out), out
    assert any(line.startswith(f"OK {B}: violation, device edge-b seq 1 (first of") for line in out), out
    assert "(pinned)" in out[-1] and "2 package(s) from 2 device(s)" in out[-1]
    # the extracted folder verifies the same way; without a pin the summary says so
    zf.extractall(tmp_path / "x")
    code, out = _verify(capsys, tmp_path / "x")
    assert code == 0 and "NOT pinned" in out[-1], out


# ---------------------------------------------------------------------------------------------
# Tampering: one mutation of the zip each, each found with a one-line reason


@dataclass
class World:
    fingerprint: str
    export: dict[str, bytes]  # the case of edge-a and edge-b
    later: dict[str, bytes]  # the same case exported again after the log grew
    other: dict[str, bytes]  # another case (edge-c)


def _members(data: bytes) -> dict[str, bytes]:
    zf = zipfile.ZipFile(io.BytesIO(data))
    return {n: zf.read(n) for n in zf.namelist()}


def _world(api: Any, http: httpx.Client) -> World:
    case_id, *_ = _merged_case(api, http)
    first = _export(api, http, case_id)
    c = api.device("edge-c")
    other_case = c.post(http, c.package(shop_id="S-0099")).json()["case_id"]
    _confirm(api, http, other_case)
    return World(
        _fingerprint(api),
        _members(first),
        _members(_export(api, http, case_id)),
        _members(_export(api, http, other_case)),
    )


Mutation = Callable[[dict[str, bytes], World], list[tuple[str, bytes]] | None]


def _flip_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x01])


def _tampered_file(z: dict[str, bytes], w: World) -> None:
    z[f"{A}/crop.jpg"] = _flip_byte(z[f"{A}/crop.jpg"])


def _swapped_manifest(z: dict[str, bytes], w: World) -> None:
    z[f"{A}/manifest.json"], z[f"{B}/manifest.json"] = z[f"{B}/manifest.json"], z[f"{A}/manifest.json"]


def _wrong_device_key(z: dict[str, bytes], w: World) -> None:
    stranger = new_key()
    z["devices/edge-a.pub"] = _pem(stranger)
    index = json.loads(z["devices/index.json"])
    index["edge-a"]["fingerprint"] = key_fingerprint(stranger.public_key())
    z["devices/index.json"] = json.dumps(index).encode()


def _device_key_not_the_indexed_one(z: dict[str, bytes], w: World) -> None:
    z["devices/edge-a.pub"] = _pem(new_key())


def _forged_checkpoint(z: dict[str, bytes], w: World) -> None:
    signed = json.loads(z["transparency/checkpoint.json"])
    signed["checkpoint"]["tree_size"] += 1
    z["transparency/checkpoint.json"] = json.dumps(signed).encode()


def _checkpoint_signed_by_another_key(z: dict[str, bytes], w: World) -> None:
    stranger = new_key()
    signed = parse_signed_checkpoint(z["transparency/checkpoint.json"])
    z["transparency/checkpoint.json"] = sign_checkpoint(signed.checkpoint, stranger).to_json_bytes()
    z["transparency/service.pub"] = _pem(stranger)


def _proof_for_another_tree(z: dict[str, bytes], w: World) -> None:
    path = f"transparency/inclusion/{A}.json"
    z[path] = w.later[path]  # a valid proof, for the bigger tree of the later export


def _proof_for_another_tree_relabelled(z: dict[str, bytes], w: World) -> None:
    path = f"transparency/inclusion/{A}.json"
    proof = json.loads(w.later[path])
    proof["tree_size"] = json.loads(z["transparency/checkpoint.json"])["checkpoint"]["tree_size"]
    z[path] = json.dumps(proof).encode()


def _proof_of_another_package(z: dict[str, bytes], w: World) -> None:
    z[f"transparency/inclusion/{A}.json"] = z[f"transparency/inclusion/{B}.json"]


def _package_removed(z: dict[str, bytes], w: World) -> None:
    for name in [n for n in z if n.startswith(A + "/") or n == f"transparency/inclusion/{A}.json"]:
        del z[name]


def _package_of_another_case_added(z: dict[str, bytes], w: World) -> None:
    for name, data in w.other.items():
        if name.startswith("packages/") or name.startswith("transparency/inclusion/"):
            z[name] = data


def _extra_file(z: dict[str, bytes], w: World) -> None:
    z[f"{A}/note.txt"] = b"added later"


def _document_edited(z: dict[str, bytes], w: World) -> None:
    z["证据清单.html"] = z["证据清单.html"].replace("证据清单".encode(), "证据目录".encode())


def _document_removed(z: dict[str, bytes], w: World) -> None:
    del z["README.zh-CN.txt"]


def _unknown_document_added(z: dict[str, bytes], w: World) -> None:
    z["说明.html"] = b"<p>added later</p>"


def _duplicate_member(z: dict[str, bytes], w: World) -> list[tuple[str, bytes]]:
    return [*z.items(), (f"{A}/manifest.json", z[f"{B}/manifest.json"])]


def _ledger_members_edited(z: dict[str, bytes], w: World) -> None:
    entries = json.loads(z["ledger.json"])
    del entries[-1]["payload"]["members"][f"{A}/crop.jpg"]
    z["ledger.json"] = json.dumps(entries).encode()


def _ledger_entry_rehashed_and_package_removed(z: dict[str, bytes], w: World) -> None:
    """The thorough forger: drops a package and recomputes the export entry's hashes."""
    _package_removed(z, w)
    entries = json.loads(z["ledger.json"])
    last = entries[-1]
    last["payload"]["members"] = {k: v for k, v in last["payload"]["members"].items() if not k.startswith(A)}
    last["payload_hash"] = sha256_hex(canonical(last["payload"]))
    import datetime as dt

    last["hash"] = entry_hash(
        seq=last["seq"],
        ts=dt.datetime.fromisoformat(last["ts"].replace("Z", "+00:00")),
        actor=last["actor"],
        action=last["action"],
        case_id=last["case_id"],
        payload_hash=last["payload_hash"],
        prev_hash=last["prev_hash"],
    )
    z["ledger.json"] = json.dumps(entries).encode()


TAMPERING: list[tuple[str, Mutation, str]] = [
    ("tampered file", _tampered_file, f"{A}: file crop.jpg hash mismatch"),
    ("swapped manifest", _swapped_manifest, f"{A}: holds the manifest of {B}"),
    ("wrong device key", _wrong_device_key, "signed by another key"),
    ("device key not the indexed one", _device_key_not_the_indexed_one, "is not device edge-a's fingerprint"),
    ("forged checkpoint", _forged_checkpoint, "checkpoint signature invalid"),
    ("checkpoint signed by another key", _checkpoint_signed_by_another_key, "is not the pinned key"),
    ("proof for another tree", _proof_for_another_tree, "the proof is for a tree of 3 leaves"),
    ("proof for another tree, relabelled", _proof_for_another_tree_relabelled, f"{A}: not proven in the log"),
    ("proof of another package", _proof_of_another_package, "the proof is for manifest"),
    ("package removed", _package_removed, "recorded in the export's ledger entry, missing from the export"),
    ("package of another case added", _package_of_another_case_added, "not among the members"),
    ("extra file in a package", _extra_file, f"{A}: extra file note.txt"),
    ("evidence list edited", _document_edited, "证据清单.html: differs from the SHA-256"),
    (
        "document removed",
        _document_removed,
        "README.zh-CN.txt: recorded in the export's ledger entry, missing",
    ),
    ("unknown document added", _unknown_document_added, "说明.html: not part of a case export"),
    ("duplicate member", _duplicate_member, "holds this member more than once"),
    ("ledger entry edited", _ledger_members_edited, "payload does not match its payload_hash"),
    (
        "ledger entry re-hashed, package removed",
        _ledger_entry_rehashed_and_package_removed,
        "is not the ledger head the checkpoint signs",
    ),
]


def _write_zip(path: Path, items: list[tuple[str, bytes]]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name we write on purpose
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in items:
                zf.writestr(name, data)


@pytest.mark.parametrize(("mutate", "why"), [t[1:] for t in TAMPERING], ids=[t[0] for t in TAMPERING])
def test_tampered_export_fails_with_a_one_line_reason(api, http, tmp_path, capsys, mutate, why):
    world = _world(api, http)
    intact = tmp_path / "intact.zip"
    _write_zip(intact, list(world.export.items()))
    assert _verify(capsys, intact, "--service-key", world.fingerprint)[0] == 0

    z = dict(world.export)
    items = mutate(z, world)
    path = tmp_path / "tampered.zip"
    _write_zip(path, items if items is not None else list(z.items()))
    code, out = _verify(capsys, path, "--service-key", world.fingerprint)
    assert code == 1, out
    assert out[-1].startswith("FAILED: "), out
    assert any(why in line for line in out[:-1]), out
    assert all(line and not line.startswith(" ") for line in out), out  # one line per problem


def test_without_a_pin_a_replaced_service_key_is_reported_unpinned(api, http, tmp_path, capsys):
    """A zip carries its own service key: only the published fingerprint proves whose it is."""
    world = _world(api, http)
    z = dict(world.export)
    _checkpoint_signed_by_another_key(z, world)
    path = tmp_path / "resigned.zip"
    _write_zip(path, list(z.items()))
    code, out = _verify(capsys, path)
    assert code == 0 and "NOT pinned" in out[-1] and world.fingerprint not in out[-1], out
    assert _verify(capsys, path, "--service-key", world.fingerprint)[0] == 1


@pytest.mark.parametrize(
    "second",
    [
        lambda z, tmp: z.text(f"{A}/manifest.json", b"{}"),
        lambda z, tmp: z.file(f"{A}/manifest.json", tmp),
    ],
    ids=["text", "file"],
)
def test_zip_writer_refuses_a_name_twice(tmp_path, second):
    from service.crud.export import ExportError, ZipOut

    src = tmp_path / "f.bin"
    src.write_bytes(b"x")
    with zipfile.ZipFile(io.BytesIO(), "w") as zf:
        z = ZipOut(zf)
        z.text(f"{A}/manifest.json", b"{}")
        with pytest.raises(ExportError, match=f"zip member {A}/manifest.json would be written twice"):
            second(z, src)


def test_export_of_a_package_missing_from_the_log_is_refused_and_changes_nothing(api, http):
    case_id, *_ = _merged_case(api, http)
    with api.state.engine.begin() as conn:
        conn.execute(text("DELETE FROM transparency_leaves WHERE idx = 1"))
    ecase = api.case_system()  # registering it is a ledger entry of its own
    entries = api.count("ledger")
    r = http.get(f"/api/v1/cases/{case_id}/export", headers=ecase)
    assert r.status_code == 500
    assert r.json() == {"detail": f"export refused: {B} not in the transparency log"}
    assert api.count("ledger") == entries and api.count("transparency_checkpoints") == 0
    case = http.get(f"/api/v1/cases/{case_id}", headers=api.user("operator")).json()["case"]
    assert case["status"] == "confirmed"


# ---------------------------------------------------------------------------------------------
# A case holds a subset of a device's chain


def test_case_with_seq_1_5_9_of_a_chain_verifies_where_chain_check_fails(api, http, tmp_path, capsys):
    dev = api.device("edge-01")
    case_id = None
    for seq in range(1, 10):
        r = dev.post(http, dev.package(shop_id="S-CASE" if seq in (1, 5, 9) else f"S-OTHER-{seq}"))
        assert r.status_code == 201, r.text
        if seq == 1:
            case_id = r.json()["case_id"]
        elif seq in (5, 9):
            assert r.json()["case_id"] == case_id
    assert case_id is not None
    _confirm(api, http, case_id)
    path = tmp_path / "case.zip"
    path.write_bytes(_export(api, http, case_id))
    code, out = _verify(capsys, path, "--service-key", _fingerprint(api))
    assert code == 0, out
    assert "device edge-01 seq 1 (first of the device's chain)" in out[0]
    assert "device edge-01 seq 5 (previous (seq 4) is not in this case)" in out[1]
    assert "device edge-01 seq 9 (previous (seq 8) is not in this case)" in out[2]
    assert "log index 8 of 9 leaves" in out[2]
    # --chain keeps its meaning: the device's whole chain, which one case does not hold
    code, out = _verify(capsys, path, "--chain")
    assert code == 1 and any("chain gap at seq 2..4" in line for line in out), out


def test_consecutive_packages_in_a_case_must_link(api, http, tmp_path, capsys):
    """Two consecutive packages of a device in one case: the link is checked and reported."""
    dev = api.device("edge-01")
    first = dev.post(http, dev.package(shop_id="S-1")).json()["case_id"]
    assert dev.post(http, dev.package(shop_id="S-1")).json()["case_id"] == first
    _confirm(api, http, first)
    path = tmp_path / "case.zip"
    path.write_bytes(_export(api, http, first))
    code, out = _verify(capsys, path)
    assert code == 0 and "seq 2 (links to seq 1 in this case)" in out[1], out


def test_public_copy_is_exported_beside_its_original_and_verifies(api, http, tmp_path, capsys):
    dev = api.device("edge-01")
    pkg = dev.package()
    case_id = dev.post(http, pkg).json()["case_id"]
    pub = dev.package(
        kind="public_copy",
        hit_id=pkg.manifest.event.hit_id,
        files={"still-3-confirmed.jpg": files_for("pub")["still-3-confirmed.jpg"]},
        derived_from=DerivedFrom(package_id=pkg.manifest.package_id, manifest_hash=pkg.hash, method="blur"),
        stills=[],
    )
    assert dev.post(http, pub).json()["case_id"] == case_id
    later = dev.package(hit_id=pkg.manifest.event.hit_id, event="still_present")
    assert dev.post(http, later).json()["case_id"] == case_id
    _confirm(api, http, case_id)
    path = tmp_path / "case.zip"
    path.write_bytes(_export(api, http, case_id))
    public = f"public/edge-01-00000002-{pub.hash[:16]}"
    assert zipfile.ZipFile(path).read(f"{public}/manifest.json") == pub.manifest_bytes
    code, out = _verify(capsys, path)
    assert code == 0, out
    assert any(
        line.startswith(f"OK {public}: public_copy") and "(public copy (not in the chain))" in line
        for line in out
    )
    assert any(
        "packages/edge-01-00000002: violation, device edge-01 seq 2 (links to seq 1" in line for line in out
    )


# ---------------------------------------------------------------------------------------------
# The log and the ledger against a checkpoint kept elsewhere


def _rewrite_entry_2(conn: Any) -> None:
    """Edit entry 2 and recompute the chain after it, head included: `nce ledger verify` alone
    cannot tell."""
    import datetime as dt

    rows = conn.execute(
        text("SELECT seq, ts, actor, action, case_id, payload_hash FROM ledger ORDER BY seq")
    ).all()
    prev = None
    for seq, ts, actor, action, case_id, payload_hash in rows:
        if seq == 1:
            prev = conn.execute(text("SELECT hash FROM ledger WHERE seq = 1")).scalar_one()
            continue
        if seq == 2:
            actor = "user:mallory"
        ts = ts if isinstance(ts, dt.datetime) else dt.datetime.fromisoformat(ts)
        digest = entry_hash(
            seq=seq,
            ts=ts.replace(tzinfo=dt.UTC),
            actor=actor,
            action=action,
            case_id=case_id,
            payload_hash=payload_hash,
            prev_hash=prev,
        )
        conn.execute(
            text("UPDATE ledger SET actor = :a, prev_hash = :p, hash = :h WHERE seq = :s"),
            {"a": actor, "p": prev, "h": digest, "s": seq},
        )
        prev = digest
    conn.execute(text("UPDATE ledger_head SET hash = :h WHERE id = 1"), {"h": prev})


def _truncate_ledger_to_2(conn: Any) -> None:
    conn.execute(text("DELETE FROM ledger WHERE seq > 2"))
    head = conn.execute(text("SELECT hash FROM ledger WHERE seq = 2")).scalar_one()
    conn.execute(text("UPDATE ledger_head SET seq = 2, hash = :h WHERE id = 1"), {"h": head})


LOG_TAMPERING: list[tuple[str, Callable[[Any], None], bool, str]] = [
    # (what, edit, does `nce ledger verify` alone (chain and replay) still pass?, reason with --checkpoint)
    # a tail cut from the ledger leaves the tables ahead of it: the replay alone finds that too
    ("ledger truncated below the checkpoint, head rewound", _truncate_ledger_to_2, False, "ledger truncated"),
    (
        "ledger entry rewritten, chain recomputed",
        _rewrite_entry_2,
        True,
        "ledger rewritten: entry 4",
    ),  # the head it signed
    (
        "log truncated",
        lambda conn: conn.execute(text("DELETE FROM transparency_leaves WHERE idx >= 2")),
        True,
        "log truncated: it holds 2 leaves",
    ),
    (
        "log leaf edited",
        lambda conn: conn.execute(
            text("UPDATE transparency_leaves SET received_at = '2020-01-01T00:00:00.000Z' WHERE idx = 1")
        ),
        True,
        "leaf 1 does not hash to its stored leaf hash",
    ),
    (
        "log leaf replaced with its hash",
        lambda conn: conn.execute(
            text("UPDATE transparency_leaves SET manifest_hash = :m, leaf_hash = :h WHERE idx = 0"),
            {"m": "ab" * 32, "h": _leaf_hash_for("ab" * 32, conn)},
        ),
        True,
        "log rewritten",
    ),
]


def _leaf_hash_for(manifest_hash: str, conn: Any) -> str:
    from nce.transparency import LogLeaf

    device_id, sequence, received_at = conn.execute(
        text("SELECT device_id, sequence, received_at FROM transparency_leaves WHERE idx = 0")
    ).one()
    leaf = LogLeaf(
        device_id=device_id, sequence=sequence, manifest_hash=manifest_hash, received_at=received_at
    )
    return leaf.hash().hex()


@pytest.mark.parametrize(
    ("edit", "chain_alone_passes", "why"), [t[1:] for t in LOG_TAMPERING], ids=[t[0] for t in LOG_TAMPERING]
)
def test_log_or_ledger_tampered_after_a_checkpoint_is_found(
    api, http, tmp_path, capsys, edit, chain_alone_passes, why
):
    dev = api.device()
    for _ in range(3):
        assert dev.post(http, dev.package()).status_code == 201
    key_file = str(api.state.settings.service_key_file)
    cp = tmp_path / "checkpoint.json"
    assert nce_main(["ledger", "checkpoint", "--db", api.url, "--key-file", key_file, "--out", str(cp)]) == 0
    signed = parse_signed_checkpoint(cp.read_bytes())
    assert json.loads(capsys.readouterr().out) == signed.model_dump(mode="json")
    assert (signed.checkpoint.tree_size, signed.checkpoint.ledger_seq) == (3, 1 + 3)  # the enrolment, 3
    for _ in range(2):  # the log and the ledger grow after the checkpoint
        assert dev.post(http, dev.package()).status_code == 201
    assert (
        nce_main(
            ["ledger", "verify", "--db", api.url, "--checkpoint", str(cp), "--service-key", _fingerprint(api)]
        )
        == 0
    )
    assert "log and ledger match the checkpoint" in capsys.readouterr().out

    with api.state.engine.begin() as conn:
        edit(conn)
    assert (nce_main(["ledger", "verify", "--db", api.url]) == 0) is chain_alone_passes
    capsys.readouterr()
    assert nce_main(["ledger", "verify", "--db", api.url, "--checkpoint", str(cp)]) == 1
    out = capsys.readouterr().out
    assert any(line.startswith("checkpoint MISMATCH: ") and why in line for line in out.splitlines()), out


def test_forged_or_foreign_checkpoint_file_is_refused(api, tmp_path, capsys):
    dev = api.device()
    dev.post(api.client, dev.package()).raise_for_status()
    key_file = str(api.state.settings.service_key_file)
    cp = tmp_path / "checkpoint.json"
    assert nce_main(["ledger", "checkpoint", "--db", api.url, "--key-file", key_file, "--out", str(cp)]) == 0
    capsys.readouterr()
    forged = json.loads(cp.read_bytes())
    forged["checkpoint"]["tree_size"] = 0
    bad = tmp_path / "forged.json"
    bad.write_text(json.dumps(forged))
    assert nce_main(["ledger", "verify", "--db", api.url, "--checkpoint", str(bad)]) == 1
    assert "checkpoint signature invalid" in capsys.readouterr().out
    assert (
        nce_main(["ledger", "verify", "--db", api.url, "--checkpoint", str(cp), "--service-key", "0" * 64])
        == 1
    )
    assert "not by the pinned key" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# The log itself: one leaf per accepted package, none for a refused one, gap-free under load


def test_refused_packages_leave_no_leaf_and_concurrent_ingest_is_gap_free(api, http):
    from concurrent.futures import ThreadPoolExecutor

    devices = [api.device(f"edge-{i}") for i in range(4)]
    plans = {d.device_id: [d.package(shop_id=f"S-{i}") for _ in range(3)] for i, d in enumerate(devices)}

    def deliver(dev: Any) -> None:
        with httpx.Client(base_url=str(http.base_url), timeout=60) as client:
            for pkg in plans[dev.device_id]:
                assert dev.post(client, pkg).status_code == 201

    with ThreadPoolExecutor(max_workers=4) as pool:
        for f in [pool.submit(deliver, d) for d in devices]:
            f.result()
    replay = devices[0].post(http, plans["edge-0"][0], key="another-key")
    assert replay.status_code == 422
    gap = devices[1].package(prev="f" * 64)  # the next sequence with a wrong prev hash: a chain break
    assert devices[1].post(http, gap).status_code == 422
    with api.state.engine.connect() as conn:
        idx = [r[0] for r in conn.execute(text("SELECT idx FROM transparency_leaves ORDER BY idx"))]
        logged = {r[0] for r in conn.execute(text("SELECT manifest_hash FROM transparency_leaves"))}
        packages = {r[0] for r in conn.execute(text("SELECT manifest_hash FROM hit_events"))}
    assert idx == list(range(12)) and logged == packages and len(packages) == 12


def _as_before_documents(z: dict[str, bytes], key: Any, *, keep_zh: bool) -> None:
    """The export as the service wrote it before the documents were recorded: the entry's members
    are the package files only (re-hashed, and the checkpoint re-signed with the service's own key)."""
    import datetime as dt

    for doc in ("证据清单.html", *(() if keep_zh else ("README.zh-CN.txt",))):
        del z[doc]
    entries = json.loads(z["ledger.json"])
    last = entries[-1]
    last["payload"]["members"] = {k: v for k, v in last["payload"]["members"].items() if "/" in k}
    last["payload_hash"] = sha256_hex(canonical(last["payload"]))
    last["hash"] = entry_hash(
        seq=last["seq"],
        ts=dt.datetime.fromisoformat(last["ts"].replace("Z", "+00:00")),
        actor=last["actor"],
        action=last["action"],
        case_id=last["case_id"],
        payload_hash=last["payload_hash"],
        prev_hash=last["prev_hash"],
    )
    z["ledger.json"] = json.dumps(entries).encode()
    cp = parse_signed_checkpoint(z["transparency/checkpoint.json"]).checkpoint
    z["transparency/checkpoint.json"] = sign_checkpoint(
        cp.model_copy(update={"ledger_head_hash": last["hash"]}), key
    ).to_json_bytes()


@pytest.mark.parametrize(
    ("keep_zh", "problem"), [(False, None), (True, "README.zh-CN.txt: in the export but not")]
)
def test_an_export_from_before_the_documents_verifies(api, http, tmp_path, capsys, keep_zh, problem):
    """Its README.txt was never recorded and passes; a document of today's layout must be recorded."""
    z = _world(api, http).export
    _as_before_documents(z, api.state.transparency.key, keep_zh=keep_zh)
    path = tmp_path / "old.zip"
    _write_zip(path, list(z.items()))
    code, out = _verify(capsys, path, "--service-key", _fingerprint(api))
    if problem is None:
        assert code == 0, out
    else:
        assert code == 1 and any(problem in line for line in out), out
