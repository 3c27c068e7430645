"""On-disk gray analysis frames, written once by decode and read in memmap batches after.

The frame cache record: written by the decode stage (:class:`FrameCacheWriter`), read by
the score and workout stages (:meth:`FrameCache.open`). On disk: FRAMES raw uint8
(count, h, w); FRAME_TIMES float64 seconds (npy); FRAMES_META JSON {count, height, width,
fps}, written last.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from stages.errors import MissingInput
from stages.records.jsonfile import load_json, save_json
from stages.workspace import FRAME_TIMES, FRAMES, FRAMES_META, Workspace


class FrameCacheWriter:
    """Append gray batches, then :meth:`close` with their timestamps to publish the cache.

    Until ``close`` nothing is visible under the final names, so a crash or a
    cancellation never leaves a cache that looks complete.
    """

    def __init__(self, workspace: Workspace, height: int, width: int) -> None:
        self.workspace = workspace
        self.height = height
        self.width = width
        self.count = 0
        self._file = open(workspace.temp_path(FRAMES), "wb")  # closed by close/abort

    def append(self, frames: np.ndarray) -> None:
        if frames.ndim != 3 or frames.shape[1:] != (self.height, self.width):
            raise ValueError(f"expected (n, {self.height}, {self.width}) frames, "
                             f"got {frames.shape}")
        self._file.write(np.ascontiguousarray(frames, dtype=np.uint8).data)
        self.count += len(frames)

    def close(self, times: np.ndarray, fps: float) -> None:
        times = np.asarray(times, dtype=np.float64)
        if times.shape != (self.count,):
            self.abort()
            raise ValueError(f"{len(times)} timestamps for {self.count} frames")
        self._file.close()
        with open(self.workspace.temp_path(FRAME_TIMES), "wb") as f:
            np.save(f, times)
        self.workspace.commit(FRAMES)
        self.workspace.commit(FRAME_TIMES)
        # The meta file is written last: its presence means the cache is complete.
        save_json(self.workspace, FRAMES_META, {"count": self.count, "height": self.height,
                                                "width": self.width, "fps": float(fps)})

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
    frames: np.ndarray  # (count, height, width) uint8 memmap (or an empty array)

    @classmethod
    def open(cls, workspace: Workspace) -> FrameCache:
        missing = "The frame cache is missing: the decode stage has not run."
        if not all(workspace.exists(a) for a in (FRAMES_META, FRAMES, FRAME_TIMES)):
            raise MissingInput(missing)
        meta = load_json(workspace, FRAMES_META, missing)
        count, height, width = int(meta["count"]), int(meta["height"]), int(meta["width"])
        shape = (count, height, width)
        # np.memmap cannot map an empty file.
        frames = (np.memmap(workspace.path(FRAMES), dtype=np.uint8, mode="r", shape=shape)
                  if count else np.zeros(shape, dtype=np.uint8))
        times = np.load(workspace.path(FRAME_TIMES))
        return cls(count, height, width, float(meta["fps"]), times, frames)

    def batches(self, size: int = 64) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (index of the first frame, frames) over the whole cache, in order."""
        for start in range(0, self.count, size):
            yield start, self.frames[start:start + size]
