"""What the blob store tests look at: bytes in and out, and what a store still holds."""

from __future__ import annotations

from pathlib import Path

from stages.blobs import BlobStore, LocalBlobStore, S3BlobStore
from stages.blobs.s3writer import MIN_PART_SIZE

MiB = 1024 * 1024
PART = MIN_PART_SIZE  # the part size of the s3_store fixture


def put_bytes(store: BlobStore, key: str, data: bytes) -> None:
    with store.writer(key) as writer:
        writer.write(data)
        writer.commit()


def read_back(store: BlobStore, key: str, tmp_path: Path) -> bytes:
    dest = tmp_path / "fetched" / key.replace("/", "_")
    store.get_file(key, dest)
    return dest.read_bytes()


def leftovers(store: BlobStore) -> list[str]:
    """Everything in the store: objects, and files or multipart uploads still staged."""
    if isinstance(store, LocalBlobStore):
        return sorted(p.relative_to(store.root).as_posix()
                      for p in store.root.rglob("*") if p.is_file())
    assert isinstance(store, S3BlobStore)
    objects = store.client.list_objects_v2(Bucket=store.bucket).get("Contents", [])
    return sorted(o["Key"] for o in objects) + pending_uploads(store)


def pending_uploads(store: BlobStore) -> list[str]:
    if isinstance(store, LocalBlobStore):
        return sorted(p.name for p in (store.root / ".staging~").glob("*"))
    assert isinstance(store, S3BlobStore)
    uploads = store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
    return sorted(f"upload:{u['Key']}" for u in uploads)
