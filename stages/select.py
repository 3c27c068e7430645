"""Select stage: turn the per-frame highlight score into a few frame-aligned segments.

Peaks become cores (where the score stays high), cores are padded, close ones merged,
lengths brought within the clip limits, edges snapped to nearby cuts, and the best
ones kept within the count and duration budget. Never raises on odd input: it returns
no segments and says why.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from stages.context import StageContext
from stages.errors import MissingInput
from stages.options import AnalysisOptions
from stages.probe import VideoInfo
from stages.score import load_scores, smooth
from stages.workspace import HIGHLIGHTS, PROBE

ACTIVITY_FLOOR = 0.02  # best score below this: nothing to show
BASE_PERCENTILE = 25  # the usual score: highlights may fill up to three quarters of a clip
FLAT_CONTRAST = 0.15  # top minus usual below this: no moment stands out, take one window
PEAK_LEVEL = 0.5  # a peak must rise this far from the usual score towards the top score
MIN_PEAK = 0.3  # and reach this score (stages.score: 30 % of a clear rise in motion or sound)
GROW_LEVEL = 0.5  # a core spans where the score stays this far from usual to its peak
SMOOTH_SECONDS = 0.5  # extra smoothing before peak picking (inputs may be raw)
MERGE_GAP_SECONDS = 1.0  # padded spans closer than this become one segment (if not too long)
SNAP_SECONDS = 1.0  # a cut this close inside an edge becomes the edge
STILL_MOTION = 0.004  # smoothed motion never above this ...
QUIET_LOUDNESS = 0.25  # ... and sound never above -45 dBFS: nothing moves or makes a sound
MAX_CANDIDATES = 64  # cores looked at before the budget decides

NOTHING_HAPPENS = ("Nothing moves or makes a sound in this video, so no part of it stands "
                   "out as a highlight.")
NO_FRAMES = "The video has no analysed frames to choose from."
NOTHING_ASKED = "No highlights were requested (zero duration or count)."


@dataclass(frozen=True)
class Segment:
    start: float  # seconds: the first frame's time
    end: float  # seconds: the time after the last frame (exclusive)
    score: float  # mean highlight score inside, in [0, 1]
    start_frame: int  # first source frame
    end_frame: int  # source frame after the last one


@dataclass(frozen=True)
class Selection:
    segments: list[Segment]  # sorted by start, non-overlapping
    reason: str | None = None  # why there are no segments

    def to_dict(self) -> dict[str, Any]:
        return {"segments": [asdict(s) for s in self.segments], "reason": self.reason}


@dataclass(frozen=True)
class _Span:
    start: int  # source frames, end exclusive
    end: int
    focus: int  # the frame to keep when trimming (middle of the action)
    strength: float = 0.0  # peak level: ranks spans for the budget

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class _Limits:
    """The user's steering, in source frames, made consistent."""

    pad: int
    min_len: int
    max_len: int
    budget: int
    count: int
    merge_gap: int
    snap_reach: int

    @classmethod
    def build(cls, options: AnalysisOptions, fps: float, total: int) -> _Limits:
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
class _Grid:
    """Analysis frame i covers source frames edges[i]..edges[i+1]; times are its clock."""

    fps: float
    total: int  # source frames in the video
    edges: np.ndarray  # (n + 1,) int
    times: np.ndarray  # (n,) seconds of the analysis frames
    duration: float
    rate: float  # analysis frames per second
    variable: bool  # frame times are not n / fps: edges snap to analysed frames

    @classmethod
    def build(cls, times: np.ndarray, duration: float, fps: float) -> _Grid:
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
    grid = _Grid.build(times, duration, fps)
    limits = _Limits.build(options, fps, grid.total)
    if limits.budget < 1 or limits.count < 1:
        return Selection([], NOTHING_ASKED)
    level = smooth(score, round(SMOOTH_SECONDS * grid.rate))
    top, base = float(level.max()), float(np.percentile(level, BASE_PERCENTILE))
    if still or top < ACTIVITY_FLOOR:
        return Selection([], NOTHING_HAPPENS)
    cut_list = np.asarray(cuts, dtype=np.int64).ravel()
    cut_frames = np.unique(grid.edges[cut_list[(cut_list > 0) & (cut_list < len(times))]])
    if top - base < FLAT_CONTRAST or top < MIN_PEAK:
        spans = [_best_window(level, grid, limits)]
    else:
        cores = _cores(level, base, top, grid)
        spans = _merge([_pad(c, limits, grid) for c in cores], limits)
    spans = _fit_lengths(spans, cut_frames, limits, grid)
    chosen = _within_budget(spans, limits, level, grid)
    return Selection([_segment(s, grid, score) for s in chosen])


def _cores(level: np.ndarray, base: float, top: float, grid: _Grid) -> list[_Span]:
    """Where the score rises high: strongest first, each grown while it stays high."""
    accept = max(base + PEAK_LEVEL * (top - base), MIN_PEAK)
    free = np.ones(len(level), dtype=bool)
    cores: list[_Span] = []
    while len(cores) < MAX_CANDIDATES:
        candidates = np.where(free, level, -np.inf)
        p = int(np.argmax(candidates))  # ties: the earliest, so results are deterministic
        if candidates[p] < accept:
            break
        threshold = base + GROW_LEVEL * (level[p] - base)
        a = b = p
        while a > 0 and free[a - 1] and level[a - 1] >= threshold:
            a -= 1
        while b + 1 < len(level) and free[b + 1] and level[b + 1] >= threshold:
            b += 1
        free[a:b + 1] = False
        start, end = grid.frame_of(a), grid.frame_of(b + 1)
        if end > start:
            cores.append(_Span(start, end, (start + end) // 2, float(level[p])))
    return cores


def _pad(core: _Span, limits: _Limits, grid: _Grid) -> _Span:
    return replace(core, start=max(0, core.start - limits.pad),
                   end=min(grid.total, core.end + limits.pad))


def _merge(spans: list[_Span], limits: _Limits) -> list[_Span]:
    """Join neighbours closer than the merge gap when the union is not too long; split
    the ones that still overlap half way between their foci."""
    out: list[_Span] = []
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        if out and span.start < out[-1].end + limits.merge_gap:
            last = out[-1]
            union = _Span(last.start, max(last.end, span.end), 0, max(last.strength,
                                                                      span.strength))
            if union.length <= limits.max_len:
                out[-1] = replace(union, focus=(union.start + union.end) // 2)
                continue
            if span.start < last.end:
                middle = (last.focus + span.focus) // 2
                out[-1] = replace(last, end=max(last.start + 1, middle))
                span = replace(span, start=min(span.end - 1, max(middle, out[-1].end)))
        out.append(span)
    return out


def _fit_lengths(spans: list[_Span], cuts: np.ndarray, limits: _Limits,
                 grid: _Grid) -> list[_Span]:
    """Trim long spans around their focus; grow short ones into the free room around;
    snap their edges to cuts just inside them."""
    spans = sorted((_trim(s, limits.max_len) for s in spans), key=lambda s: s.start)
    out: list[_Span] = []
    for i, span in enumerate(spans):
        low = out[-1].end if out else 0
        high = spans[i + 1].start if i + 1 < len(spans) else grid.total
        out.append(_snap(_grow(span, limits.min_len, low, high), cuts, limits, low, high))
    return out


def _trim(span: _Span, length: int) -> _Span:
    if span.length <= length:
        return span
    start = int(np.clip(span.focus - length // 2, span.start, span.end - length))
    return replace(span, start=start, end=start + length)


def _grow(span: _Span, length: int, low: int, high: int) -> _Span:
    """Widen to ``length`` frames (evenly, then wherever there is room) within [low, high)."""
    missing = length - span.length
    if missing <= 0:
        return span
    start = max(low, span.start - missing // 2)
    end = min(high, start + length)
    start = max(low, min(start, end - length))
    return replace(span, start=min(start, span.start), end=max(end, span.end))


def _snap(span: _Span, cuts: np.ndarray, limits: _Limits, low: int, high: int) -> _Span:
    """Move an edge inward to a cut just inside it, so the segment starts (or ends) with its
    own shot instead of a sliver of the neighbouring one; a clip made too short by that
    grows at its other end, within the same shot and the room in [low, high)."""
    reach = limits.snap_reach
    near = cuts[(cuts > span.start) & (cuts <= span.start + reach) & (cuts < span.end)]
    if len(near):
        start = int(near.max())
        later = cuts[cuts > start]
        limit = min(high, int(later.min()) if len(later) else high)
        span = replace(span, start=start, end=max(span.end, min(limit, start + limits.min_len)))
    near = cuts[(cuts >= span.end - reach) & (cuts < span.end) & (cuts > span.start)]
    if len(near):
        end = int(near.min())
        earlier = cuts[cuts < end]
        limit = max(low, int(earlier.max()) if len(earlier) else low)
        span = replace(span, end=end, start=min(span.start, max(limit, end - limits.min_len)))
    return replace(span, focus=int(np.clip(span.focus, span.start, span.end - 1)))


def _within_budget(spans: list[_Span], limits: _Limits, level: np.ndarray,
                   grid: _Grid) -> list[_Span]:
    """The strongest spans that fit the count and the duration budget (the last one
    trimmed to what is left, if that still makes a clip)."""
    chosen: list[_Span] = []
    left = limits.budget
    for span in sorted(spans, key=lambda s: (-s.strength, s.start)):
        if len(chosen) == limits.count or left < min(limits.min_len, span.length):
            break
        if span.length > left:
            span = _best_part(span, left, level, grid)
        chosen.append(span)
        left -= span.length
    return sorted(chosen, key=lambda s: s.start)


def _best_part(span: _Span, length: int, level: np.ndarray, grid: _Grid) -> _Span:
    """The ``length``-frame part of ``span`` with the highest score."""
    best, best_mean = span.start, -1.0
    step = max(1, round(grid.fps / grid.rate))
    for start in range(span.start, span.end - length + 1, step):
        inside = level[grid.index_of(start):grid.index_of(start + length - 1) + 1]
        mean = float(inside.mean()) if len(inside) else 0.0
        if mean > best_mean + 1e-12:
            best, best_mean = start, mean
    return replace(span, start=best, end=best + length)


def _best_window(level: np.ndarray, grid: _Grid, limits: _Limits) -> _Span:
    """No clear peak: the busiest window of the longest allowed length."""
    width = max(1, min(len(level), round(limits.max_len / grid.fps * grid.rate)))
    sums = np.convolve(level, np.ones(width), mode="valid")
    first = int(np.argmax(sums))  # ties: the earliest
    start = min(grid.frame_of(first), grid.total - limits.max_len)
    return _Span(start, start + limits.max_len, start + limits.max_len // 2,
                 float(level[first:first + width].max()))


def _segment(span: _Span, grid: _Grid, score: np.ndarray) -> Segment:
    start, end = grid.settle(span.start), grid.settle(span.end)
    if end <= start:
        start, end = span.start, span.end
    first, last = grid.index_of(start), grid.index_of(max(start, end - 1))
    inside = score[first:last + 1]
    return Segment(start=grid.time_of(start), end=grid.time_of(end),
                   score=float(np.clip(inside.mean(), 0.0, 1.0)) if len(inside) else 0.0,
                   start_frame=start, end_frame=end)


def is_still(scores: dict[str, np.ndarray], rate: float) -> bool:
    """The picture never moves and the sound (if any) stays quiet."""
    width = round(rate)
    motion = smooth(scores.get("motion", np.zeros(0)), width)
    loudness = smooth(scores.get("loudness", np.zeros(0)), width)
    return (motion.max(initial=0.0) < STILL_MOTION
            and loudness.max(initial=0.0) < QUIET_LOUDNESS)


def run(ctx: StageContext) -> None:
    workspace = ctx.workspace
    if not workspace.exists(PROBE):
        raise MissingInput("The probe result is missing: the decode stage has not run.")
    info = VideoInfo.from_dict(workspace.read_json(PROBE))
    scores = load_scores(workspace)
    ctx.progress(0.5)
    gaps = np.diff(scores["times"])
    rate = 1.0 / float(np.median(gaps)) if len(gaps) and np.median(gaps) > 0 else info.fps
    selection = select_highlights(scores["times"], scores["highlight"], scores["cuts"],
                                  info.duration, info.fps, ctx.options,
                                  still=is_still(scores, rate))
    workspace.write_json(HIGHLIGHTS, selection.to_dict())
    ctx.progress(1.0)
