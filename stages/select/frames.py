"""Frames for the select stage: which source frames each analysed frame covers (exact at a
variable rate too), and the user's steering turned into frame counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stages.options import AnalysisOptions

MERGE_GAP_SECONDS = 1.0  # padded spans closer than this become one segment (if not too long)
SNAP_SECONDS = 1.0  # a cut this close inside an edge becomes the edge


@dataclass(frozen=True)
class Limits:
    """The user's steering, in source frames, made consistent."""

    pad: int
    min_len: int
    max_len: int
    budget: int
    count: int
    merge_gap: int
    snap_reach: int

    @classmethod
    def build(cls, options: AnalysisOptions, fps: float, total: int) -> Limits:
        def frames(seconds: float) -> int:
            """Whole frames; no value or a negative one is 0, an infinite one the video."""
            seconds = float(seconds)
            if math.isnan(seconds) or seconds <= 0:
                return 0
            return total if math.isinf(seconds) else min(total, math.floor(seconds * fps + 0.5))

        budget = min(total, frames(options.target_duration))
        min_len = min(max(1, frames(options.min_clip)), budget)
        max_len = min(max(frames(options.max_clip), min_len), budget)
        count = max(0, int(options.max_highlights))
        return cls(frames(options.padding), min_len, max_len, budget, count,
                   round(MERGE_GAP_SECONDS * fps), round(SNAP_SECONDS * fps))


@dataclass(frozen=True)
class Grid:
    """Analysis frame i covers source frames edges[i]..edges[i+1]; times are its clock."""

    fps: float
    total: int  # source frames in the video
    edges: np.ndarray  # (n + 1,) int
    times: np.ndarray  # (n,) seconds of the analysis frames
    duration: float
    rate: float  # analysis frames per second
    variable: bool  # frame times are not n / fps: edges snap to analysed frames

    @classmethod
    def build(cls, times: np.ndarray, duration: float, fps: float) -> Grid:
        total = max(1, math.floor(duration * fps + 1e-6))
        gaps = np.diff(times)
        gap = float(np.median(gaps)) if len(gaps) else 0.0
        step = max(1, round(gap * fps)) if gap > 0 else 1
        rate = fps / step
        # Analysed frame i is decoded frame i * step; at a constant rate that is its time.
        edges = np.minimum(np.append(np.arange(len(times)) * step, total), total)
        variable = bool(len(times)) and bool(np.max(np.abs(times - edges[:-1] / fps))
                                             > 0.5 / fps)
        if variable:
            edges = np.clip(np.round(np.append(times, duration) * fps).astype(np.int64), 0,
                            total)
            edges = np.maximum.accumulate(edges)
            edges[-1] = total
        return cls(fps, total, edges.astype(np.int64), times, duration, rate, variable)

    def frame_of(self, index: int) -> int:
        return int(self.edges[index])

    def index_of(self, frame: int) -> int:
        """The analysis frame covering source ``frame``."""
        return int(np.clip(np.searchsorted(self.edges, frame, side="right") - 1, 0,
                           len(self.times) - 1))

    def time_of(self, frame: int) -> float:
        """Seconds of a boundary: exact at a constant rate, an analysed frame's time if not."""
        if frame >= self.total:
            return self.duration
        if not self.variable:
            return frame / self.fps
        return float(self.times[self.index_of(frame)])

    def settle(self, frame: int) -> int:
        """A boundary the render can cut at without moving sound against picture: any frame
        at a constant rate, the nearest analysed frame's edge at a variable one."""
        if not self.variable or frame >= self.total:
            return frame
        i = int(np.clip(np.searchsorted(self.edges, frame), 0, len(self.edges) - 1))
        near = min((j for j in (i - 1, i) if j >= 0), key=lambda j: abs(self.edges[j] - frame))
        return int(self.edges[near])
