"""On-disk gray analysis frames, written once by decode and read back in batches after.

The frame cache record: written by the decode stage (:class:`FrameCacheWriter`), read by
the score and workout stages (:meth:`FrameCache.open`). On disk: FRAMES, chunks of
CHUNK_FRAMES uint8 frames (h, w), each compressed alone (zlib), one after another;
FRAME_TIMES float64 seconds (npy); FRAMES_META JSON {format, count, height, width, fps,
chunk_frames, chunks: each chunk's compressed bytes}, written last. A cache without a
format (the raw uint8 (count, h, w) of old versions) still reads.

Frames are read with plain file reads, never a memory map: the pages of a map a stage has
read through stay in its resident memory, 0.4 MB per second of video.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from stages.errors import MissingInput
from stages.records.jsonfile import load_json, save_json
from stages.workspace import FRAME_TIMES, FRAMES, FRAMES_META, Workspace

FORMAT = "zlib-chunks"  # FRAMES_META["format"]; absent: raw frames
CHUNK_FRAMES = 64  # frames compressed together: about 1 MB raw at 160x90
LEVEL = 1  # zlib's fastest: 2-5 ms of CPU per second of 160x90 video, 3 % of decoding it


@dataclass(frozen=True)
class ChunkIndex:
    """Where the frames of a chunked file lie: chunk k holds frames from k * chunk_frames."""

    count: int  # frames
    shape: tuple[int, int]  # (height, width) of a frame
    chunk_frames: int
    offsets: np.ndarray  # (chunks + 1,) int64 byte offsets
    compressed: bool

    @classmethod
    def raw(cls, count: int, shape: tuple[int, int]) -> ChunkIndex:
        """A plain (count, h, w) uint8 file, read CHUNK_FRAMES frames at a time."""
        frame = shape[0] * shape[1]
        ends = np.minimum(np.arange(0, count + CHUNK_FRAMES, CHUNK_FRAMES), count) * frame
        return cls(count, shape, CHUNK_FRAMES, np.unique(ends).astype(np.int64), False)

    def frames_of(self, chunk: int) -> tuple[int, int]:
        """[first, last) frame of a chunk."""
        first = chunk * self.chunk_frames
        return first, min(self.count, first + self.chunk_frames)


class ChunkWriter:
    """Appends frames to a binary file in compressed chunks; :meth:`finish` flushes the
    last one and tells where they all are."""

    def __init__(self, file: IO[bytes], shape: tuple[int, int],
                 chunk_frames: int = CHUNK_FRAMES, compress: bool = True) -> None:
        self.file, self.shape, self.compress = file, shape, compress
        self.count = 0
        self._chunk = np.empty((chunk_frames, *shape), np.uint8)
        self._filled = 0
        self._sizes: list[int] = []

    def append(self, frames: np.ndarray) -> None:
        if frames.ndim != 3 or frames.shape[1:] != self.shape:
            raise ValueError(f"expected (n, {self.shape[0]}, {self.shape[1]}) frames, "
                             f"got {frames.shape}")
        done = 0
        while done < len(frames):
            take = min(len(self._chunk) - self._filled, len(frames) - done)
            self._chunk[self._filled:self._filled + take] = frames[done:done + take]
            self._filled, done = self._filled + take, done + take
            if self._filled == len(self._chunk):
                self._flush()
        self.count += len(frames)

    def finish(self) -> ChunkIndex:
        self._flush()
        self.file.flush()
        offsets = np.concatenate([[0], np.cumsum(self._sizes, dtype=np.int64)])
        return ChunkIndex(self.count, self.shape, len(self._chunk), offsets, self.compress)

    @property
    def sizes(self) -> list[int]:
        return list(self._sizes)

    def _flush(self) -> None:
        if self._filled:
            data = self._chunk[:self._filled].tobytes()
            data = zlib.compress(data, LEVEL) if self.compress else data
            self.file.write(data)
            self._sizes.append(len(data))
            self._filled = 0


class ChunkReader:
    """Reads any range of frames from a chunked file, keeping the last two chunks it
    decoded: reads in order, even with a look back, decode each chunk once."""

    def __init__(self, file: IO[bytes], index: ChunkIndex) -> None:
        self.file, self.index = file, index
        self._kept: dict[int, np.ndarray] = {}

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames [start, stop) (clipped to the file); not to be written to (within one
        chunk, a view of the chunk kept)."""
        start, stop = max(0, start), min(self.index.count, stop)
        if stop <= start:
            return np.zeros((0, *self.index.shape), np.uint8)
        size = self.index.chunk_frames
        first, last = start // size, (stop - 1) // size
        if first == last:
            return self._decoded(first)[start - first * size:stop - first * size]
        parts = [self._decoded(k) for k in range(first, last + 1)]
        return np.concatenate(parts)[start - first * size:stop - first * size]

    def _decoded(self, chunk: int) -> np.ndarray:
        if chunk not in self._kept:
            begin, end = self.index.offsets[chunk], self.index.offsets[chunk + 1]
            self.file.seek(int(begin))
            data = self.file.read(int(end - begin))
            if self.index.compressed:
                data = zlib.decompress(data)
            first, last = self.index.frames_of(chunk)
            frames = np.frombuffer(data, np.uint8).reshape(last - first, *self.index.shape)
            self._kept = {**{k: v for k, v in self._kept.items() if k == chunk - 1},
                          chunk: frames}
        return self._kept[chunk]


class FrameCacheWriter:
    """Append gray batches, then :meth:`close` with their timestamps to publish the cache.

    Until ``close`` nothing is visible under the final names, so a crash or a
    cancellation never leaves a cache that looks complete.
    """

    def __init__(self, workspace: Workspace, height: int, width: int) -> None:
        self.workspace = workspace
        self.height = height
        self.width = width
        self._file = open(workspace.temp_path(FRAMES), "wb")  # closed by close/abort
        self._chunks = ChunkWriter(self._file, (height, width))

    @property
    def count(self) -> int:
        return self._chunks.count

    def append(self, frames: np.ndarray) -> None:
        self._chunks.append(np.asarray(frames))

    def close(self, times: np.ndarray, fps: float) -> None:
        times = np.asarray(times, dtype=np.float64)
        if times.shape != (self.count,):
            self.abort()
            raise ValueError(f"{len(times)} timestamps for {self.count} frames")
        self._chunks.finish()
        self._file.close()
        with open(self.workspace.temp_path(FRAME_TIMES), "wb") as f:
            np.save(f, times)
        self.workspace.commit(FRAMES)
        self.workspace.commit(FRAME_TIMES)
        # The meta file is written last: its presence means the cache is complete.
        save_json(self.workspace, FRAMES_META, {
            "format": FORMAT, "count": self.count, "height": self.height,
            "width": self.width, "fps": float(fps), "chunk_frames": CHUNK_FRAMES,
            "chunks": self._chunks.sizes})

    def abort(self) -> None:
        """Drop what was written (cancellation, or a decoder restart)."""
        self._file.close()
        for name in (FRAMES, FRAME_TIMES):
            self.workspace.temp_path(name).unlink(missing_ok=True)

    def __enter__(self) -> FrameCacheWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if not self._file.closed:
            self.abort()


@dataclass(frozen=True)
class FrameCache:
    """A read-only view of a finished cache: the decoded picture, gray, small and upright."""

    count: int  # frames kept (every k-th source frame when the rate is capped)
    height: int  # pixels, display aspect kept, never upscaled, even
    width: int
    fps: float  # kept frames per second (the source rate over k)
    times: np.ndarray  # float64 seconds of each frame: the source's own timestamps
    path: Path  # the FRAMES file
    index: ChunkIndex

    @classmethod
    def open(cls, workspace: Workspace) -> FrameCache:
        missing = "The frame cache is missing: the decode stage has not run."
        if not all(workspace.exists(a) for a in (FRAMES_META, FRAMES, FRAME_TIMES)):
            raise MissingInput(missing)
        meta = load_json(workspace, FRAMES_META, missing)
        count, height, width = int(meta["count"]), int(meta["height"]), int(meta["width"])
        times = np.load(workspace.path(FRAME_TIMES))
        return cls(count, height, width, float(meta["fps"]), times, workspace.path(FRAMES),
                   _index(meta, count, (height, width)))

    def batches(self, size: int = 64) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (index of the first frame, frames) over the whole cache, in order."""
        with open(self.path, "rb") as f:
            reader = ChunkReader(f, self.index)
            for start in range(0, self.count, size):
                yield start, reader.read(start, start + size)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames [start, stop) as one (n, height, width) uint8 array."""
        with open(self.path, "rb") as f:
            return ChunkReader(f, self.index).read(start, stop)

    @property
    def frames(self) -> FrameView:
        """The frames, indexed like an array (each index reads from the file)."""
        return FrameView(self)


class FrameView:
    """``cache.frames[i]``, ``cache.frames[a:b]``: what is indexed is read when asked for."""

    def __init__(self, cache: FrameCache) -> None:
        self.cache = cache
        self.shape = (cache.count, cache.height, cache.width)

    def __len__(self) -> int:
        return self.cache.count

    def __getitem__(self, key: int | slice) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.cache.count)
            return self.cache.read(start, stop)[::step]
        index = range(self.cache.count)[key]  # negative indices, IndexError
        return self.cache.read(index, index + 1)[0]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        frames = self.cache.read(0, self.cache.count)
        return frames if dtype is None else frames.astype(dtype)


def _index(meta: dict[str, Any], count: int, shape: tuple[int, int]) -> ChunkIndex:
    """Where the chunks of a cache lie, from its meta file."""
    kind = meta.get("format")
    if kind is None:
        return ChunkIndex.raw(count, shape)
    if kind != FORMAT:
        raise MissingInput(f"The frame cache has an unknown format ({kind!r}): decode again.")
    sizes = np.asarray(meta["chunks"], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return ChunkIndex(count, shape, int(meta["chunk_frames"]), offsets, True)
