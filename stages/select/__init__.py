"""Select stage: turn the per-frame highlight score into a few frame-aligned segments.

Peaks become cores (where the score stays high), cores are padded, close ones merged,
lengths brought within the clip limits, edges snapped to nearby cuts, and the best
ones kept within the count and duration budget (``spans``), all counted in source frames
(``frames``). Never raises on odd input: it returns no segments and says why.
"""

from __future__ import annotations

import numpy as np

from stages.context import StageContext
from stages.options import AnalysisOptions
from stages.probe import VideoInfo
from stages.records.highlights import Segment, Selection
from stages.records.scores import FrameScores
from stages.score import smooth
from stages.scorers.loudness import LoudnessScorer
from stages.scorers.motion import MotionScorer
from stages.select.frames import Grid, Limits
from stages.select.spans import (
    MIN_PEAK,
    Span,
    best_window,
    cores,
    fit_lengths,
    merge,
    pad,
    within_budget,
)

ACTIVITY_FLOOR = 0.02  # best score below this: nothing to show
BASE_PERCENTILE = 25  # the usual score: highlights may fill up to three quarters of a clip
FLAT_CONTRAST = 0.15  # top minus usual below this: no moment stands out, take one window
SMOOTH_SECONDS = 0.5  # extra smoothing before peak picking (inputs may be raw)
STILL_MOTION = 0.004  # smoothed motion never above this ...
QUIET_LOUDNESS = 0.25  # ... and sound never above -45 dBFS: nothing moves or makes a sound

NOTHING_HAPPENS = ("Nothing moves or makes a sound in this video, so no part of it stands "
                   "out as a highlight.")
NO_FRAMES = "The video has no analysed frames to choose from."
NOTHING_ASKED = "No highlights were requested (zero duration or count)."


def select_highlights(times: np.ndarray, score: np.ndarray, cuts: np.ndarray,
                      duration: float, fps: float, options: AnalysisOptions,
                      still: bool = False) -> Selection:
    """Pick highlight segments; ``cuts`` are analysis-frame indices of scene cuts;
    ``still``: the picture never moves and the sound stays quiet."""
    times = np.asarray(times, dtype=np.float64)
    score = np.clip(np.nan_to_num(np.asarray(score, dtype=np.float64)), 0.0, 1.0)
    if (len(times) == 0 or len(times) != len(score) or not duration > 0 or not fps > 0
            or not np.all(np.isfinite(times))):
        return Selection([], NO_FRAMES)
    grid = Grid.build(times, duration, fps)
    limits = Limits.build(options, fps, grid.total)
    if limits.budget < 1 or limits.count < 1:
        return Selection([], NOTHING_ASKED)
    level = smooth(score, round(SMOOTH_SECONDS * grid.rate))
    top, base = float(level.max()), float(np.percentile(level, BASE_PERCENTILE))
    if still or top < ACTIVITY_FLOOR:
        return Selection([], NOTHING_HAPPENS)
    cut_list = np.asarray(cuts, dtype=np.int64).ravel()
    cut_frames = np.unique(grid.edges[cut_list[(cut_list > 0) & (cut_list < len(times))]])
    if top - base < FLAT_CONTRAST or top < MIN_PEAK:
        spans = [best_window(level, grid, limits)]
    else:
        found = cores(level, base, top, grid)
        spans = merge([pad(c, limits, grid) for c in found], limits)
    spans = fit_lengths(spans, cut_frames, limits, grid)
    chosen = within_budget(spans, limits, level, grid)
    return Selection([_segment(s, grid, score) for s in chosen])


def _segment(span: Span, grid: Grid, score: np.ndarray) -> Segment:
    start, end = grid.settle(span.start), grid.settle(span.end)
    if end <= start:
        start, end = span.start, span.end
    first, last = grid.index_of(start), grid.index_of(max(start, end - 1))
    inside = score[first:last + 1]
    return Segment(start=grid.time_of(start), end=grid.time_of(end),
                   score=float(np.clip(inside.mean(), 0.0, 1.0)) if len(inside) else 0.0,
                   start_frame=start, end_frame=end)


def is_still(scores: FrameScores, rate: float) -> bool:
    """The picture never moves and the sound (if any) stays quiet."""
    width = round(rate)
    motion = smooth(scores.component(MotionScorer.name), width)
    loudness = smooth(scores.component(LoudnessScorer.name), width)
    return (motion.max(initial=0.0) < STILL_MOTION
            and loudness.max(initial=0.0) < QUIET_LOUDNESS)


def run(ctx: StageContext) -> None:
    """Read the probe and the frame scores, write the highlights (:class:`Selection`)."""
    workspace = ctx.workspace
    info = VideoInfo.load(workspace)
    scores = FrameScores.load(workspace)
    ctx.progress(0.5)
    gaps = np.diff(scores.times)
    rate = 1.0 / float(np.median(gaps)) if len(gaps) and np.median(gaps) > 0 else info.fps
    selection = select_highlights(scores.times, scores.highlight, scores.cuts,
                                  info.duration, info.fps, ctx.options,
                                  still=is_still(scores, rate))
    selection.save(workspace)
    ctx.progress(1.0)
