"""The frame scores record: what the score stage found in every analysed frame."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from stages.errors import MissingInput
from stages.workspace import SCORES, Workspace

# The npz keys besides one per scorer; a scorer of one of these names would be lost.
_TIMES, _HIGHLIGHT, _CUTS = "times", "highlight", "cuts"


@dataclass(frozen=True)
class FrameScores:
    """Per analysed frame (one per frame of the frame cache, in order): written by the
    score stage, read by select (highlight, components, cuts) and workout (cuts).

    ``times``: float64 seconds of each frame, the frame cache's times.
    ``components``: scorer name (``Scorer.name``, see stages.scorers) -> float32 per frame,
    each in [0, 1]: ``motion`` mean absolute gray change since the frame before, ``scene``
    regional gray-level change, ``loudness`` sound level mapped from -60..0 dBFS.
    ``highlight``: float32 in [0, 1], the combined highlight score (stages.score.combine).
    ``cuts``: int64 indices of the frames that start a new shot (hard cuts), ascending.

    On disk (SCORES, npz): one array per component under its name, then ``times``,
    ``highlight`` and ``cuts``.
    """

    times: np.ndarray
    components: Mapping[str, np.ndarray]
    highlight: np.ndarray
    cuts: np.ndarray

    def component(self, name: str) -> np.ndarray:
        """One scorer's output; empty when that scorer did not run."""
        return self.components.get(name, np.zeros(0, dtype=np.float32))

    def save(self, workspace: Workspace) -> None:
        with open(workspace.temp_path(SCORES), "wb") as f:
            arrays = {**self.components, _TIMES: self.times,
                      _HIGHLIGHT: self.highlight.astype(np.float32),
                      _CUTS: self.cuts.astype(np.int64)}
            np.savez(f, **arrays)  # type: ignore[arg-type]
        workspace.commit(SCORES)

    @classmethod
    def load(cls, workspace: Workspace) -> FrameScores:
        if not workspace.exists(SCORES):
            raise MissingInput("The frame scores are missing: the score stage has not run.")
        with np.load(workspace.path(SCORES)) as data:
            arrays = {key: data[key] for key in data.files}
        return cls(times=arrays.pop(_TIMES), highlight=arrays.pop(_HIGHLIGHT),
                   cuts=arrays.pop(_CUTS), components=arrays)
