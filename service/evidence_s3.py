"""The evidence store in an S3-compatible object store (SeaweedFS, Ceph RGW, MinIO, a cloud bucket):
``s3://bucket/prefix`` + ``prefix/ab/cd/abcd…``. boto3 (the ``s3`` extra) does the protocol: signing,
retries, pagination; endpoint and credentials come from its usual sources (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ``AWS_REGION``, profiles, instance roles), the
endpoint also from ``NCE_S3_ENDPOINT`` (settings ``s3_endpoint``). boto3's errors become this
service's here and nowhere else: a missing key is NotFound, anything else StoreError (503)."""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from service.errors import NotFound
from service.evidence_range import Opened, RangeNotSatisfiable, Wanted
from service.evidence_store import (
    CHUNK_BYTES,
    EvidenceStore,
    StoredObject,
    StoreError,
    check_digest,
    is_sha256,
    item_digests,
    object_name,
)

URL = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<prefix>[A-Za-z0-9._/-]*))?$")
PARALLEL_UPLOADS = 8
_MISSING = {"404", "NoSuchKey", "NotFound"}


def parse_url(url: str) -> tuple[str, str]:
    """``(bucket, prefix)`` of ``s3://bucket/prefix`` (prefix without slashes at its ends)."""
    m = URL.match(url)
    if m is None:
        raise ValueError(
            f"evidence URL must be s3://bucket[/prefix] (bucket: 3-63 of a-z 0-9 . -), got {url!r}"
        )
    return m["bucket"], (m["prefix"] or "").strip("/")


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return str((response or {}).get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


class S3EvidenceStore(EvidenceStore):
    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        self.client = client
        # one pool for the store's life: a pool a package started (and joined) 4-8 threads per
        # ingest, ~2 ms of CPU a 1 MB package (measured: 14.1 -> 11.9 ms for its 7 PUTs)
        self._uploads: ThreadPoolExecutor | None = None
        self._uploads_lock = threading.Lock()
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self._errors: tuple[type[Exception], ...] = (BotoCoreError, ClientError)

    @classmethod
    def from_url(cls, url: str, *, endpoint: str | None = None) -> S3EvidenceStore:
        bucket, prefix = parse_url(url)
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:
            raise StoreError("the S3 evidence store needs boto3: pip install 'nce[s3]'") from exc
        config = Config(
            retries={"max_attempts": 5, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
            max_pool_connections=32,
            # plain PUTs with Content-MD5: every S3-compatible store checks those
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        client = boto3.session.Session().client("s3", endpoint_url=endpoint or None, config=config)
        return cls(client, bucket, prefix)

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def key(self, digest: str) -> str:
        return self.prefix + object_name(digest)

    def _fail(self, what: str, exc: Exception) -> StoreError:
        return StoreError(f"evidence store {self.describe()}: {what}: {exc}")

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except self._errors as exc:
            raise StoreError(
                f"evidence store {self.describe()} is not reachable (bucket missing, wrong endpoint or "
                f"credentials?): {exc}"
            ) from None

    def put_all(self, items: Sequence[bytes], known_sha256: Sequence[str] | None = None) -> list[str]:
        digests = item_digests(items, known_sha256)
        todo = dict(zip(digests, items, strict=True))  # the same bytes twice: one upload
        if len(todo) == 1:
            [(digest, data)] = todo.items()
            self._put(digest, data)
        elif todo:
            list(self._pool().map(lambda kv: self._put(*kv), todo.items()))
        return digests

    def _pool(self) -> ThreadPoolExecutor:
        with self._uploads_lock:
            if self._uploads is None:
                self._uploads = ThreadPoolExecutor(PARALLEL_UPLOADS, thread_name_prefix="s3-upload")
            return self._uploads

    def _put(self, digest: str, data: bytes) -> None:
        # always a PUT, also when the object exists (the same bytes): it renews the upload time, so
        # that the garbage collection's grace period counts from this upload, not an older one
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.key(digest),
                Body=data,
                ContentMD5=md5,
                ContentType="application/octet-stream",
                Metadata={"sha256": digest},
            )
        except self._errors as exc:
            raise self._fail(f"cannot store {digest}", exc) from None

    def _head(self, digest: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=self.key(digest))
        except self._errors as exc:
            if _error_code(exc) in _MISSING:
                return None
            raise self._fail(f"cannot look up {digest}", exc) from None
        return head

    def exists(self, digest: str) -> bool:
        return self._head(check_digest(digest)) is not None

    def stat(self, digest: str) -> StoredObject:
        head = self._head(check_digest(digest))
        if head is None:
            raise NotFound(f"evidence {digest} is not in the store")
        return StoredObject(digest, int(head["ContentLength"]), head["LastModified"])

    def stream(self, digest: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key(digest)}
        if start or end is not None:
            args["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            body = self.client.get_object(**args)["Body"]
        except self._errors as exc:
            if _error_code(exc) in _MISSING:
                raise NotFound(f"evidence {digest} is not in the store") from None
            if _error_code(exc) == "InvalidRange":
                return iter(())
            raise self._fail(f"cannot read {digest}", exc) from None
        return self._chunks(digest, body)

    def open(self, digest: str, wanted: Wanted | None = None) -> Opened:
        """One ``GET`` (with the client's ``Range``): its answer carries the size (Content-Range or
        Content-Length). Only a range past the end costs a ``HEAD`` more, for the 416's size."""
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key(check_digest(digest))}
        if wanted is not None:
            if wanted.first is None and wanted.last == 0:
                raise RangeNotSatisfiable(self.size(digest))  # bytes=-0: none, whatever the size
            args["Range"] = wanted.header()
        try:
            got = self.client.get_object(**args)
        except self._errors as exc:
            if _error_code(exc) in _MISSING:
                raise NotFound(f"evidence {digest} is not in the store") from None
            if _error_code(exc) == "InvalidRange":
                raise RangeNotSatisfiable(self.size(digest)) from None
            raise self._fail(f"cannot read {digest}", exc) from None
        chunks = self._chunks(digest, got["Body"])
        return Opened.from_answer(int(got["ContentLength"]), got.get("ContentRange"), chunks)

    def _chunks(self, digest: str, body: Any) -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(CHUNK_BYTES)
        except self._errors as exc:
            raise self._fail(f"reading {digest} broke off", exc) from None
        finally:
            body.close()

    def objects(self) -> Iterator[StoredObject]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
        try:
            for page in pages:
                for obj in page.get("Contents", ()):
                    name = str(obj["Key"])[len(self.prefix) :]
                    digest = name.rsplit("/", 1)[-1]
                    if is_sha256(digest) and name == object_name(digest):
                        yield StoredObject(digest, int(obj["Size"]), obj["LastModified"])
        except self._errors as exc:
            raise self._fail("cannot list objects", exc) from None

    def delete(self, digest: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key(digest))
        except self._errors as exc:
            raise self._fail(f"cannot delete {digest}", exc) from None
