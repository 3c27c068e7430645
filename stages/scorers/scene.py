"""Scene-change strength: how far the gray histogram moved since the frame before.

A histogram ignores where things are: motion barely moves it, a hard cut moves it a lot.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from stages.scorers.base import FrameBatch

BINS = 32  # coarse enough to ignore noise and compression, fine enough to tell shots apart


def gray_histogram(frame: np.ndarray) -> np.ndarray:
    """Normalised BINS-bin histogram of a uint8 frame."""
    counts = np.bincount((frame >> 3).ravel(), minlength=BINS)  # 256 / 32 = 8 levels a bin
    return counts / max(1, frame.size)


class SceneScorer:
    """Half the L1 distance between consecutive normalised histograms, in [0, 1]."""

    name: ClassVar[str] = "scene"
    needs_audio: ClassVar[bool] = False

    def score_batch(self, batch: FrameBatch) -> np.ndarray:
        out = np.zeros(len(batch.frames), dtype=np.float32)
        previous = None if batch.previous is None else gray_histogram(batch.previous)
        for i, frame in enumerate(batch.frames):
            hist = gray_histogram(frame)
            if previous is not None:
                out[i] = 0.5 * np.abs(hist - previous).sum()
            previous = hist
        return out
