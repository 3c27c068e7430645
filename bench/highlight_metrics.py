"""Scoring rules of the highlight eval: interval matching, cut matching, rank agreement.

Pure functions on plain lists, so the numbers the eval prints can be checked by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Interval = tuple[float, float]


@dataclass(frozen=True)
class Counts:
    """Matches between predictions and truth: true positives, false ones, misses."""

    tp: int
    fp: int
    fn: int

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def tiou(a: Interval, b: Interval) -> float:
    """Temporal intersection over union of two intervals."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def match_intervals(predicted: Sequence[Interval], truth: Sequence[Interval],
                    threshold: float = 0.5) -> Counts:
    """One-to-one matching, best pairs first; a pair counts when its tIoU >= threshold."""
    pairs = sorted(((tiou(p, t), i, j) for i, p in enumerate(predicted)
                    for j, t in enumerate(truth)), reverse=True)
    used_p: set[int] = set()
    used_t: set[int] = set()
    for overlap, i, j in pairs:
        if overlap < threshold:
            break
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
    return Counts(len(used_p), len(predicted) - len(used_p), len(truth) - len(used_t))


def match_cuts(predicted: Sequence[int], truth: Sequence[int], tolerance: int = 1) -> Counts:
    """One-to-one matching of cut frames within ``tolerance`` frames, closest pairs first."""
    pairs = sorted((abs(p - t), i, j) for i, p in enumerate(predicted)
                   for j, t in enumerate(truth) if abs(p - t) <= tolerance)
    used_p: set[int] = set()
    used_t: set[int] = set()
    for _, i, j in pairs:
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
    return Counts(len(used_p), len(predicted) - len(used_p), len(truth) - len(used_t))


def cuts_inside(predicted: Sequence[int], first: int, end: int, margin: int = 1) -> int:
    """Predicted cuts strictly inside [first, end), ``margin`` frames clear of both edges
    (the edges of a shot are real cuts)."""
    return sum(first + margin < p < end - margin for p in predicted)


def straddled_cuts(segments: Sequence[Interval], cut_times: Sequence[float],
                   reach: float) -> int:
    """Cuts inside a segment within ``reach`` seconds of one of its ends: the segment shows
    a sliver of the neighbouring shot instead of starting or ending with its own."""
    return sum(1 for start, end in segments for c in cut_times
               if start < c < end and min(c - start, end - c) < reach)


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b (ties in either variable handled), O(n^2): the eval's n is small."""
    concordant = discordant = ties_x = ties_y = 0
    n = len(x)
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_x)
                            * (concordant + discordant + ties_y))
    return (concordant - discordant) / denominator if denominator else 0.0


def pairwise_tau(positive: Sequence[float], negative: Sequence[float]) -> float:
    """Kendall's tau over the (highlight, filler) pairs only, ties counting half:
    +1 when every highlight outscores every filler window, 0 for chance (= 2 AUC - 1)."""
    if not positive or not negative:
        return float("nan")
    score = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in positive for q in negative)
    return 2 * score / (len(positive) * len(negative)) - 1


def filler_windows(duration: float, highlights: Sequence[Interval], width: float,
                   clearance: float) -> list[Interval]:
    """Back-to-back windows of ``width`` s that stay ``clearance`` s away from highlights."""
    blocked = sorted((max(0.0, s - clearance), min(duration, e + clearance))
                     for s, e in highlights)
    free, cursor = [], 0.0
    for s, e in [*blocked, (duration, duration)]:
        if s > cursor:
            free.append((cursor, s))
        cursor = max(cursor, e)
    windows = []
    for s, e in free:
        count = int((e - s) // width)
        windows += [(s + k * width, s + (k + 1) * width) for k in range(count)]
    return windows
