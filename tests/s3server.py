"""A real S3 protocol server for the blob store tests: moto_server on loopback by default.

The tests start ``python -m moto.server`` (from ``moto[server]``) on a free loopback port,
once per test session. To run the same tests against another S3-compatible server, e.g. a
MinIO on this machine, name it instead; nothing is started then:

    S3_TEST_ENDPOINT=http://127.0.0.1:9000 S3_TEST_ACCESS_KEY=minioadmin \\
    S3_TEST_SECRET_KEY=minioadmin .venv/bin/python -m pytest tests/stages/test_blobs.py

(S3_TEST_REGION: the region to sign for, us-east-1 unless set.) Every test gets a bucket
of its own with a random name, emptied and removed afterwards. Credentials are passed to
each client explicitly: the process environment is left alone.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stages.blobs.s3 import make_client

START_TIMEOUT = 60.0  # seconds for moto_server to answer (imports are slow on a busy box)


@dataclass(frozen=True)
class S3Endpoint:
    """Where the test S3 server answers, and how to sign for it."""

    url: str
    access_key: str = "testing"  # moto accepts any credentials
    secret_key: str = "testing"
    region: str = "us-east-1"
    is_moto: bool = True

    def client(self) -> Any:
        return make_client(endpoint_url=self.url, aws_access_key_id=self.access_key,
                           aws_secret_access_key=self.secret_key, region_name=self.region)

    def create_bucket(self, client: Any, bucket: str) -> None:
        where = {} if self.region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": self.region}}
        client.create_bucket(Bucket=bucket, **where)


@contextmanager
def s3_test_endpoint(log_dir: Path) -> Iterator[S3Endpoint]:
    """The server S3_TEST_ENDPOINT names, else a moto_server started here for the duration."""
    url = os.environ.get("S3_TEST_ENDPOINT")
    if url:
        yield S3Endpoint(url, os.environ["S3_TEST_ACCESS_KEY"],
                         os.environ["S3_TEST_SECRET_KEY"],
                         os.environ.get("S3_TEST_REGION", "us-east-1"), is_moto=False)
        return
    with _moto_server(log_dir / "moto.log") as url:
        yield S3Endpoint(url)


@contextmanager
def _moto_server(log_path: Path) -> Iterator[str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _wait_until_answering(url, proc, log_path)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_answering(url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited ({proc.returncode}):\n"
                               f"{log_path.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer (an unsigned ListBuckets may be refused) means it is up
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto_server did not answer on {url} within {START_TIMEOUT} s")


def remove_bucket(client: Any, bucket: str) -> None:
    """Remove a test bucket's objects, unfinished uploads, then the bucket itself."""
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for upload in page.get("Uploads", []):
            client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"],
                                          UploadId=upload["UploadId"])
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": listed["Key"]} for listed in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    client.delete_bucket(Bucket=bucket)
