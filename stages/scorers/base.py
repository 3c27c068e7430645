"""The frame-scorer plug-in contract: a batch of cached gray frames in, one float per frame out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np


@dataclass(frozen=True)
class FrameBatch:
    frames: np.ndarray  # (n, h, w) uint8 gray, in time order
    times: np.ndarray  # (n,) seconds
    previous: np.ndarray | None  # last frame of the batch before, None for the first batch


class Scorer(Protocol):
    """Scores frames independently of how they are batched: state crosses batches only
    through ``FrameBatch.previous``, so results never depend on the batch size."""

    name: ClassVar[str]  # key in stages.scorers.SCORERS and in the SCORES file
    needs_audio: ClassVar[bool]  # True: constructed with the loudness envelope (or None)

    def score_batch(self, batch: FrameBatch) -> np.ndarray:
        """One float per frame of the batch."""
        ...
