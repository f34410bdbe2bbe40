"""The evidence store's contract, the same tests against both stores: the local folder and a real
S3-compatible server (SeaweedFS, tests.support.s3_server). Put, read, exists, idempotent re-upload,
ranges, streaming in chunks, missing objects, listing and deletion; and the S3 store's refusals."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.errors import NotFound
from service.evidence_range import RangeNotSatisfiable, Wanted
from service.evidence_s3 import S3EvidenceStore, parse_url
from service.evidence_store import CHUNK_BYTES, EvidenceStore, LocalEvidenceStore, StoreError
from service.settings import Settings, SettingsError
from tests.support.s3_server import S3Server
from tests.support.servers import service_key_file

BIG = secrets.token_bytes(2 * CHUNK_BYTES + 12345)  # three chunks
MISSING = "0" * 64


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EvidenceStore]:
    if request.param == "local":
        yield LocalEvidenceStore(tmp_path / "evidence")
        return
    server: S3Server = request.getfixturevalue("s3_env")
    s3 = S3EvidenceStore.from_url(server.url(f"unit-{secrets.token_hex(6)}"), endpoint=server.endpoint)
    s3.check()
    yield s3


def test_put_returns_the_sha256_and_reads_back(store: EvidenceStore) -> None:
    digest = store.put(b"hello evidence")
    assert digest == hashlib.sha256(b"hello evidence").hexdigest()
    assert store.exists(digest) and store.size(digest) == 14
    assert store.read(digest) == b"hello evidence"
    assert [(o.sha256, o.size) for o in store.objects()] == [(digest, 14)]
    assert store.staged_count() == 0


def test_re_upload_renews_the_upload_time(store: EvidenceStore) -> None:
    """The garbage collection's grace period counts from the last upload of the same bytes (an S3
    store's times have whole seconds: hence the wait)."""
    digest = store.put(b"again")
    first = store.stat(digest).modified
    time.sleep(1.1)
    store.put(b"again")
    assert store.stat(digest).modified > first and store.read(digest) == b"again"


def test_re_upload_is_idempotent(store: EvidenceStore) -> None:
    first = store.put_all([b"a", b"b", b"a"])
    again = store.put_all([b"b", b"a"])
    assert first[0] == first[2] == again[1] and first[1] == again[0]
    assert store.count() == 2 and store.read(first[0]) == b"a"


def test_put_all_with_the_sha256s_its_caller_computed(store: EvidenceStore) -> None:
    # the ingest passes the digests its check computed from the same bytes: stored under them,
    # not hashed again; a digest that is not one is a programming error, and nothing is stored
    items = [b"manifest", BIG, b"manifest"]
    known = [hashlib.sha256(x).hexdigest() for x in items]
    assert store.put_all(items, known_sha256=known) == known
    assert store.count() == 2 and store.read(known[1]) == BIG and store.read(known[0]) == b"manifest"
    for bad in ([known[0]], [known[0], known[1].upper(), known[2]]):
        with pytest.raises(ValueError):
            store.put_all([b"x", b"y", b"z"], known_sha256=bad)
    assert store.count() == 2 and store.staged_count() == 0


@pytest.mark.parametrize(
    ("start", "end", "want"),
    [(0, None, BIG), (0, 0, BIG[:1]), (5, 9, BIG[5:10]), (CHUNK_BYTES - 3, CHUNK_BYTES + 3,
     BIG[CHUNK_BYTES - 3 : CHUNK_BYTES + 4]), (len(BIG) - 7, None, BIG[-7:])],
    ids=["whole", "first-byte", "middle", "across-chunks", "tail"],
)  # fmt: skip
def test_ranges(store: EvidenceStore, start: int, end: int | None, want: bytes) -> None:
    digest = store.put(BIG)
    assert store.read(digest, start, end) == want


N = len(BIG)


@pytest.mark.parametrize(
    ("header", "answer"),  # (start, end, partial) or None: 416
    [
        (None, (0, N - 1, False)),
        ("bytes=0-0", (0, 0, True)),
        ("bytes=5-9", (5, 9, True)),
        ("bytes=10-", (10, N - 1, True)),
        ("bytes=-7", (N - 7, N - 1, True)),
        ("bytes=-99999999", (0, N - 1, True)),
        ("bytes=3-99999999", (3, N - 1, True)),
        ("bytes=9-3", (0, N - 1, False)),  # ignored: the whole
        ("bytes=0-1,4-5", (0, N - 1, False)),
        ("bytes=99999999-", None),
        ("bytes=-0", None),
    ],
)
def test_open_answers_a_range_with_the_size(
    store: EvidenceStore, header: str | None, answer: tuple[int, int, bool] | None
) -> None:
    """What a download sends, the same from both stores (the S3 store asks in one GET)."""
    digest = store.put(BIG)
    if answer is None:
        with pytest.raises(RangeNotSatisfiable) as caught:
            store.open(digest, Wanted.of(header))
        assert caught.value.size == N
        return
    opened = store.open(digest, Wanted.of(header))
    assert (opened.start, opened.end, opened.partial, opened.size) == (*answer, N)
    assert b"".join(opened.chunks) == BIG[answer[0] : answer[1] + 1]


def test_open_of_a_missing_object_is_not_found(store: EvidenceStore) -> None:
    for header in (None, "bytes=0-9", "bytes=-0"):
        with pytest.raises(NotFound):
            store.open(MISSING, Wanted.of(header))


def test_streams_in_chunks(store: EvidenceStore) -> None:
    digest = store.put(BIG)
    chunks = list(store.stream(digest))
    assert len(chunks) >= 3 and all(0 < len(c) <= CHUNK_BYTES for c in chunks)
    assert b"".join(chunks) == BIG


@pytest.mark.parametrize("digest", [MISSING, "not-a-hash", "../" + "a" * 61, "A" * 64])
def test_missing_or_bad_name_is_not_found(store: EvidenceStore, digest: str) -> None:
    for read in (store.read, store.size, store.stream):
        with pytest.raises(NotFound):
            read(digest)
    if digest == MISSING:
        assert store.exists(digest) is False


def test_delete(store: EvidenceStore) -> None:
    keep, gone = store.put_all([b"keep", b"gone"])
    store.delete(gone)
    store.delete(gone)  # gone already: nothing happens
    assert not store.exists(gone) and store.exists(keep)
    assert {o.sha256 for o in store.objects()} == {keep}


def test_the_local_store_is_durable_before_it_returns(tmp_path: Path) -> None:
    """What a put returns is in place (no temporary file left), under ab/cd/abcd…"""
    store = LocalEvidenceStore(tmp_path / "ev")
    digest = store.put(b"x")
    assert store.path_for(digest) == tmp_path / "ev" / digest[:2] / digest[2:4] / digest
    assert store.path_for(digest).read_bytes() == b"x" and store.staged_count() == 0


def test_s3_store_refuses_a_missing_bucket_in_one_line(s3_env: S3Server) -> None:
    store = S3EvidenceStore.from_url(
        f"s3://no-such-bucket-{secrets.token_hex(4)}/x", endpoint=s3_env.endpoint
    )
    with pytest.raises(StoreError, match="not reachable") as err:
        store.check()
    assert "\n" not in str(err.value)


def test_s3_store_refuses_an_unreachable_endpoint(s3_env: S3Server) -> None:
    from tests.support.servers import free_port

    store = S3EvidenceStore.from_url(s3_env.url(), endpoint=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(StoreError, match="not reachable"):
        store.check()


def test_s3_store_prefixes_stay_apart(s3_env: S3Server) -> None:
    one = S3EvidenceStore.from_url(s3_env.url("apart-1"), endpoint=s3_env.endpoint)
    two = S3EvidenceStore.from_url(s3_env.url("apart-1x"), endpoint=s3_env.endpoint)
    digest = one.put(b"only in one " + secrets.token_bytes(8))
    assert one.exists(digest) and not two.exists(digest)
    assert digest not in {o.sha256 for o in two.objects()}


@pytest.mark.parametrize(
    ("url", "ok"),
    [("s3://evidence", True), ("s3://evidence/a/b", True), ("s3://Evidence", False), ("s3://e", False),
     ("http://evidence", False), ("s3://evidence/../x y", False)],
)  # fmt: skip
def test_evidence_urls(url: str, ok: bool) -> None:
    if ok:
        assert parse_url(url)[0] == "evidence"
    else:
        with pytest.raises(ValueError, match="s3://bucket"):
            parse_url(url)


@pytest.mark.parametrize(
    ("overrides", "words"),
    [({"evidence_url": "s3://Bad_Bucket"}, "evidence URL must be s3://bucket"),
     ({"evidence_url": "file:///tmp/x"}, "evidence URL must be s3://bucket"),
     ({"evidence_url": "s3://evidence", "s3_endpoint": "ftp://x"}, "s3_endpoint")],
)  # fmt: skip
def test_settings_refuse_a_bad_store_in_one_line(overrides: dict[str, str], words: str) -> None:
    with pytest.raises(SettingsError, match=words) as err:
        Settings.load(demo=True, **overrides)
    assert "\n" not in str(err.value)


def test_the_service_refuses_to_start_without_its_bucket(s3_env: S3Server, tmp_path: Path) -> None:
    from service.app import create_app

    settings = Settings(
        db_url=f"sqlite:///{tmp_path}/db.sqlite3",
        demo=True,
        service_key_file=service_key_file(tmp_path),
        evidence_url=f"s3://missing-{secrets.token_hex(4)}/evidence",
        s3_endpoint=s3_env.endpoint,
    )
    with pytest.raises(StoreError, match="not reachable"):
        create_app(settings)
    assert not (tmp_path / "db.sqlite3").exists()  # refused before the migrations
