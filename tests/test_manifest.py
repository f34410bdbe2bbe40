"""The evidence manifest contract: canonical JSON, keys, signing, verification, chain, schema."""

from __future__ import annotations

import datetime as dt
import json
import math
import stat
import sys
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import nce.manifest as nm
from nce.manifest import (
    GENESIS_HASH,
    MANIFEST_NAME,
    ManifestError,
    SignatureInvalid,
    canonical_json,
    is_safe_name,
    manifest_hash,
    parse_manifest,
    verify_chain,
    verify_files,
    verify_package_dir,
    verify_signature,
)
from nce.times import utc_ms
from tests.support.manifests import FILES, make_manifest, make_package, make_signed

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def other_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


# ---------------------------------------------------------------------------------------------
# canonical JSON (RFC 8785)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # RFC 8785 appendix B number vectors (as IEEE doubles)
        (0.0, "0"),
        (-0.0, "0"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (9007199254740991, "9007199254740991"),
        (-9007199254740991, "-9007199254740991"),
        (295147905179352830000.0, "295147905179352830000"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (9.999999999999997e22, "9.999999999999997e+22"),
        (1e-7, "1e-7"),
        (1e-6, "0.000001"),
        (0.002, "0.002"),
        (4.5, "4.5"),
        (333333333.3333333, "333333333.3333333"),
        (-1.5e-9, "-1.5e-9"),
        (5.0, "5"),
        (100.0, "100"),
        (True, "true"),
        (None, "null"),
        # strings: only ", \ and controls are escaped; everything else is literal UTF-8
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("\n\t\b\f\r\x01\x1f", '"\\n\\t\\b\\f\\r\\u0001\\u001f"'),
        ("\x7f€\u2028中文", '"\x7f€\u2028中文"'),
        # no whitespace; key order by UTF-16 code units (😀 = D83D DE00 sorts before U+FB33)
        ({"b": [1, 2.5, {}], "a": {"z": None, "y": "x"}}, '{"a":{"y":"x","z":null},"b":[1,2.5,{}]}'),
        ({"\ufb33": 1, "\U0001f600": 2, "\u20ac": 3, "\r": 4, "1": 5}, '{"\\r":4,"1":5,"€":3,"😀":2,"דּ":1}'),
    ],
)
def test_canonical_json_vectors(value: Any, expected: str) -> None:
    assert canonical_json(value) == expected.encode("utf-8")


def test_canonical_json_rfc8785_example_object() -> None:
    # RFC 8785 §3.2.2: the sample input and its canonical output
    data = json.loads(
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(data) == expected.encode("utf-8")


@pytest.mark.parametrize(
    "bad",
    [math.nan, math.inf, 2**53, "\ud800", {1: "x"}, b"bytes", {"k\udc00": 1}, [{"a": ["x\udfff"]}]],
)
def test_canonical_json_rejects(bad: Any) -> None:
    with pytest.raises(ManifestError):
        canonical_json(bad)


def test_canonical_json_names_the_string_with_a_lone_surrogate() -> None:
    # the text is checked once, at its encoding; the message still names the string
    with pytest.raises(ManifestError, match="lone surrogate in 'b\\\\udc00'"):
        canonical_json({"a": ["ok", {"z": "b\udc00"}]})


def test_canonical_json_of_other_mappings_sequences_and_subclasses() -> None:
    # the exact built-in types have a fast path; anything else takes the general rules, same bytes
    class Text(str):
        pass

    value = {"b": ("x", 1), "a": MappingProxyType({"\U0001f600": Text("t"), "\ufb33": [True]})}
    assert canonical_json(value) == '{"a":{"\U0001f600":"t","\ufb33":[true]},"b":["x",1]}'.encode()


# ---------------------------------------------------------------------------------------------
# names, keys


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("still-1.jpg", True),
        ("clip.mp4", True),
        ("A_b-3.x", True),
        ("../x.jpg", False),
        ("a/b.jpg", False),
        ("a\\b.jpg", False),
        ("a..b", False),
        (".hidden", False),
        ("", False),
        ("中文.jpg", False),
        ("a b.jpg", False),
        ("x" * 129, False),
    ],
)
def test_safe_names(name: str, ok: bool) -> None:
    assert is_safe_name(name) is ok


def test_key_files(tmp_path: Path) -> None:
    key = nm.generate_private_key()
    kpath = nm.save_private_key(key, tmp_path / "d.key")
    ppath = nm.save_public_key(key.public_key(), tmp_path / "d.pub")
    assert stat.S_IMODE(kpath.stat().st_mode) == 0o600
    loaded = nm.load_private_key(kpath)
    assert nm.key_fingerprint(loaded.public_key()) == nm.key_fingerprint(nm.load_public_key(ppath))
    # the public key also loads from the base64 text the manifest carries
    b64 = nm.public_key_b64(key.public_key()).encode()
    assert nm.key_fingerprint(nm.load_public_key(b64)) == nm.key_fingerprint(key.public_key())
    with pytest.raises(ManifestError, match="refusing to overwrite"):
        nm.save_private_key(key, kpath)
    (tmp_path / "junk.key").write_text("not a key")
    with pytest.raises(ManifestError, match=r"junk\.key"):
        nm.load_private_key(tmp_path / "junk.key")


# ---------------------------------------------------------------------------------------------
# signing


def test_sign_verify_roundtrip(key: Ed25519PrivateKey) -> None:
    m = make_signed(key)
    used = verify_signature(m)
    assert used.source == "manifest"
    assert verify_signature(m, key.public_key()).source == "given"
    # the file form parses back to the same manifest (normal form) with the same hash
    again = parse_manifest(m.to_json_bytes())
    assert manifest_hash(again) == manifest_hash(m)
    verify_signature(json.loads(m.to_json_bytes()))  # a plain dict verifies the same
    # the signature covers everything but the signature block
    assert b'"signature"' not in nm.signing_payload(m)


def test_edited_field_breaks_signature(key: Ed25519PrivateKey) -> None:
    data = json.loads(make_signed(key).to_json_bytes())
    data["camera"]["name"] = "另一个摄像头"
    with pytest.raises(SignatureInvalid, match="signature invalid"):
        verify_signature(parse_manifest(json.dumps(data)))


def test_other_key(key: Ed25519PrivateKey, other_key: Ed25519PrivateKey) -> None:
    m = make_signed(other_key)
    verify_signature(m)  # consistent in itself …
    with pytest.raises(SignatureInvalid, match="signed by another key"):
        verify_signature(m, key.public_key())  # … but not by this device


def test_swapped_public_key_is_caught(key: Ed25519PrivateKey, other_key: Ed25519PrivateKey) -> None:
    data = json.loads(make_signed(key).to_json_bytes())
    data["signature"]["public_key"] = nm.public_key_b64(other_key.public_key())
    with pytest.raises(SignatureInvalid, match="fingerprint"):
        verify_signature(data)
    data["signature"]["key_fingerprint"] = nm.key_fingerprint(other_key.public_key())
    with pytest.raises(SignatureInvalid, match="signature invalid"):
        verify_signature(data)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d.update(extra_field=1), "extra_field"),
        (lambda d: d.pop("zone"), "zone"),
        (lambda d: d.update(schema_version=2), "schema_version"),
        (lambda d: d["files"][0].update(name="../etc/passwd"), "files.0.name"),
        (lambda d: d["files"][0].update(name="manifest.json"), "reserved"),
        (lambda d: d["event"].update(ts="2026-11-26 08:00:00"), "event.ts"),
        (lambda d: d.update(sequence=0), "sequence"),
        (lambda d: d["stills"][0].update(raw="nope.jpg"), "not among files"),
        (lambda d: d["model"].update(conf="0.35"), "model.conf"),
    ],
)
def test_parse_rejects(key: Ed25519PrivateKey, edit: Any, match: str) -> None:
    data = json.loads(make_signed(key).to_json_bytes())
    edit(data)
    with pytest.raises(ManifestError, match=match):
        parse_manifest(json.dumps(data))


def test_parse_rejects_non_normal_form(key: Ed25519PrivateKey) -> None:
    data = json.loads(make_signed(key).to_json_bytes())
    data.pop("notes")  # has no default … but ocr may be omitted? no: every field must be present
    with pytest.raises(ManifestError):
        parse_manifest(json.dumps(data))
    data = json.loads(make_signed(key).to_json_bytes())
    del data["software"]["name"]  # has a default: parses, but would not hash as signed
    with pytest.raises(ManifestError, match="normal form"):
        parse_manifest(json.dumps(data))


# ---------------------------------------------------------------------------------------------
# package folders: each tamper case has its own error


def _tamper_byte(folder: Path) -> None:
    p = folder / "still-2-between.jpg"
    data = bytearray(p.read_bytes())
    data[50] ^= 0x01
    p.write_bytes(bytes(data))


def _edit_field(folder: Path) -> None:
    p = folder / MANIFEST_NAME
    data = json.loads(p.read_bytes())
    data["event"]["first_seen"] = "2026-11-26T08:04:00.123Z"
    p.write_bytes(canonical_json(data))


@pytest.mark.parametrize(
    ("tamper", "codes", "text"),
    [
        (_tamper_byte, ["hash_mismatch"], "file still-2-between.jpg hash mismatch"),
        (lambda f: (f / "crop.jpg").unlink(), ["missing_file"], "missing file crop.jpg"),
        (lambda f: (f / "added.jpg").write_bytes(b"x"), ["extra_file"], "extra file added.jpg"),
        (_edit_field, ["signature_invalid"], "signature invalid"),
        (lambda f: (f / "clip.mp4").write_bytes(b"short"), ["size_mismatch", "hash_mismatch"], "size 5"),
        (lambda f: (f / MANIFEST_NAME).write_text("{"), ["manifest_invalid"], "not valid JSON"),
    ],
)
def test_package_tamper_cases(
    tmp_path: Path, key: Ed25519PrivateKey, tamper: Any, codes: list[str], text: str
) -> None:
    folder, _ = make_package(tmp_path, key)
    ok = verify_package_dir(folder, key.public_key())
    assert ok.ok, ok.problems
    assert ok.key_used is not None and ok.key_used.source == "given"
    assert ok.files_checked == len(FILES)
    tamper(folder)
    report = verify_package_dir(folder)
    assert report.codes() == codes
    assert text in "; ".join(str(p) for p in report.problems)


def test_package_signed_by_other_key(
    tmp_path: Path, key: Ed25519PrivateKey, other_key: Ed25519PrivateKey
) -> None:
    folder, _ = make_package(tmp_path, other_key)
    assert verify_package_dir(folder).ok  # integrity holds with the manifest's own key
    report = verify_package_dir(folder, key.public_key())
    assert report.codes() == ["wrong_key"]


def test_verify_files_for_uploads(key: Ed25519PrivateKey) -> None:
    m = make_signed(key)
    parts = {n: data for n, (_r, _m, data) in FILES.items()}
    assert verify_files(m, parts) == []
    parts["crop.jpg"] = parts["crop.jpg"][:-1] + b"X"
    del parts["clip.mp4"]
    parts["../evil"] = b"x"
    parts["extra.jpg"] = b"x"
    codes = sorted(p.code for p in verify_files(m, parts))
    assert codes == ["extra_file", "hash_mismatch", "missing_file", "unsafe_name"]


# ---------------------------------------------------------------------------------------------
# chain


def _chain(key: Ed25519PrivateKey, n: int) -> list[nm.Manifest]:
    out: list[nm.Manifest] = []
    prev = GENESIS_HASH
    for seq in range(1, n + 1):
        m = make_signed(key, sequence=seq, prev_hash=prev)
        out.append(m)
        prev = manifest_hash(m)
    return out


def test_chain_ok_and_gap(key: Ed25519PrivateKey) -> None:
    chain = _chain(key, 4)
    assert verify_chain(chain, from_genesis=True) == []
    gap = verify_chain([chain[0], chain[1], chain[3]])
    assert [p.code for p in gap] == ["chain_gap"]
    assert "chain gap at seq 3" in gap[0].message


def test_chain_break_and_duplicate(key: Ed25519PrivateKey) -> None:
    chain = _chain(key, 3)
    forged = make_signed(key, sequence=3, prev_hash="1" * 64)
    assert [p.code for p in verify_chain([chain[0], chain[1], forged])] == ["chain_break"]
    assert [p.code for p in verify_chain([*chain, chain[2]])] == ["chain_duplicate"]
    assert [p.code for p in verify_chain(chain[1:], from_genesis=True)] == ["chain_start"]


# ---------------------------------------------------------------------------------------------
# schema and import hygiene


def test_schema_file_in_sync() -> None:
    path = ROOT / "docs" / "evidence-manifest.schema.json"
    assert path.read_text(encoding="utf-8") == nm.manifest_schema_text(), (
        "docs/evidence-manifest.schema.json is stale: run `nce evidence schema > docs/evidence-manifest.schema.json`"
    )


def test_manifest_imports_no_heavy_libraries() -> None:
    import subprocess

    code = (
        "import sys, nce.manifest; "
        "bad = [m for m in ('numpy', 'cv2', 'fastapi', 'sqlalchemy', 'PIL') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_unsigned_manifest(tmp_path: Path) -> None:
    m = make_manifest()
    with pytest.raises(SignatureInvalid, match="not signed"):
        verify_signature(m)


def test_canonical_json_matches_reference_implementation() -> None:
    """Against the rfc8785 package (Trail of Bits), where installed: random doubles (all bit
    patterns), strings across the planes, nested objects."""
    rfc8785 = pytest.importorskip("rfc8785")
    import random
    import struct

    rng = random.Random(8785)

    def a_float() -> float:
        while True:
            f: float = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
            if math.isfinite(f):
                return f

    def a_str() -> str:
        ranges = [(0, 0x7F), (0x80, 0xD7FF), (0xE000, 0xFFFF), (0x10000, 0x10FFFF)]
        return "".join(chr(rng.randint(*rng.choice(ranges))) for _ in range(rng.randint(0, 6)))

    for _ in range(3000):
        value = {
            a_str(): [a_float(), a_str(), rng.randint(-(2**53) + 1, 2**53 - 1), None, False] for _ in range(3)
        }
        assert canonical_json(value) == rfc8785.dumps(value)


def test_documented_procedure_verifies_without_nce(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    """docs/evidence.md's recipe, with a JCS library and plain Ed25519: no NCE code involved."""
    import base64
    import hashlib

    rfc8785 = pytest.importorskip("rfc8785")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    folder, _ = make_package(tmp_path, key)
    raw = (folder / MANIFEST_NAME).read_bytes()
    doc = json.loads(raw)
    block = doc.pop("signature")
    pub_raw = base64.b64decode(block["public_key"])
    assert hashlib.sha256(pub_raw).hexdigest() == block["key_fingerprint"]
    Ed25519PublicKey.from_public_bytes(pub_raw).verify(
        base64.b64decode(block["signature"]), rfc8785.dumps(doc)
    )
    for f in json.loads(raw)["files"]:
        assert hashlib.sha256((folder / f["name"]).read_bytes()).hexdigest() == f["sha256"]
    # manifest.json is canonical: its SHA-256 is the manifest hash the next package chains to
    assert hashlib.sha256(raw).hexdigest() == manifest_hash(json.loads(raw))


@pytest.mark.parametrize(
    ("moment", "written"),
    [
        (dt.datetime(2026, 11, 26, 8, 0, 0, 123456, tzinfo=dt.UTC), "2026-11-26T08:00:00.123Z"),
        (
            dt.datetime(2026, 11, 26, 16, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))),
            "2026-11-26T08:00:00.000Z",
        ),
    ],
)
def test_one_time_format(moment: dt.datetime, written: str) -> None:

    assert utc_ms(moment) == written


def test_time_format_refuses_naive() -> None:

    with pytest.raises(ValueError, match="aware datetime"):
        utc_ms(dt.datetime(2026, 11, 26, 8, 0))
