"""A blob store on a local directory (today's layout): a key is a file path under the root.

``local_path`` hands out the file itself, so local runs never copy what they read.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from stages.blobs.base import (
    BlobNotFound,
    ByteChunks,
    Child,
    WriterBase,
    check_key,
    check_name,
    check_prefix,
    check_span,
)

# Temp files of put_file and writers, in one place for the sweeper. '~' is never in a key,
# so no object can clash with it, and list_children never reports it.
STAGING = ".staging~"
CHUNK_SIZE = 256 * 1024  # bytes per open_range chunk: few thread hops, little memory


class LocalBlobStore:
    """Objects as files under ``root``; every write lands by ``os.replace`` from STAGING."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._staging = self.root / STAGING

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def put_file(self, key: str, path: Path) -> None:
        final = self._path(key)
        temp = self._temp_file()
        try:
            shutil.copyfile(path, temp)
            _replace(temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def get_file(self, key: str, dest: Path) -> None:
        source = self._path(key)
        if not source.is_file():
            raise BlobNotFound(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        os.close(fd)
        try:
            shutil.copyfile(source, name)
            os.replace(name, dest)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():
            raise BlobNotFound(key)
        return path.stat().st_size

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def delete_prefix(self, prefix: str) -> None:
        path = self.root / _nonempty(prefix)
        if not path.is_dir():
            path.unlink(missing_ok=True)  # the object at the prefix's own name, if any
            return
        shutil.rmtree(path, ignore_errors=True)  # a concurrent remover is no error
        if path.exists():
            shutil.rmtree(path)  # what still stands is a real error: raise it

    def list_children(self, prefix: str) -> Iterator[Child]:
        directory = self.root / check_prefix(prefix)
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            if not (check_name(entry.name) and entry.is_dir(follow_symlinks=False)):
                continue
            try:
                yield Child(entry.name, _newest_mtime(entry.path))
            except FileNotFoundError:
                continue  # removed while we looked

    def writer(self, key: str) -> LocalBlobWriter:
        final = self._path(key)  # checked before a temp file exists
        return LocalBlobWriter(self._temp_file(), final)

    def open_range(self, key: str, start: int, stop: int) -> ByteChunks:
        check_span(start, stop)
        try:
            stream = open(self._path(key), "rb")  # ByteChunks closes it
        except (FileNotFoundError, IsADirectoryError):
            raise BlobNotFound(key) from None
        size = os.fstat(stream.fileno()).st_size
        if start >= size:
            stream.close()
            raise ValueError(f"range starts at {start}, the object has {size} bytes")
        stream.seek(start)
        return ByteChunks(stream, min(stop, size) - start, CHUNK_SIZE)

    def presigned_url(self, key: str, expires_seconds: int) -> str | None:
        check_key(key)
        return None

    def abort_stale_uploads(self, older_than_seconds: float,
                            spare: Callable[[str], bool] | None = None) -> int:
        # Staged files have no key yet; a live one is fresh (its mtime moves with each write).
        cutoff = time.time() - older_than_seconds
        removed = 0
        try:
            entries = list(os.scandir(self._staging))
        except FileNotFoundError:
            return 0
        for entry in entries:
            try:
                if entry.stat().st_mtime <= cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue  # committed or aborted while we looked
        return removed

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _temp_file(self) -> Path:
        self._staging.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self._staging)
        os.close(fd)
        return Path(name)


class LocalBlobWriter(WriterBase):
    """Writes into a temp file in STAGING; commit renames it into place."""

    def __init__(self, temp: Path, final: Path) -> None:
        super().__init__()
        self._temp = temp
        self._final = final
        self._file = open(temp, "wb")  # commit() or abort() closes it

    def _write(self, data: bytes) -> None:
        self._file.write(data)

    def _commit(self) -> None:
        self._file.close()
        _replace(self._temp, self._final)

    def _abort(self) -> None:
        self._file.close()
        self._temp.unlink(missing_ok=True)


def _replace(temp: Path, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(temp, final)


def _nonempty(prefix: str) -> str:
    checked = check_prefix(prefix)
    if not checked:
        raise ValueError("refusing to delete the whole store (empty prefix)")
    return checked


def _newest_mtime(path: str) -> float:
    """The newest mtime of a directory and everything beneath it.

    The directories' own times count: removing a file touches its directory, and an
    emptied directory must still age so that the sweeper removes it.
    """
    newest = os.stat(path).st_mtime
    with os.scandir(path) as entries:
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stamp = _newest_mtime(entry.path)
                else:
                    stamp = entry.stat(follow_symlinks=False).st_mtime
            except FileNotFoundError:
                continue
            newest = max(newest, stamp)
    return newest
