"""Object storage shared by web and worker processes: a local directory or an S3 bucket.

``open_store(settings.storage_url, default_root)`` picks the backend; everything else
talks to the BlobStore protocol.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from stages.blobs.base import (
    BlobError,
    BlobNotFound,
    BlobStore,
    BlobWriter,
    ByteChunks,
    Child,
    check_key,
    check_prefix,
)
from stages.blobs.local import LocalBlobStore
from stages.blobs.s3 import S3BlobStore

__all__ = ["BlobError", "BlobNotFound", "BlobStore", "BlobWriter", "ByteChunks", "Child",
           "LocalBlobStore", "S3BlobStore", "check_key", "check_prefix", "open_store"]

# Two letters at least, so a scheme is never mistaken for a drive letter; a local path
# with a ':' in its first segment can be written './name:x'.
SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:")
BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")  # S3's bucket naming rules


def open_store(storage_url: str, default_root: Path) -> BlobStore:
    """'' → LocalBlobStore(default_root); a path → LocalBlobStore; s3://bucket/prefix → S3."""
    if not storage_url:
        return LocalBlobStore(default_root)
    if storage_url.startswith("s3://"):
        return _open_s3(storage_url)
    if SCHEME_RE.match(storage_url):
        raise ValueError(f"STORAGE_URL {storage_url!r}: expected a directory path or "
                         "s3://bucket/prefix (any S3-compatible store: set AWS_ENDPOINT_URL)")
    return LocalBlobStore(Path(storage_url))


def _open_s3(storage_url: str) -> S3BlobStore:
    url = urlsplit(storage_url)
    if url.query or url.fragment or not BUCKET_RE.fullmatch(url.netloc):
        raise ValueError(f"STORAGE_URL {storage_url!r}: expected s3://bucket/prefix with a "
                         "bucket name of 3-63 lowercase letters, digits, '.' and '-'; "
                         "credentials and endpoint come from the AWS_* variables")
    prefix = url.path.removeprefix("/")
    try:
        check_prefix(prefix)
    except ValueError:
        raise ValueError(f"STORAGE_URL {storage_url!r}: the prefix must be '/'-separated "
                         "segments of letters, digits, '.', '_' and '-'") from None
    return S3BlobStore(url.netloc, prefix)
