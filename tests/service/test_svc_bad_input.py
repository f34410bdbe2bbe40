"""Every bad upload: a 4xx with a reason, and nothing stored (no rows, no files, no ledger entry)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from service.evidence_gc import collect
from tests.support.devices import JPEG, DeviceHandle, Package, files_for

BIG = 2 * 1024 * 1024 + 1  # the test app accepts 2 MiB


def _parts(pkg: Package) -> list[tuple[str, tuple[str, bytes, str]]]:
    return pkg.multipart()


def _raw_manifest(dev: DeviceHandle, edit: Callable[[dict[str, Any]], None]) -> list[Any]:
    pkg = dev.package(advance=False)
    doc = json.loads(pkg.manifest_bytes)
    edit(doc)
    parts = _parts(pkg)
    parts[0] = ("manifest", ("manifest.json", json.dumps(doc).encode(), "application/json"))
    return parts


def _swap_file(dev: DeviceHandle, name: str, data: bytes) -> list[Any]:
    parts = _parts(dev.package(advance=False))
    return [(n, (n, data, v[2])) if n == name else (n, v) for n, v in parts]


# (id, build(dev) -> (files, extra request kwargs), expected status, words in the reason)
CASES: list[tuple[str, Callable[[DeviceHandle], Any], int, str]] = [
    (
        "oversized",
        lambda d: _swap_file(d, "clip.mp4", b"\x00\x00\x00\x20ftyp" + b"x" * BIG),
        413,
        "larger than",
    ),
    ("json-instead-of-multipart", lambda d: {"json": {"manifest": {}}}, 415, "multipart/form-data"),
    ("missing-manifest", lambda d: _parts(d.package(advance=False))[1:], 422, "manifest"),
    (
        "two-manifests",
        lambda d: [_parts(d.package(advance=False))[0], *_parts(d.package(advance=False))],
        422,
        "exactly one",
    ),
    (
        "missing-file-part",
        lambda d: _parts(d.package(advance=False))[:-1],
        422,
        "missing part for file clip.mp4",
    ),
    (
        "extra-part",
        lambda d: [*_parts(d.package(advance=False)), ("notes.txt", ("notes.txt", b"hi", "text/plain"))],
        422,
        "extra part notes.txt",
    ),
    (
        "path-like-part",
        lambda d: [*_parts(d.package(advance=False)), ("../../etc/passwd", ("passwd", b"x", "text/plain"))],
        422,
        "safe file name",
    ),
    (
        "path-like-name-in-manifest",
        lambda d: _raw_manifest(d, lambda m: m["files"][0].update(name="../x.jpg")),
        422,
        "manifest",
    ),
    (
        "invalid-json",
        lambda d: [("manifest", ("manifest.json", b"{not json", "application/json"))],
        422,
        "not valid JSON",
    ),
    ("unknown-field", lambda d: _raw_manifest(d, lambda m: m.update(surprise=1)), 422, "surprise"),
    (
        "edited-field-breaks-signature",
        lambda d: _raw_manifest(d, lambda m: m.update(shop_id="S-9999")),
        401,
        "signature",
    ),
    ("hash-mismatch", lambda d: _swap_file(d, "crop.jpg", JPEG + b"tampered" + b"x" * 192), 422, "crop.jpg"),
    ("wrong-magic", lambda d: _wrong_type(d), 415, "still-1-first_seen.jpg"),
    (
        "field-instead-of-file",
        lambda d: [
            (n, v[1].decode("latin-1")) if n == "crop.jpg" else (n, v)
            for n, v in _parts(d.package(advance=False))
        ],
        422,
        "crop.jpg",
    ),
    (
        "no-idempotency-key",
        lambda d: {"files": _parts(d.package(advance=False)), "no_key": True},
        422,
        "Idempotency-Key",
    ),
    (
        "empty-body",
        lambda d: {"content": b"", "headers": {"Content-Type": "multipart/form-data; boundary=x"}},
        422,
        "manifest",
    ),
    (
        "garbage-multipart",
        lambda d: {
            "content": b"--x\r\nnonsense",
            "headers": {"Content-Type": "multipart/form-data; boundary=x"},
        },
        422,
        "manifest",
    ),
]


def _wrong_type(dev: DeviceHandle) -> list[Any]:
    files = files_for("png-as-jpeg")
    role, mime, _ = files["still-1-first_seen.jpg"]
    files["still-1-first_seen.jpg"] = (role, mime, b"\x89PNG\r\n\x1a\n" + b"p" * 100)
    return _parts(dev.package(files=files, advance=False))


@pytest.mark.parametrize(("build", "status", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_upload_is_refused_and_nothing_is_stored(api, build, status, words):
    dev = api.device()
    spec = build(dev)
    headers = {**dev.headers, "Idempotency-Key": "bad-1"}
    if isinstance(spec, list):
        spec = {"files": spec}
    if spec.pop("no_key", False):
        headers.pop("Idempotency-Key")
    headers.update(spec.pop("headers", {}))
    tables = ("hit_events", "evidence_files", "cases", "idempotency_keys", "ledger")
    before = {t: api.count(t) for t in tables}  # the ledger already holds the device's enrolment
    r = api.client.post("/api/v1/hits", headers=headers, **spec)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert words in (detail if isinstance(detail, str) else json.dumps(detail)), detail
    assert api.stored_files() == 0
    assert {t: api.count(t) for t in tables} == before == {**dict.fromkeys(tables, 0), "ledger": 1}
    # and the device can still deliver its next package
    assert dev.post(api.client, dev.package()).status_code == 201


def _replay(api, dev):
    pkg = dev.history[-1]
    return dev.post(api.client, pkg, key="another-key")


def _reorder(api, dev):
    dev.seq -= 1  # a package older than the last accepted one
    return dev.post(api.client, dev.package(prev=dev.history[-2].hash), key="reordered")


def _relink(api, dev):
    return dev.post(api.client, dev.package(prev="cd" * 32))


def _key_reuse(api, dev):
    first = dev.history[-1]
    return dev.post(
        api.client,
        dev.package(advance=False),
        key=f"{dev.device_id}:{first.manifest.sequence}:{first.manifest.package_id}",
    )


CHAIN_CASES = [
    ("replayed", _replay, 422, "replayed"),
    ("reordered", _reorder, 422, "out of order"),
    ("relinked", _relink, 422, "chain break"),
    ("idempotency-key-reused", _key_reuse, 422, "Idempotency-Key"),
]


@pytest.mark.parametrize(
    ("send", "status", "words"), [c[1:] for c in CHAIN_CASES], ids=[c[0] for c in CHAIN_CASES]
)
def test_chain_rejections_store_nothing(api, send, status, words):
    """Refused inside the transaction, after the files were uploaded (uploads precede it): rows and
    ledger stay as they were, and what the request uploaded is named by no row, so the garbage
    collection removes exactly that and nothing else."""
    dev = api.device()
    for _ in range(2):
        assert dev.post(api.client, dev.package()).status_code == 201
    before = {
        t: api.count(t) for t in ("hit_events", "evidence_files", "cases", "idempotency_keys", "ledger")
    }
    files_before = api.state.store.count()
    r = send(api, dev)
    assert r.status_code == status and words in r.json()["detail"], r.text
    assert {t: api.count(t) for t in before} == before
    assert api.state.store.staged_count() == 0
    with api.session() as s:
        collect(api.state.store, s, older_than_hours=0)
    assert api.state.store.count() == files_before
