"""What every blob store offers: checked keys, the BlobStore and BlobWriter protocols, errors.

Keys are '/'-separated relative names checked here, once, so no backend ever sees a name
that could leave its root, or two spellings of one object.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import NamedTuple, Protocol, Self

SEGMENT_RE = re.compile(r"[A-Za-z0-9._-]+")


class BlobError(Exception):
    """Root of the storage layer's own failures (backend errors pass through unchanged)."""


class BlobNotFound(BlobError, KeyError):
    """No object has this key."""


class Child(NamedTuple):
    """One "directory" under a prefix, as ``list_children`` yields it."""

    name: str  # one key segment: the directory's name under the prefix
    modified: float  # POSIX time of the newest object beneath it


def check_key(key: str) -> str:
    """Return ``key`` if it is 'a/b/c' of segments [A-Za-z0-9._-]+ (not '.' or '..')."""
    for segment in key.split("/"):
        if not SEGMENT_RE.fullmatch(segment) or segment in (".", ".."):
            raise ValueError(f"not a valid object key: {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """Return a prefix as a key without its trailing '/', or '' for the whole store.

    A prefix always names a "directory": 'sessions/ab' covers 'sessions/ab/x', never
    'sessions/abc'; 'sessions/ab' and 'sessions/ab/' mean the same.
    """
    return check_key(prefix.removesuffix("/")) if prefix else ""


def check_name(name: str) -> bool:
    """Whether ``name`` can be one segment of a key (stores skip anything else they find)."""
    return bool(SEGMENT_RE.fullmatch(name)) and name not in (".", "..")


def check_span(start: int, stop: int) -> None:
    """Refuse a byte span that is empty or starts before the first byte."""
    if start < 0 or stop <= start:
        raise ValueError(f"not a byte span: [{start}, {stop})")


class BlobWriter(Protocol):
    """A streaming upload: nothing is visible under its key until commit()."""

    written: int  # bytes accepted by write() so far

    def write(self, data: bytes) -> None:
        """Append bytes; blocks while a full part is sent (memory stays ~1 part)."""

    def commit(self) -> None:
        """Publish everything written, atomically; on failure the upload is aborted."""

    def abort(self) -> None:
        """Drop the upload and anything staged for it; idempotent, a no-op after commit."""

    def __enter__(self) -> Self: ...

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        """Abort unless committed: an exception or an early exit never publishes a part."""


class BlobStore(Protocol):
    """Objects under '/'-separated keys, shared by every web and worker process."""

    def put_file(self, key: str, path: Path) -> None:
        """Upload a local file (multipart when big); readers see the old or the new object."""

    def get_file(self, key: str, dest: Path) -> None:
        """Download to ``dest`` via a temp file and rename; BlobNotFound if absent."""

    def exists(self, key: str) -> bool:
        """Whether an object has this key."""

    def size(self, key: str) -> int:
        """The object's length in bytes; BlobNotFound if absent."""

    def local_path(self, key: str) -> Path | None:
        """Where the object's file is when the store is a local directory, else None."""

    def delete_prefix(self, prefix: str) -> None:
        """Remove the object named ``prefix`` and all under ``prefix/`` (none there is fine)."""

    def list_children(self, prefix: str) -> Iterator[Child]:
        """The immediate "directories" under a prefix, with their newest object's time."""

    def writer(self, key: str) -> BlobWriter:
        """A streaming writer for ``key`` (for uploads arriving over HTTP)."""

    def open_range(self, key: str, start: int, stop: int) -> ByteChunks:
        """Bytes [start, stop) in chunks, stop clamped to the size; ValueError if start >= it."""

    def presigned_url(self, key: str, expires_seconds: int) -> str | None:
        """A GET URL for that long (the key is not looked up); None for local stores."""

    def abort_stale_uploads(self, older_than_seconds: float,
                            spare: Callable[[str], bool] | None = None) -> int:
        """Drop uploads begun (S3) or last written (local) that long ago, but those whose
        key ``spare`` says are live (a store's clock is not to be trusted alone: some
        S3-compatible servers report a fixed date); returns how many."""


class _Stream(Protocol):
    def read(self, size: int, /) -> bytes: ...

    def close(self) -> None: ...


class ByteChunks:
    """An iterator over ``length`` bytes of a stream, in chunks; closes the stream at the end.

    A class rather than a generator so that the stream is opened (and a missing object
    reported) when the range is asked for, and closed even if it is never iterated.
    """

    def __init__(self, stream: _Stream, length: int, chunk_size: int) -> None:
        self._stream = stream
        self._left = length
        self._chunk_size = chunk_size

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> bytes:
        if self._left <= 0:
            self.close()
            raise StopIteration
        chunk = self._stream.read(min(self._chunk_size, self._left))
        if not chunk:  # a caller sent Content-Length already: a short body must not pass
            self.close()
            raise BlobError(f"object ended {self._left} bytes early")
        self._left -= len(chunk)
        return chunk

    def close(self) -> None:
        self._left = 0
        self._stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class WriterBase:
    """The life cycle every backend's writer shares: open → committed or aborted."""

    def __init__(self) -> None:
        self.written = 0
        self._state = "open"

    def write(self, data: bytes) -> None:
        self._check_open()
        self._write(data)
        self.written += len(data)

    def commit(self) -> None:
        self._check_open()
        try:
            self._commit()
        except BaseException:
            self.abort()
            raise
        self._state = "committed"

    def abort(self) -> None:
        if self._state == "open":
            self._state = "aborted"  # first, so a failing abort is not retried on __exit__
            self._abort()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.abort()

    def _check_open(self) -> None:
        if self._state != "open":
            raise ValueError(f"the writer is {self._state}")

    def _write(self, data: bytes) -> None:
        raise NotImplementedError

    def _commit(self) -> None:
        raise NotImplementedError

    def _abort(self) -> None:
        raise NotImplementedError
