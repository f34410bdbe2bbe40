"""The service on both evidence stores (a local folder; a real S3 server, SeaweedFS), SQLite and
PostgreSQL: ingest, download (whole, ranges, 416), export, the frame pool's images; a commit that
fails after the upload leaves no row naming a missing object; ``nce admin gc-evidence`` keeps every
named object and removes an orphan only once it is older than the grace period."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from typing import Any

import pytest
from sqlalchemy import select

from nce.cli import main as nce_main
from service.crud import ingest
from service.evidence_gc import collect, named_digests
from service.evidence_s3 import S3EvidenceStore
from service.models import EvidenceFile
from tests.support.images import jpeg


def _ingested(api: Any) -> tuple[Any, dict[str, Any], int]:
    dev = api.device("edge-01")
    pkg = dev.package()
    r = dev.post(api.client, pkg)
    assert r.status_code == 201, r.text
    detail = api.client.get(f"/api/v1/cases/{r.json()['case_id']}", headers=api.user("operator")).json()
    [hit] = detail["hits"]
    return pkg, {f["name"]: f for f in hit["files"]}, int(r.json()["case_id"])


def test_ingest_stores_every_file_and_serves_it(store_api: Any) -> None:
    pkg, files, _case = _ingested(store_api)
    assert store_api.state.store.count() == 6 and store_api.state.store.staged_count() == 0
    op = store_api.user("operator")
    for name, (_role, mime, body) in pkg.files.items():
        got = store_api.client.get(files[name]["url"], headers=op)
        assert got.status_code == 200 and got.content == body, name
        assert got.headers["content-type"] == mime and got.headers["content-length"] == str(len(body))
    manifest = store_api.client.get(files["manifest.json"]["url"], headers=op)
    assert manifest.content == pkg.manifest_bytes


RANGES = [  # Range header, status, the bytes it asks for (None: 416)
    ("bytes=0-9", 206, slice(0, 10)),
    ("bytes=10-", 206, slice(10, None)),
    ("bytes=-5", 206, slice(-5, None)),
    ("bytes=3-100000000", 206, slice(3, None)),
    ("bytes=100000000-", 416, None),
    ("bytes=-0", 416, None),
    ("bytes=0-0", 206, slice(0, 1)),
    ("bytes=-100000000", 206, slice(0, None)),
]


def test_clip_download_honours_range(store_api: Any) -> None:
    pkg, files, _case = _ingested(store_api)
    body = pkg.files["clip.mp4"][2]
    op = store_api.user("operator")
    for header, status, part in RANGES:
        got = store_api.client.get(files["clip.mp4"]["url"], headers={**op, "Range": header})
        assert got.status_code == status, (header, got.text)
        if part is None:
            assert got.headers["content-range"] == f"bytes */{len(body)}"
            continue
        want = body[part]
        start = len(body) - len(want) if (part.start or 0) < 0 else (part.start or 0)
        assert got.content == want, header
        assert got.headers["content-length"] == str(len(want)), header
        if status == 206:
            assert got.headers["content-range"] == f"bytes {start}-{start + len(want) - 1}/{len(body)}"
    etag = store_api.client.get(files["clip.mp4"]["url"], headers=op).headers["etag"]
    same = store_api.client.get(
        files["clip.mp4"]["url"], headers={**op, "Range": "bytes=0-0", "If-Range": etag}
    )
    other = store_api.client.get(
        files["clip.mp4"]["url"], headers={**op, "Range": "bytes=0-0", "If-Range": '"x"'}
    )
    assert (same.status_code, same.content) == (206, body[:1])
    assert (other.status_code, other.content) == (200, body)


@pytest.mark.parametrize("store_api", ["s3"], indirect=True)  # a local store's files go out as FileResponse
def test_an_s3_download_asks_the_store_once(store_api: Any) -> None:
    """Whole, a range, If-Range (matching or not): one GET each, whose answer carries the size; no
    HEAD before it. Only a range past the end looks the size up (for its 416)."""
    assert isinstance(store_api.state.store, S3EvidenceStore)
    pkg, files, _case = _ingested(store_api)
    body, url = pkg.files["clip.mp4"][2], files["clip.mp4"]["url"]
    op = store_api.user("operator")
    etag = store_api.client.get(url, headers=op).headers["etag"]
    calls: list[str] = []
    events = store_api.state.store.client.meta.events
    events.register("before-call.s3", lambda model, **_: calls.append(model.name))
    asks = [
        ({}, 200, body, ["GetObject"]),
        ({"Range": "bytes=2-5"}, 206, body[2:6], ["GetObject"]),
        ({"Range": "bytes=-3"}, 206, body[-3:], ["GetObject"]),
        ({"Range": "bytes=9-3"}, 200, body, ["GetObject"]),  # an invalid range is ignored
        ({"Range": "bytes=0-1,4-5"}, 200, body, ["GetObject"]),  # several: the whole
        ({"Range": "bytes=0-0", "If-Range": etag}, 206, body[:1], ["GetObject"]),
        ({"Range": "bytes=0-0", "If-Range": '"x"'}, 200, body, ["GetObject"]),
        ({"Range": "bytes=100000000-"}, 416, b"", ["GetObject", "HeadObject"]),
    ]
    for headers, status, content, requests in asks:
        calls.clear()
        got = store_api.client.get(url, headers={**op, **headers})
        assert (got.status_code, got.content, calls) == (status, content, requests), headers


def test_export_reads_through_the_store(store_api: Any) -> None:
    pkg, _files, case_id = _ingested(store_api)
    store_api.client.post(
        f"/api/v1/cases/{case_id}/review", json={"decision": "confirm"}, headers=store_api.user("supervisor")
    ).raise_for_status()
    r = store_api.client.get(f"/api/v1/cases/{case_id}/export", headers=store_api.case_system())
    assert r.status_code == 200, r.text
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    assert zf.testzip() is None
    [folder] = {n.rsplit("/", 1)[0] for n in zf.namelist() if n.endswith("/manifest.json")}
    assert zf.read(f"{folder}/manifest.json") == pkg.manifest_bytes
    for name, (_role, _mime, body) in pkg.files.items():
        assert zf.read(f"{folder}/{name}") == body


def test_frame_images_come_from_the_store(store_api: Any) -> None:
    image = jpeg(64, 48, seed=3)
    sup = store_api.user("supervisor")
    r = store_api.client.post(
        "/api/v1/frames",
        files={"image": ("a.jpg", image, "image/jpeg")},
        data={"camera_id": "cam-01"},
        headers=sup,
    )
    assert r.status_code == 201, r.text
    got = store_api.client.get(
        f"/api/v1/frames/{r.json()['frame_id']}/image", headers={**sup, "Range": "bytes=0-1"}
    )
    assert got.status_code == 206 and got.content == image[:2]


def test_a_failed_commit_leaves_no_row_naming_a_missing_object(
    store_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upload precedes the transaction; the transaction fails: no row, objects only orphans,
    which the garbage collection removes; the objects of an accepted package stay."""
    _ingested(store_api)
    kept = {o.sha256 for o in store_api.state.store.objects()}

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(ingest, "remember", broken)  # the last write before the commit
    dev = store_api.device("edge-02")
    with pytest.raises(RuntimeError, match="went away"):
        dev.post(store_api.client, dev.package())
    monkeypatch.undo()
    assert store_api.count("hit_events") == 1
    with store_api.session() as s:
        named = set(s.execute(select(EvidenceFile.sha256)).scalars())
        assert all(store_api.state.store.exists(d) for d in named)
        orphans = {o.sha256 for o in store_api.state.store.objects()} - kept
        assert orphans and not orphans & named_digests(s)
        young = collect(store_api.state.store, s, older_than_hours=1)  # the orphans are young: kept
        assert young.removed == [] and young.young == len(kept | orphans)
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
        result = collect(store_api.state.store, s, older_than_hours=1, now=later)
    assert {o.sha256 for o in result.removed} == orphans and result.named == len(kept)
    assert {o.sha256 for o in store_api.state.store.objects()} == kept


def test_gc_evidence_command(store_api: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _ingested(store_api)
    named = {o.sha256 for o in store_api.state.store.objects()}
    orphan = store_api.state.store.put(b"an upload whose commit failed")
    store = store_api.state.store
    where = (
        ["--evidence-dir", str(store.root)]
        if hasattr(store, "root")
        else ["--evidence-url", store.describe()]
    )
    args = ["admin", "gc-evidence", "--db", store_api.url, *where, "--older-than", "0"]
    assert nce_main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"would remove {orphan}" in out and store.exists(orphan)
    assert nce_main(args) == 0
    out = capsys.readouterr().out
    assert f"removed {orphan}" in out and "removed 1 " in out
    assert {o.sha256 for o in store.objects()} == named
    assert nce_main(["admin", "gc-evidence", "--db", store_api.url, *where]) == 0  # default grace: nothing
    assert "removed 0 " in capsys.readouterr().out
