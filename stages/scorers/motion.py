"""Motion energy: how much the picture changed since the frame before."""

from __future__ import annotations

from typing import ClassVar

import cv2
import numpy as np

from stages.scorers.base import FrameBatch


class MotionScorer:
    """Mean absolute gray difference to the previous frame, in [0, 1]; the first frame is 0."""

    name: ClassVar[str] = "motion"
    needs_audio: ClassVar[bool] = False

    def score_batch(self, batch: FrameBatch) -> np.ndarray:
        out = np.zeros(len(batch.frames), dtype=np.float32)
        previous = batch.previous
        for i, frame in enumerate(batch.frames):
            if previous is not None:
                out[i] = cv2.absdiff(frame, previous).mean() / 255.0
            previous = frame
        return out
