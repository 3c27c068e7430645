"""A blob store in an S3 bucket under a key prefix: AWS S3 or any S3-compatible store.

The default client is ``boto3.client("s3")``, which reads the endpoint and credentials
from the standard AWS variables (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...) itself.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from stages.blobs.base import (
    BlobError,
    BlobNotFound,
    ByteChunks,
    Child,
    check_key,
    check_name,
    check_prefix,
    check_span,
)
from stages.blobs.s3writer import MIN_PART_SIZE, S3BlobWriter, abort_upload, error_code

DEFAULT_PART_SIZE = 8 * 1024 * 1024  # multipart part: memory per upload vs requests per GB
MAX_DELETE_BATCH = 1000  # DeleteObjects takes at most this many keys per request
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4 URLs cannot live longer
CHUNK_SIZE = 256 * 1024  # bytes per open_range chunk: few thread hops, little memory
NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})  # HEAD has no body, hence "404"

# Fail fast on a dead endpoint, give a slow one a minute per read, and retry throttling
# and 5xx with backoff (standard mode) rather than the legacy mode's bare retries.
CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=60,
                       retries={"mode": "standard", "max_attempts": 5})


def make_client(**kwargs: Any) -> Any:
    """An S3 client with CLIENT_CONFIG; kwargs (endpoint_url, credentials) override the env."""
    return boto3.client("s3", config=CLIENT_CONFIG, **kwargs)


class S3BlobStore:
    """Objects at ``<prefix>/<key>`` in ``bucket``."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None, *,
                 part_size: int = DEFAULT_PART_SIZE,
                 delete_batch: int = MAX_DELETE_BATCH) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        if not 0 < delete_batch <= MAX_DELETE_BATCH:
            raise ValueError(f"delete_batch must be in 1..{MAX_DELETE_BATCH}")
        self.bucket = bucket
        self.prefix = check_prefix(prefix)
        self.client = client if client is not None else make_client()
        self.part_size = part_size
        self.delete_batch = delete_batch
        self._transfer = TransferConfig(multipart_threshold=part_size,
                                        multipart_chunksize=part_size, max_concurrency=4)

    def __repr__(self) -> str:
        return f"S3BlobStore({self.bucket!r}, {self.prefix!r})"

    def put_file(self, key: str, path: Path) -> None:
        # s3transfer aborts its multipart upload itself if a part fails
        self.client.upload_file(str(path), self.bucket, self._full(key), Config=self._transfer)

    def get_file(self, key: str, dest: Path) -> None:
        full = self._full(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        os.close(fd)
        try:
            self.client.download_file(self.bucket, full, name, Config=self._transfer)
            os.replace(name, dest)
        except BaseException as error:
            Path(name).unlink(missing_ok=True)
            if _is_missing(error):
                raise BlobNotFound(key) from error
            raise

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except BlobNotFound:
            return False
        return True

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def local_path(self, key: str) -> Path | None:
        check_key(key)
        return None

    def delete_prefix(self, prefix: str) -> None:
        name = check_prefix(prefix)
        if not name:
            raise ValueError("refusing to delete the whole store (empty prefix)")
        # Deleting a key that does not exist succeeds, so the object at the prefix's own
        # name goes in the first batch without asking whether it is there.
        batch = [{"Key": self._full(name)}]
        for listed in self._objects_under(self._directory(prefix)):
            batch.append({"Key": listed["Key"]})
            if len(batch) == self.delete_batch:
                self._delete(batch)
                batch = []
        if batch:
            self._delete(batch)

    def list_children(self, prefix: str) -> Iterator[Child]:
        directory = self._directory(prefix)
        newest: dict[str, float] = {}
        for listed in self._objects_under(directory):
            name, slash, _ = listed["Key"][len(directory):].partition("/")
            if slash and check_name(name):  # objects right under the prefix are no child
                stamp = listed["LastModified"].timestamp()
                newest[name] = max(stamp, newest.get(name, stamp))
        for name in sorted(newest):
            yield Child(name, newest[name])

    def writer(self, key: str) -> S3BlobWriter:
        return S3BlobWriter(self.client, self.bucket, self._full(key), self.part_size)

    def open_range(self, key: str, start: int, stop: int) -> ByteChunks:
        check_span(start, stop)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._full(key),
                                              Range=f"bytes={start}-{stop - 1}")
        except ClientError as error:
            if error_code(error) == "InvalidRange":
                raise ValueError(f"range starts at {start}, past the object's end") from error
            if _is_missing(error):
                raise BlobNotFound(key) from error
            raise
        return ByteChunks(response["Body"], int(response["ContentLength"]), CHUNK_SIZE)

    def presigned_url(self, key: str, expires_seconds: int) -> str | None:
        if not 0 < expires_seconds <= MAX_PRESIGN_SECONDS:
            raise ValueError(f"expires_seconds must be in 1..{MAX_PRESIGN_SECONDS}")
        return str(self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._full(key)},
            ExpiresIn=expires_seconds))

    def abort_stale_uploads(self, older_than_seconds: float,
                            spare: Callable[[str], bool] | None = None) -> int:
        # S3 dates an upload by when it began, not by its last part: pass more than the
        # longest an upload may take (UPLOAD_DEADLINE), or live ones are cut off.
        cutoff = time.time() - older_than_seconds
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            **self._bucket_and_prefix(self._directory("")))
        aborted = 0
        for page in pages:
            for upload in page.get("Uploads", []):
                relative = upload["Key"].removeprefix(f"{self.prefix}/" if self.prefix else "")
                if spare is not None and spare(relative):
                    continue
                if upload["Initiated"].timestamp() <= cutoff:
                    abort_upload(self.client, self.bucket, upload["Key"], upload["UploadId"])
                    aborted += 1
        return aborted

    def _full(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _directory(self, prefix: str) -> str:
        """The bucket-level prefix, ending in '/', of everything under ``prefix``."""
        parts = [part for part in (self.prefix, check_prefix(prefix)) if part]
        return "/".join(parts) + "/" if parts else ""

    def _bucket_and_prefix(self, directory: str) -> dict[str, str]:
        return {"Bucket": self.bucket, "Prefix": directory} if directory \
            else {"Bucket": self.bucket}

    def _head(self, key: str) -> dict[str, Any]:
        try:
            return dict(self.client.head_object(Bucket=self.bucket, Key=self._full(key)))
        except ClientError as error:
            if _is_missing(error):
                raise BlobNotFound(key) from error
            raise

    def _objects_under(self, directory: str) -> Iterator[dict[str, Any]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            **self._bucket_and_prefix(directory))
        for page in pages:
            yield from page.get("Contents", [])

    def _delete(self, batch: list[dict[str, str]]) -> None:
        response = self.client.delete_objects(
            Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        errors = response.get("Errors", [])
        if errors:
            raise BlobError(f"{len(errors)} of {len(batch)} objects were not deleted, "
                            f"e.g. {errors[0]}")


def _is_missing(error: BaseException) -> bool:
    return isinstance(error, ClientError) and error_code(error) in NOT_FOUND
