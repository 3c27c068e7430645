"""Where the workout stage keeps its stabilised working frames between its passes over them.

On disk (:class:`SpilledFrames`), so memory stays flat however long the video: an unnamed
temporary file (gone once closed, or when the process dies) of chunks of CHUNK frames, the
same chunks every pass reads, with plain file reads. In memory (:class:`ArrayFrames`) for
tests and tools.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Protocol

import numpy as np

from stages.framecache import ChunkReader, ChunkWriter

CHUNK = 512  # frames read at once by every pass (activity, signal): 1.8 MB at 80x45
# Spilled raw: compressing would shrink the file (gone at the stage's end) about 4 times for
# ~60 % more CPU in the stage; raw, it costs 3600 bytes per frame while the stage runs.
COMPRESS = False


class FrameRange(Protocol):
    """Stabilised uint8 working frames, read a range at a time."""

    @property
    def count(self) -> int: ...

    @property
    def shape(self) -> tuple[int, int]: ...

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames [start, stop) (clipped to the video): (n, h, w) uint8."""
        ...


class ArrayFrames:
    """A (count, h, w) array as a :class:`FrameRange`."""

    def __init__(self, frames: np.ndarray) -> None:
        self.frames = frames
        self.count = len(frames)
        self.shape: tuple[int, int] = (int(frames.shape[1]), int(frames.shape[2]))

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.frames[max(0, start):max(0, stop)]


def as_range(frames: FrameRange | np.ndarray) -> FrameRange:
    """An array wrapped as a :class:`FrameRange`; a FrameRange as it is."""
    return ArrayFrames(frames) if isinstance(frames, np.ndarray) else frames


def gather(frames: FrameRange, index: np.ndarray) -> np.ndarray:
    """The frames at ``index``, flattened to (len(index), pixels), read a chunk at a time."""
    out = np.empty((len(index), frames.shape[0] * frames.shape[1]), np.uint8)
    chunk = index // CHUNK
    for k in np.unique(chunk):
        inside = chunk == k
        rows = frames.read(k * CHUNK, (k + 1) * CHUNK).reshape(-1, out.shape[1])
        out[inside] = rows[index[inside] - k * CHUNK]
    return out


class SpilledFrames:
    """Frames appended in order, then (after :meth:`finish`) read back in any range."""

    def __init__(self, directory: Path | None = None) -> None:
        self._file = tempfile.TemporaryFile(dir=directory)  # closed by close()
        self._writer: ChunkWriter | None = None
        self._reader: ChunkReader | None = None
        self.shape: tuple[int, int] = (0, 0)  # set by the first frames
        self.count = 0

    def append(self, frames: np.ndarray) -> None:
        if self._reader is not None:
            raise ValueError("frames are appended before finish(), not after")
        if self._writer is None:
            self.shape = (int(frames.shape[1]), int(frames.shape[2]))
            self._writer = ChunkWriter(self._file, self.shape, CHUNK, COMPRESS)
        self._writer.append(frames)
        self.count = self._writer.count

    def finish(self) -> None:
        if self._reader is None:
            writer = self._writer or ChunkWriter(self._file, self.shape, CHUNK, COMPRESS)
            self._reader = ChunkReader(self._file, writer.finish())

    def read(self, start: int, stop: int) -> np.ndarray:
        if self._reader is None:
            raise ValueError("frames are read after finish()")
        return self._reader.read(start, stop)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> SpilledFrames:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
