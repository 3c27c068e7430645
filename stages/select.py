"""Select stage: turn the per-frame highlight score into a few frame-aligned segments.

Best peaks first: grown, padded, length-limited, merged, snapped to cuts, fitted to the budget.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from stages.context import StageContext
from stages.errors import MissingInput
from stages.options import AnalysisOptions
from stages.probe import VideoInfo
from stages.score import load_scores, smooth
from stages.workspace import HIGHLIGHTS, PROBE

ACTIVITY_FLOOR = 0.02  # best score below this: still and silent, nothing to show
FLAT_CONTRAST = 0.15  # top minus median below this: no moment stands out, take one window
PEAK_LEVEL = 0.5  # a peak must rise this far from the median towards the top score
GROW_LEVEL = 0.5  # grow while the score is this far from the median towards the peak
SMOOTH_SECONDS = 0.5  # extra smoothing before peak picking (inputs may be raw)
MERGE_GAP_SECONDS = 1.0  # peaks whose segments come closer than this become one segment
SNAP_SECONDS = 1.0  # a cut this close inside an edge becomes the edge

NOTHING_HAPPENS = ("Nothing moves or makes a sound in this video, so no part of it stands "
                   "out as a highlight.")


@dataclass(frozen=True)
class Segment:
    start: float  # seconds, start_frame / fps
    end: float  # seconds, end_frame / fps (exclusive)
    score: float  # mean highlight score inside, in [0, 1]
    start_frame: int  # first source frame
    end_frame: int  # source frame after the last one


@dataclass(frozen=True)
class Selection:
    segments: list[Segment]  # sorted by start, non-overlapping
    reason: str | None = None  # why there are no segments

    def to_dict(self) -> dict[str, Any]:
        return {"segments": [asdict(s) for s in self.segments], "reason": self.reason}


@dataclass
class _Span:
    start: int  # source frames, end exclusive
    end: int
    peak: int

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class _Grid:
    """Source-frame arithmetic: analysis frame i covers source frames edges[i]..edges[i+1]."""

    fps: float
    total: int  # source frames in the video
    edges: np.ndarray  # (n + 1,) int
    rate: float  # analysis frames per second
    pad: int
    min_len: int
    max_len: int
    budget: int
    merge_gap: int
    snap_reach: int

    @classmethod
    def build(cls, times: np.ndarray, duration: float, fps: float,
              options: AnalysisOptions) -> _Grid:
        total = int(np.floor(duration * fps + 1e-6))
        edges = np.clip(np.round(np.append(times, duration) * fps).astype(np.int64), 0, total)
        edges = np.maximum.accumulate(edges)
        edges[-1] = total
        gaps = np.diff(times)
        rate = 1.0 / float(np.median(gaps)) if len(gaps) and np.median(gaps) > 0 else fps
        budget = min(total, int(np.floor(options.target_duration * fps + 1e-6)))
        min_len = min(round(options.min_clip * fps), budget)
        max_len = min(max(round(options.max_clip * fps), min_len), budget)
        return cls(fps, total, edges, rate, round(options.padding * fps), min_len, max_len,
                   budget, round(MERGE_GAP_SECONDS * fps), round(SNAP_SECONDS * fps))

    def fit(self, span: _Span) -> _Span:
        """Pad, then bring the length within [min_len, max_len] inside the video."""
        start, end = max(0, span.start - self.pad), min(self.total, span.end + self.pad)
        if end - start > self.max_len:  # keep the part around the peak
            start = int(np.clip(span.peak - self.max_len // 2, start, end - self.max_len))
            end = start + self.max_len
        if end - start < self.min_len:
            extra = self.min_len - (end - start)
            start, end = start - extra // 2, end + extra - extra // 2
            shift = max(0, -start) - max(0, end - self.total)
            start, end = max(0, start + shift), min(self.total, end + shift)
        return _Span(start, end, span.peak)

    def snap(self, span: _Span, cuts: np.ndarray) -> _Span:
        """Move an edge inward to a cut just inside it, so a segment starts (or ends) with
        its shot instead of showing a few frames of the neighbouring one."""
        near_start = cuts[(cuts > span.start) & (cuts <= span.start + self.snap_reach)
                          & (cuts < span.end)]
        if len(near_start) and span.end - near_start.max() >= self.min_len:
            span = _Span(int(near_start.max()), span.end, span.peak)
        near_end = cuts[(cuts >= span.end - self.snap_reach) & (cuts < span.end)
                        & (cuts > span.start)]
        if len(near_end) and near_end.min() - span.start >= self.min_len:
            span = _Span(span.start, int(near_end.min()), span.peak)
        return span

    def trim(self, span: _Span, length: int) -> _Span:
        """Shorten to ``length`` frames, keeping the peak inside."""
        if span.length <= length:
            return span
        start = int(np.clip(span.peak - length // 2, span.start, span.end - length))
        return _Span(start, start + length, span.peak)

    def segment(self, span: _Span, times: np.ndarray, score: np.ndarray,
                duration: float) -> Segment:
        frames = np.round(times * self.fps)
        inside = score[(frames >= span.start) & (frames < span.end)]
        if len(inside) == 0:  # a span shorter than one analysis frame
            inside = score[[int(np.argmin(np.abs(frames - span.start)))]]
        return Segment(start=span.start / self.fps, end=min(span.end / self.fps, duration),
                       score=float(np.clip(inside.mean(), 0.0, 1.0)),
                       start_frame=span.start, end_frame=span.end)


def select_highlights(times: np.ndarray, score: np.ndarray, cuts: np.ndarray,
                      duration: float, fps: float, options: AnalysisOptions) -> Selection:
    """Pick highlight segments; ``cuts`` are analysis-frame indices of scene cuts."""
    times = np.asarray(times, dtype=np.float64)
    score = np.clip(np.nan_to_num(np.asarray(score, dtype=np.float64)), 0.0, 1.0)
    if len(times) == 0 or len(times) != len(score) or duration <= 0 or fps <= 0:
        return Selection([], "The video has no analysed frames to choose from.")
    grid = _Grid.build(times, duration, fps, options)
    if grid.budget < 1 or options.max_highlights < 1:
        return Selection([], "No highlights were requested (zero duration or count).")
    level = smooth(score, round(SMOOTH_SECONDS * grid.rate))
    top, base = float(level.max()), float(np.median(level))
    if top < ACTIVITY_FLOOR:
        return Selection([], NOTHING_HAPPENS)
    cut_list = np.asarray(cuts, dtype=np.int64)
    cut_frames = grid.edges[cut_list[(cut_list >= 0) & (cut_list < len(times))]]
    if top - base < FLAT_CONTRAST:
        spans = [_best_window(level, grid, cut_frames)]
    else:
        spans = _peak_spans(level, base, top, grid, cut_frames, options.max_highlights)
    spans.sort(key=lambda s: s.start)
    return Selection([grid.segment(s, times, score, duration) for s in spans])


def _best_window(level: np.ndarray, grid: _Grid, cuts: np.ndarray) -> _Span:
    """The window of the longest allowed length with the highest mean score."""
    width = max(1, min(len(level), round(grid.max_len / grid.fps * grid.rate)))
    sums = np.convolve(level, np.ones(width), mode="valid")
    first = int(np.argmax(sums))
    start = int(grid.edges[first])
    span = _Span(start, start + grid.max_len, int(grid.edges[first + width // 2]))
    return grid.snap(_fit_unpadded(grid, span), cuts)


def _fit_unpadded(grid: _Grid, span: _Span) -> _Span:
    shift = max(0, span.end - grid.total)
    return _Span(max(0, span.start - shift), min(grid.total, span.end), span.peak)


def _peak_spans(level: np.ndarray, base: float, top: float, grid: _Grid, cuts: np.ndarray,
                max_count: int) -> list[_Span]:
    accept = base + PEAK_LEVEL * (top - base)
    free = np.ones(len(level), dtype=bool)
    spans: list[_Span] = []
    while len(spans) < max_count:
        candidates = np.where(free, level, -np.inf)
        p = int(np.argmax(candidates))  # ties: the earliest, so results are deterministic
        if candidates[p] < accept:
            break
        a, b = _grow(level, p, base + GROW_LEVEL * (level[p] - base), grid)
        free[a:b + 1] = False
        start, end = int(grid.edges[a]), int(grid.edges[b + 1])
        # The middle of the high stretch, not its first maximum: trims keep the action.
        core = _Span(start, end, (start + end) // 2)
        span = grid.snap(grid.fit(core), cuts)
        if not _place(span, spans, grid, cuts):
            break  # the budget is spent
    return spans


def _grow(level: np.ndarray, p: int, threshold: float, grid: _Grid) -> tuple[int, int]:
    """Widen [a, b] around p towards the higher neighbour while it stays above threshold."""
    a = b = p
    room = grid.max_len - 2 * grid.pad
    while True:
        left = level[a - 1] if a > 0 else -np.inf
        right = level[b + 1] if b + 1 < len(level) else -np.inf
        if max(left, right) < threshold:
            return a, b
        na, nb = (a - 1, b) if left >= right else (a, b + 1)
        if grid.edges[nb + 1] - grid.edges[na] > room:
            return a, b
        a, b = na, nb


def _place(span: _Span, spans: list[_Span], grid: _Grid, cuts: np.ndarray) -> bool:
    """Merge ``span`` into a close neighbour or add it; False when no budget is left."""
    remaining = grid.budget - sum(s.length for s in spans)
    for i, other in enumerate(spans):
        if span.start >= other.end + grid.merge_gap or other.start >= span.end + grid.merge_gap:
            continue
        union = _Span(min(span.start, other.start), max(span.end, other.end), other.peak)
        union = _clear_of(union, spans[:i] + spans[i + 1:])
        if union.length <= grid.max_len:
            spans[i] = _extend_within(other, union, remaining)
            return True
        if other.start <= span.peak < other.end:
            return True  # its peak is already shown; nothing to add
        # Too long to merge: keep the two apart.
        if span.peak >= other.end:
            span = _Span(max(span.start, other.end), span.end, span.peak)
        else:
            span = _Span(span.start, min(span.end, other.start), span.peak)
    span = _clear_of(span, spans)
    if span.length < grid.min_len:
        return True  # squeezed out by its neighbours; later peaks may still fit
    if remaining < grid.min_len:
        return False
    spans.append(grid.snap(grid.trim(span, remaining), cuts))
    return True


def _extend_within(span: _Span, union: _Span, extra: int) -> _Span:
    """Grow ``span`` towards ``union``'s edges by at most ``extra`` frames in all."""
    left = min(span.start - union.start, extra)
    right = min(union.end - span.end, extra - left)
    return _Span(span.start - left, span.end + right, span.peak)


def _clear_of(span: _Span, others: list[_Span]) -> _Span:
    """Shrink ``span`` so it overlaps none of ``others`` (on the side away from its peak)."""
    start, end = span.start, span.end
    for o in others:
        if o.start < end and start < o.end:
            if o.end <= span.peak:
                start = max(start, o.end)
            elif o.start > span.peak:
                end = min(end, o.start)
            else:
                return _Span(span.start, span.start, span.peak)  # the peak is inside o
    return _Span(start, max(start, end), span.peak)


def run(ctx: StageContext) -> None:
    workspace = ctx.workspace
    if not workspace.exists(PROBE):
        raise MissingInput("The probe result is missing: the decode stage has not run.")
    info = VideoInfo.from_dict(workspace.read_json(PROBE))
    scores = load_scores(workspace)
    ctx.progress(0.5)
    selection = select_highlights(scores["times"], scores["highlight"], scores["cuts"],
                                  info.duration, info.fps, ctx.options)
    workspace.write_json(HIGHLIGHTS, selection.to_dict())
    ctx.progress(1.0)
