"""Blob stores: the sweeper's part (stale uploads), key checks and STORAGE_URL parsing."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from stages.blobs import BlobStore, LocalBlobStore, S3BlobStore, check_key, open_store
from tests.s3server import S3Endpoint
from tests.stages.blob_store_checks import PART, leftovers, put_bytes

# --- the sweeper's part -------------------------------------------------------------

def test_abort_stale_uploads(blob_store: BlobStore) -> None:
    writer = blob_store.writer("sessions/a/source")
    writer.write(os.urandom(PART + 1))
    assert blob_store.abort_stale_uploads(0) == 1
    assert leftovers(blob_store) == []
    writer.abort()  # the writer's own abort finds it gone: fine
    assert blob_store.abort_stale_uploads(0) == 0


def test_abort_stale_uploads_spares_fresh_ones(blob_store: BlobStore,
                                               s3_endpoint: S3Endpoint) -> None:
    if isinstance(blob_store, S3BlobStore) and s3_endpoint.is_moto:
        pytest.skip("moto lists every multipart upload as initiated in 2010")
    with blob_store.writer("sessions/a/source") as writer:
        writer.write(os.urandom(PART + 1))
        assert blob_store.abort_stale_uploads(3600) == 0
        writer.commit()
    assert blob_store.size("sessions/a/source") == PART + 1


def test_abort_stale_uploads_spares_those_named_live(s3_store: S3BlobStore) -> None:
    """Whatever date the server gives (moto: always 2010), a live session's upload stays."""
    with s3_store.writer("sessions/live/source") as writer:
        writer.write(os.urandom(PART + 1))
        assert s3_store.abort_stale_uploads(0, spare=lambda key: "/live/" in key) == 0
        writer.commit()
    assert s3_store.size("sessions/live/source") == PART + 1


# --- keys and URLs ------------------------------------------------------------------

BAD_KEYS = ["../x", "/x", "a//b", "a/../b", "a/./b", "", "a/", "x y", "é", "a\\b", "~tmp"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_refused(blob_store: BlobStore, key: str, tmp_path: Path) -> None:
    (tmp_path / "in").write_bytes(b"x")
    calls: list[Callable[[], object]] = [
        lambda: blob_store.exists(key), lambda: blob_store.put_file(key, tmp_path / "in"),
        lambda: blob_store.writer(key), lambda: blob_store.open_range(key, 0, 1),
        lambda: blob_store.local_path(key), lambda: blob_store.presigned_url(key, 60)]
    for call in calls:
        with pytest.raises(ValueError):
            call()
    assert leftovers(blob_store) == []


def test_good_keys_pass() -> None:
    for key in ("sessions/Xb3_-9/source", "a/.hidden", "render-0f3a/reel.mp4", "x..y"):
        assert check_key(key) == key


@pytest.mark.parametrize(("url", "bucket", "prefix"), [
    ("s3://media-bucket", "media-bucket", ""),
    ("s3://media-bucket/", "media-bucket", ""),
    ("s3://media.bucket/prod/video/", "media.bucket", "prod/video"),
])
def test_open_store_s3(url: str, bucket: str, prefix: str, tmp_path: Path) -> None:
    store = open_store(url, tmp_path)
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix) == (bucket, prefix)
    store.client.close()


def test_open_store_local(tmp_path: Path) -> None:
    default = open_store("", tmp_path)
    assert isinstance(default, LocalBlobStore) and default.root == tmp_path
    named = open_store(str(tmp_path / "store"), tmp_path)
    assert isinstance(named, LocalBlobStore) and named.root == tmp_path / "store"
    relative = open_store("./var:media", tmp_path)
    assert isinstance(relative, LocalBlobStore) and relative.root == Path("var:media")


@pytest.mark.parametrize("url", ["gs://bucket/x", "http://host/x", "file:///tmp/x", "s3://",
                                 "s3:/bucket/x", "s3://Bad_Bucket/x", "s3://b/x",
                                 "s3://bucket/../x", "s3://bucket//x", "s3://bucket/a?b=1",
                                 "s3://key:secret@bucket/x"])
def test_open_store_refuses(url: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="STORAGE_URL"):
        open_store(url, tmp_path)


def test_open_store_reads_the_aws_variables(s3_store: S3BlobStore, s3_endpoint: S3Endpoint,
                                            monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    """As in production: STORAGE_URL names the bucket, the AWS_* variables the rest."""
    for name, value in (("AWS_ENDPOINT_URL", s3_endpoint.url),
                        ("AWS_ACCESS_KEY_ID", s3_endpoint.access_key),
                        ("AWS_SECRET_ACCESS_KEY", s3_endpoint.secret_key),
                        ("AWS_DEFAULT_REGION", s3_endpoint.region)):
        monkeypatch.setenv(name, value)  # for this test only
    store = open_store(f"s3://{s3_store.bucket}/media/", tmp_path)
    assert isinstance(store, S3BlobStore)
    try:
        put_bytes(store, "from-env", b"hello")
    finally:
        store.client.close()
    assert s3_store.size("from-env") == 5
