"""The blob stores: every behaviour on a local directory and on a real S3 server (moto)."""

from __future__ import annotations

import os
import time
import tracemalloc
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from stages.blobs import (
    BlobNotFound,
    BlobStore,
    LocalBlobStore,
    S3BlobStore,
)
from tests.stages.blob_store_checks import (
    PART,
    MiB,
    leftovers,
    pending_uploads,
    put_bytes,
    read_back,
)

# --- files in and out ---------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 100_000], ids=["empty", "100kB"])
def test_small_file_round_trip(blob_store: BlobStore, tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    (tmp_path / "in").write_bytes(data)
    blob_store.put_file("sessions/a/source", tmp_path / "in")
    assert blob_store.exists("sessions/a/source")
    assert blob_store.size("sessions/a/source") == size
    assert read_back(blob_store, "sessions/a/source", tmp_path) == data


def test_big_file_round_trip_is_multipart(blob_store: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(4 * PART)
    (tmp_path / "in").write_bytes(data)
    blob_store.put_file("big", tmp_path / "in")
    assert blob_store.size("big") == len(data)
    assert read_back(blob_store, "big", tmp_path) == data
    if isinstance(blob_store, S3BlobStore):  # a multipart object's ETag ends in "-<parts>"
        head = blob_store.client.head_object(Bucket=blob_store.bucket, Key="media/big")
        assert head["ETag"].strip('"').endswith("-4")


def test_put_file_replaces_and_get_file_overwrites(blob_store: BlobStore,
                                                   tmp_path: Path) -> None:
    for content in (b"first", b"second"):
        (tmp_path / "in").write_bytes(content)
        blob_store.put_file("k", tmp_path / "in")
    dest = tmp_path / "out" / "k"
    dest.parent.mkdir()
    dest.write_bytes(b"stale")
    blob_store.get_file("k", dest)
    assert dest.read_bytes() == b"second"
    assert list(dest.parent.iterdir()) == [dest]  # no temp file left


def test_missing_object(blob_store: BlobStore, tmp_path: Path) -> None:
    assert not blob_store.exists("nothing/here")
    with pytest.raises(BlobNotFound):
        blob_store.size("nothing/here")
    with pytest.raises(KeyError):  # BlobNotFound is a KeyError
        blob_store.get_file("nothing/here", tmp_path / "dest")
    with pytest.raises(BlobNotFound):
        blob_store.open_range("nothing/here", 0, 10)
    assert not (tmp_path / "dest").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name != "store"] == []  # no temp file


def test_a_directory_is_no_object(blob_store: BlobStore) -> None:
    put_bytes(blob_store, "dir/file", b"x")
    assert not blob_store.exists("dir")
    with pytest.raises(BlobNotFound):
        blob_store.size("dir")


def test_local_path_is_the_file_itself(blob_store: BlobStore) -> None:
    put_bytes(blob_store, "a/b", b"payload")
    path = blob_store.local_path("a/b")
    if isinstance(blob_store, LocalBlobStore):
        assert path == blob_store.root / "a" / "b" and path.read_bytes() == b"payload"
    else:
        assert path is None


# --- the streaming writer -----------------------------------------------------------

@pytest.mark.parametrize("size", [0, 1000, PART, PART * 5 // 2],
                         ids=["empty", "1kB", "one-part", "2.5-parts"])
def test_writer_many_small_writes(blob_store: BlobStore, tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    with blob_store.writer("upload/source") as writer:
        for start in range(0, size, 100_003):  # uneven writes: parts cut mid-write
            writer.write(data[start:start + 100_003])
        assert not blob_store.exists("upload/source")  # nothing visible before commit
        writer.commit()
    assert writer.written == size
    assert read_back(blob_store, "upload/source", tmp_path) == data
    assert pending_uploads(blob_store) == []


def test_writer_abort_leaves_nothing(blob_store: BlobStore) -> None:
    writer = blob_store.writer("upload/source")
    writer.write(os.urandom(PART * 3 // 2))  # one part sent: a multipart upload exists on S3
    assert pending_uploads(blob_store) != []
    writer.abort()
    writer.abort()  # idempotent
    assert leftovers(blob_store) == []
    with pytest.raises(ValueError, match="aborted"):
        writer.write(b"more")
    with pytest.raises(ValueError, match="aborted"):
        writer.commit()


def test_writer_context_aborts_on_exception_or_without_commit(blob_store: BlobStore) -> None:
    with pytest.raises(RuntimeError), blob_store.writer("a") as writer:
        writer.write(os.urandom(PART + 1))
        raise RuntimeError("client went away")
    with blob_store.writer("b") as writer:
        writer.write(b"never committed")
    assert leftovers(blob_store) == []


def test_abort_after_commit_keeps_the_object(blob_store: BlobStore) -> None:
    with blob_store.writer("kept") as writer:
        writer.write(b"data")
        writer.commit()
        writer.abort()
    assert blob_store.size("kept") == 4


def test_writer_memory_stays_bounded(blob_store: BlobStore) -> None:
    block = os.urandom(MiB)
    chunk, total = 64 * 1024, 64 * MiB
    tracemalloc.start()
    try:
        with blob_store.writer("big") as writer:
            for offset in range(0, total, chunk):
                start = offset % MiB
                writer.write(block[start:start + chunk])
            writer.commit()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert blob_store.size("big") == total
    assert peak < 3 * PART, f"peak {peak / MiB:.1f} MiB for {PART / MiB:.0f} MiB parts"


# --- prefixes -----------------------------------------------------------------------

def test_delete_prefix(blob_store: BlobStore) -> None:
    for key in ("sessions/A/source", "sessions/A/t-1/x", "sessions/AB/source",
                "sessions/A.json"):
        put_bytes(blob_store, key, b"x")
    blob_store.delete_prefix("sessions/A/")
    assert not blob_store.exists("sessions/A/source")
    assert not blob_store.exists("sessions/A/t-1/x")
    assert blob_store.exists("sessions/AB/source")  # a longer name is not under the prefix
    assert blob_store.exists("sessions/A.json")
    blob_store.delete_prefix("sessions/A.json")  # the object at the prefix's own name
    assert not blob_store.exists("sessions/A.json")
    blob_store.delete_prefix("sessions/none")  # nothing there: fine
    with pytest.raises(ValueError):
        blob_store.delete_prefix("")
    assert [k.rsplit("/", 1)[-1] for k in leftovers(blob_store)] == ["source"]


def test_delete_prefix_in_batches(s3_store: S3BlobStore) -> None:
    store = S3BlobStore(s3_store.bucket, s3_store.prefix, s3_store.client, delete_batch=10)
    for number in range(25):
        put_bytes(store, f"s/obj{number}", b"x")
    put_bytes(store, "t/kept", b"x")
    calls: list[int] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        calls.append(len(params["Delete"]["Objects"]))

    store.client.meta.events.register("provide-client-params.s3.DeleteObjects", count)
    try:
        store.delete_prefix("s")
    finally:
        store.client.meta.events.unregister("provide-client-params.s3.DeleteObjects", count)
    assert calls == [10, 10, 6]  # 25 objects and the (absent) object named "s"
    assert leftovers(store) == ["media/t/kept"]
    with pytest.raises(ValueError):
        S3BlobStore("b", client=store.client, delete_batch=1001)


def test_list_children_with_ages(blob_store: BlobStore) -> None:
    before = time.time()
    for key in ("sessions/A/source", "sessions/B/t-1/x", "sessions/loose-file", "other/x"):
        put_bytes(blob_store, key, b"x")
    time.sleep(1.1)  # S3 times have whole seconds
    put_bytes(blob_store, "sessions/A/t-2/y", b"x")
    children = list(blob_store.list_children("sessions/"))
    assert [child.name for child in children] == ["A", "B"]
    ages = dict(children)
    assert ages["A"] > ages["B"]  # A's newest object is newer
    assert before - 2 <= ages["B"] <= time.time() + 2  # clock skew of a real server
    assert list(blob_store.list_children("sessions")) == children
    assert [c.name for c in blob_store.list_children("")] == ["other", "sessions"]
    assert list(blob_store.list_children("nothing/")) == []


# --- serving ------------------------------------------------------------------------

@pytest.mark.parametrize(("start", "stop"), [(0, 100), (1000, 2000), (599_900, 600_000),
                                             (0, 600_000), (599_990, 700_000)],
                         ids=["first", "middle", "suffix", "all-in-chunks", "clamped"])
def test_open_range(blob_store: BlobStore, start: int, stop: int) -> None:
    data = os.urandom(600_000)  # more than two chunks
    put_bytes(blob_store, "reel.mp4", data)
    with blob_store.open_range("reel.mp4", start, stop) as chunks:
        assert b"".join(chunks) == data[start:stop]


def test_open_range_refuses_bad_spans(blob_store: BlobStore) -> None:
    put_bytes(blob_store, "reel.mp4", b"0123456789")
    for start, stop in ((10, 20), (5, 5), (-1, 3)):
        with pytest.raises(ValueError):
            blob_store.open_range("reel.mp4", start, stop)
    blob_store.open_range("reel.mp4", 0, 5).close()  # closed unread: nothing leaks


def test_presigned_url(blob_store: BlobStore) -> None:
    data = os.urandom(10_000)
    put_bytes(blob_store, "sessions/a/reel.mp4", data)
    url = blob_store.presigned_url("sessions/a/reel.mp4", 60)
    if isinstance(blob_store, LocalBlobStore):
        assert url is None
        return
    assert url is not None
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == data
    with pytest.raises(ValueError):
        blob_store.presigned_url("sessions/a/reel.mp4", 0)
