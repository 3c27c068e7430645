"""Scene change: how far the gray levels moved since the frame before, region by region.

Per quarter of the picture, the earth mover's distance between the gray histograms (the
area between their cumulative curves): a new shot moves a lot of mass far, in most
quarters; motion shuffles pixels but hardly changes a quarter's levels; a fade or a
light change shifts every level a little, which this distance (unlike bin-by-bin
histogram differences) counts as little.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from stages.scorers.base import FrameBatch

BINS = 64  # gray levels per bin: 4, coarse enough to ignore noise
GRID = 2  # the picture is cut into GRID x GRID regions


def region_cdfs(frame: np.ndarray) -> np.ndarray:
    """(GRID * GRID, BINS) cumulative, normalised gray histograms of a uint8 frame's regions."""
    h, w = frame.shape
    rows = [frame[h * i // GRID:h * (i + 1) // GRID] for i in range(GRID)]
    regions = [r[:, w * j // GRID:w * (j + 1) // GRID] for r in rows for j in range(GRID)]
    out = np.empty((len(regions), BINS))
    for k, region in enumerate(regions):
        counts = np.bincount((region >> 2).ravel(), minlength=BINS)  # 256 / 64 = 4 a bin
        out[k] = np.cumsum(counts) / max(1, region.size)
    return out


def scene_change(before: np.ndarray, after: np.ndarray) -> float:
    """Mean over regions of the earth mover's distance, in [0, 1] (1: black to white)."""
    return float(np.abs(after - before).sum(axis=1).mean() / (BINS - 1))


class SceneScorer:
    """Regional gray-level change to the previous frame, in [0, 1]; the first frame is 0."""

    name: ClassVar[str] = "scene"
    needs_audio: ClassVar[bool] = False

    def score_batch(self, batch: FrameBatch) -> np.ndarray:
        out = np.zeros(len(batch.frames), dtype=np.float32)
        previous = None if batch.previous is None else region_cdfs(batch.previous)
        for i, frame in enumerate(batch.frames):
            cdfs = region_cdfs(frame)
            if previous is not None:
                out[i] = scene_change(previous, cdfs)
            previous = cdfs
        return out
