"""Spans of source frames for the select stage: cores where the score stays high, padded,
merged, brought within the clip limits, snapped to cuts and kept within the budget.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from stages.select.frames import Grid, Limits

PEAK_LEVEL = 0.5  # a peak must rise this far from the usual score towards the top score
MIN_PEAK = 0.3  # and reach this score (stages.score: 30 % of a clear rise in motion or sound)
GROW_LEVEL = 0.5  # a core spans where the score stays this far from usual to its peak
MAX_CANDIDATES = 64  # cores looked at before the budget decides


@dataclass(frozen=True)
class Span:
    start: int  # source frames, end exclusive
    end: int
    focus: int  # the frame to keep when trimming (middle of the action)
    strength: float = 0.0  # peak level: ranks spans for the budget

    @property
    def length(self) -> int:
        return self.end - self.start


def cores(level: np.ndarray, base: float, top: float, grid: Grid) -> list[Span]:
    """Where the score rises high: strongest first, each grown while it stays high."""
    accept = max(base + PEAK_LEVEL * (top - base), MIN_PEAK)
    free = np.ones(len(level), dtype=bool)
    cores: list[Span] = []
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
            cores.append(Span(start, end, (start + end) // 2, float(level[p])))
    return cores


def pad(core: Span, limits: Limits, grid: Grid) -> Span:
    return replace(core, start=max(0, core.start - limits.pad),
                   end=min(grid.total, core.end + limits.pad))


def merge(spans: list[Span], limits: Limits) -> list[Span]:
    """Join neighbours closer than the merge gap when the union is not too long; split
    the ones that still overlap half way between their foci."""
    out: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        if out and span.start < out[-1].end + limits.merge_gap:
            last = out[-1]
            union = Span(last.start, max(last.end, span.end), 0, max(last.strength,
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


def fit_lengths(spans: list[Span], cuts: np.ndarray, limits: Limits,
                 grid: Grid) -> list[Span]:
    """Trim long spans around their focus; grow short ones into the free room around;
    snap their edges to cuts just inside them."""
    spans = sorted((_trim(s, limits.max_len) for s in spans), key=lambda s: s.start)
    out: list[Span] = []
    for i, span in enumerate(spans):
        low = out[-1].end if out else 0
        high = spans[i + 1].start if i + 1 < len(spans) else grid.total
        out.append(_snap(_grow(span, limits.min_len, low, high), cuts, limits, low, high))
    return out


def _trim(span: Span, length: int) -> Span:
    if span.length <= length:
        return span
    start = int(np.clip(span.focus - length // 2, span.start, span.end - length))
    return replace(span, start=start, end=start + length)


def _grow(span: Span, length: int, low: int, high: int) -> Span:
    """Widen to ``length`` frames (evenly, then wherever there is room) within [low, high)."""
    missing = length - span.length
    if missing <= 0:
        return span
    start = max(low, span.start - missing // 2)
    end = min(high, start + length)
    start = max(low, min(start, end - length))
    return replace(span, start=min(start, span.start), end=max(end, span.end))


def _snap(span: Span, cuts: np.ndarray, limits: Limits, low: int, high: int) -> Span:
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


def within_budget(spans: list[Span], limits: Limits, level: np.ndarray,
                   grid: Grid) -> list[Span]:
    """The strongest spans that fit the count and the duration budget (the last one
    trimmed to what is left, if that still makes a clip)."""
    chosen: list[Span] = []
    left = limits.budget
    for span in sorted(spans, key=lambda s: (-s.strength, s.start)):
        if len(chosen) == limits.count or left < min(limits.min_len, span.length):
            break
        if span.length > left:
            span = _best_part(span, left, level, grid)
        chosen.append(span)
        left -= span.length
    return sorted(chosen, key=lambda s: s.start)


def _best_part(span: Span, length: int, level: np.ndarray, grid: Grid) -> Span:
    """The ``length``-frame part of ``span`` with the highest score."""
    best, best_mean = span.start, -1.0
    step = max(1, round(grid.fps / grid.rate))
    for start in range(span.start, span.end - length + 1, step):
        inside = level[grid.index_of(start):grid.index_of(start + length - 1) + 1]
        mean = float(inside.mean()) if len(inside) else 0.0
        if mean > best_mean + 1e-12:
            best, best_mean = start, mean
    return replace(span, start=best, end=best + length)


def best_window(level: np.ndarray, grid: Grid, limits: Limits) -> Span:
    """No clear peak: the busiest window of the longest allowed length."""
    width = max(1, min(len(level), round(limits.max_len / grid.fps * grid.rate)))
    sums = np.convolve(level, np.ones(width), mode="valid")
    first = int(np.argmax(sums))  # ties: the earliest
    start = min(grid.frame_of(first), grid.total - limits.max_len)
    return Span(start, start + limits.max_len, start + limits.max_len // 2,
                 float(level[first:first + width].max()))
