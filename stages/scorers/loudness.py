"""Loudness: the sound level around each frame, mapped from -60..0 dBFS to [0, 1]."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from stages.audio import AudioEnvelope
from stages.scorers.base import FrameBatch

QUIET_DB = -60.0  # at or below: 0 (room noise, hiss)
LOUD_DB = 0.0  # full scale: 1


class LoudnessScorer:
    """Per-frame loudness in [0, 1]; all zeros for a video without sound."""

    name: ClassVar[str] = "loudness"
    needs_audio: ClassVar[bool] = True

    def __init__(self, audio: AudioEnvelope | None) -> None:
        self.audio = audio

    def score_batch(self, batch: FrameBatch) -> np.ndarray:
        if self.audio is None:
            return np.zeros(len(batch.frames), dtype=np.float32)
        level = self.audio.at(np.asarray(batch.times, dtype=np.float64))
        return np.clip((level - QUIET_DB) / (LOUD_DB - QUIET_DB), 0.0, 1.0).astype(np.float32)
