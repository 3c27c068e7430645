"""One session's objects in a blob store that is not this machine's disk (S3 and kin).

Keys mirror the local layout: ``sessions/<id>/source``, ``sessions/<id>/<token>/<artifact>``,
``sessions/<id>/results.json``. A process fetches what it reads into its scratch directory
and publishes what it wrote; nothing else of a session stays on its disk.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from stages.blobs import BlobNotFound, BlobStore, BlobWriter

log = logging.getLogger(__name__)


def session_prefix(session_id: str) -> str:
    return f"sessions/{session_id}/"


class RemoteSession:
    def __init__(self, store: BlobStore, session_id: str) -> None:
        self.store = store
        self.prefix = session_prefix(session_id)

    def key(self, relative: str) -> str:
        return self.prefix + relative

    def exists(self, relative: str) -> bool:
        return self.store.exists(self.key(relative))

    def fetch(self, relative: str, dest: Path) -> bool:
        """Download into ``dest``; False when there is no such object."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.store.get_file(self.key(relative), dest)
        except BlobNotFound:
            return False
        log.info("store: fetched %s (%d bytes)", self.key(relative), dest.stat().st_size)
        return True

    def put(self, relative: str, path: Path) -> None:
        size = path.stat().st_size
        self.store.put_file(self.key(relative), path)
        log.info("store: put %s (%d bytes)", self.key(relative), size)

    def delete(self, relative_prefix: str = "") -> None:
        self.store.delete_prefix(self.key(relative_prefix))

    def attempt_dirs(self) -> Iterator[str]:
        """The attempt directories of the session (every ``<token>/``)."""
        for name, _ in self.store.list_children(self.prefix):
            yield name


class UploadFile(Protocol):
    @property
    def closed(self) -> bool: ...

    def write(self, data: bytes, /) -> int: ...

    def close(self) -> None: ...


class Tee:
    """Writes to a local file and a blob writer at once."""

    def __init__(self, file: BinaryIO, writer: BlobWriter) -> None:
        self.file, self.writer = file, writer

    @property
    def closed(self) -> bool:
        return self.file.closed

    def write(self, data: bytes, /) -> int:
        self.writer.write(data)
        return self.file.write(data)

    def close(self) -> None:
        self.file.close()
