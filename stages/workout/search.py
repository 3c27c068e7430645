"""Where the sets are: a rough look at each active span, then two looks along each set's axis.

The rough look tracks the distance from the rest pose around a span; each look after it
tracks progress from the pose where the last look's reps turned to the pose of their middles.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from stages.workout.sets import RepSet, find_sets
from stages.workout.signal import SubjectView

PAD_SECONDS = 2.0  # rest kept around a span: it shows the start pose, and reps may spill over
# Hystereses (up, down) of the rough looks. The rest around a span may show another stance
# than the start pose, so the distance dips less between reps: the second look takes any
# clear dip as a return. What both find is counted again and the better count stays.
ROUGH_LEVELS = ((0.5, 0.25), (0.6, 0.45))
SAME_PACE = (0.8, 1.25)  # median rep duration of a wider look's set vs the set it replaces
HALF_REP_SHARE = 0.5  # alternate turning points this far apart (vs start-far) are half reps

Found = tuple[int, RepSet]  # (first frame of the window the set was found in, the set)


def sets_in_spans(view: SubjectView, still: np.ndarray, spans: list[tuple[int, int]],
                  fps: float, on_progress: Callable[[float], None],
                  reaches: list[tuple[int, int]] | None = None) -> list[Found]:
    """Every believable set in the active spans, in time order, none overlapping.

    ``reaches``: each span stretched over gentler movement next to it (activity.reaches);
    a set found there replaces the sets it overlaps (each look may find the same set) only
    when it has more reps than each of them, at the same pace. When the span alone shows no
    set, the sets found over its reach that lie within the span count.
    """
    found: list[Found] = []
    for i, (start, end) in enumerate(spans):
        in_span = sets_in_span(view, still, start, end, fps)
        if reaches is not None and reaches[i] != (start, end):
            wide = sets_in_span(view, still, *reaches[i], fps)
            if not in_span:
                in_span = [f for f in wide if within(f, start, end)]
            for wider in wide:
                beaten = [f for f in in_span if overlap(f, wider)]
                if beaten and all(more_of_the_same(wider, f, start, end) for f in beaten):
                    in_span = [f for f in in_span if not overlap(f, wider)] + [wider]
        found += in_span
        on_progress((i + 1) / len(spans))
    return without_overlaps(found)


def sets_in_span(view: SubjectView, still: np.ndarray, start: int, end: int,
                 fps: float) -> list[Found]:
    """The believable sets in one span (they may overlap)."""
    first, last = padded(start, end, fps, len(still))
    distance = view.distance(first, last, rest_frames(still, first, last, start, end, fps))
    found = [f for levels in ROUGH_LEVELS
             for rough in find_sets(distance, fps, start - first, last - end, True, levels)
             for f in refine(view, still, (first, last), rough, fps)]
    if found:
        return found
    # The rest may show neither end of the movement (a step aside, a gesture) while the reps
    # pause at their far end: the distance then rises between the pauses, which split its
    # excursions into runs too short for a set. Upside down, each pause is one excursion.
    upside_down = float(distance.max(initial=0.0)) - distance
    return [f for rough in find_sets(upside_down, fps, start - first, last - end, True)
            for f in refine(view, still, (first, last), rough, fps)]


def more_of_the_same(wider: Found, found: Found, start: int, end: int) -> bool:
    """Whether ``wider`` (found over a span's reach) counts the reps ``found`` (over the span
    ``[start, end)``) counts and more beyond the span, at the same pace: not each rep split
    in two, nor a gesture inside the span taken for a rep."""
    (offset, reps), (_, own) = wider, found
    pace = float(np.median(reps.ends - reps.starts) / np.median(own.ends - own.starts))
    inside = np.count_nonzero((offset + reps.starts >= start) & (offset + reps.ends <= end))
    return bool(reps.reps > own.reps and inside <= own.reps
                and SAME_PACE[0] <= pace <= SAME_PACE[1])


def within(found: Found, start: int, end: int) -> bool:
    """Whether most of a set's reps lie inside ``[start, end)``."""
    offset, reps = found
    inside = (offset + reps.starts >= start) & (offset + reps.ends <= end)
    return bool(2 * np.count_nonzero(inside) > reps.reps)


def overlap(a: Found, b: Found) -> bool:
    return bool(a[0] + a[1].starts[0] < b[0] + b[1].ends[-1]
                and b[0] + b[1].starts[0] < a[0] + a[1].ends[-1])


def padded(start: int, end: int, fps: float, count: int) -> tuple[int, int]:
    pad = round(PAD_SECONDS * fps)
    return max(0, start - pad), min(count, end + pad)


def rest_frames(still: np.ndarray, first: int, last: int, start: int, end: int,
                fps: float) -> np.ndarray:
    """Still frames around the span (else inside it near its ends, else anywhere inside it,
    else its first frame): the rest pose.

    A span that reaches the video's start or end has no rest around it; inside it, slow reps
    pause at their far end, so still frames near its ends (where a set starts and ends) show
    the start pose better than the still frames of its middle.
    """
    around = np.r_[first:start, end:last]
    around = around[still[around]]
    if len(around) >= 0.3 * fps:
        return around
    near = round(PAD_SECONDS * fps)
    ends = np.r_[start:min(end, start + near), max(start, end - near):end]
    ends = ends[still[ends]]
    if len(ends) >= 0.3 * fps:
        return ends
    inside = np.flatnonzero(still[first:last]) + first
    return inside if len(inside) >= 3 else np.array([first])


def refine(view: SubjectView, still: np.ndarray, window: tuple[int, int], rough: RepSet,
           fps: float) -> list[Found]:
    """Count a set again on its own axis: from the pose where its reps turn to the pose in
    the middle of its reps; then once more on the axis of that count's reps.

    The rest around a span may show another stance (people step about between sets) or a
    walker; the turning points and middles of many reps cannot, in the median.
    """
    offset, found = window[0], rough
    for final in (False, True):
        # A turning point extrapolated past the video's edge is clipped to it.
        start = max(0, offset + int(found.starts[0]))
        end = min(len(still), offset + int(np.ceil(found.ends[-1])))
        first, last = padded(start, end, fps, len(still))
        first, last = min(first, window[0]), max(last, window[1])  # reps a look missed
        turns, far = poses(view, found, offset, len(still))
        track = oriented(view.progress(first, last, turns, far), still, first, start, end,
                         fps)
        candidates = find_sets(track, fps, start - first, last - end, rough=not final)
        if final:  # a believable set beside the one looked for counts too
            return [(first, s) for s in candidates
                    if not upside_down(track, still, first, s, fps)]
        candidates = [s for s in candidates
                      if first + s.starts[0] < end and first + s.ends[-1] > start]
        if not candidates:
            return []
        offset, found = first, max(candidates, key=lambda s: s.reps)
    return []


def poses(view: SubjectView, found: RepSet, offset: int,
          count: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames showing the start pose (where reps turn) and the far pose (their middles).

    A rough look can split each rep at its far end (a distance may dip there): then every
    other turning point shows the far pose, and those are the poses to track between.
    """
    def near(points: np.ndarray) -> np.ndarray:
        frames = offset + np.round(points).astype(int)
        return np.unique(np.clip(np.r_[frames - 1, frames, frames + 1], 0, count - 1))

    bounds = np.r_[found.starts[:1], found.ends]
    middles = [np.arange(round(a + 0.35 * (b - a)), round(a + 0.65 * (b - a)) + 1)
               for a, b in zip(found.starts, found.ends, strict=True)]
    turns, far = near(bounds), np.clip(offset + np.concatenate(middles), 0, count - 1)
    even, odd = near(bounds[0::2]), near(bounds[1::2])
    if len(bounds) >= 5 and view.change(even, odd) > HALF_REP_SHARE * view.change(turns, far):
        return even, odd
    return turns, far


def oriented(track: np.ndarray, still: np.ndarray, first: int, start: int, end: int,
             fps: float) -> np.ndarray:
    """The track with the rest next to the set at 0: a rough look may swap the poses."""
    return 1.0 - track if rest_level(track, still, first, start, end, fps) > 0.5 else track


def rest_level(track: np.ndarray, still: np.ndarray, first: int, start: int, end: int,
               fps: float) -> float:
    """The track's median over the still frames next to ``[start, end)`` (0 if too few)."""
    near = round(PAD_SECONDS * fps)
    rest = np.r_[max(first, start - near):start, end:min(first + len(track), end + near)]
    rest = rest[still[rest]] - first
    return float(np.median(track[rest])) if len(rest) >= 0.3 * fps else 0.0


def upside_down(track: np.ndarray, still: np.ndarray, first: int, found: RepSet,
                fps: float) -> bool:
    """Whether the subject rests next to a set found on ``track`` (which starts at frame
    ``first``) in the far pose: the set's reps are then the pauses between the real ones,
    found on an axis oriented by the rest next to another, wrongly placed set."""
    start, end = first + int(found.starts[0]), first + int(np.ceil(found.ends[-1]))
    return rest_level(track, still, first, max(first, start), end, fps) > 0.5


def without_overlaps(found: list[Found]) -> list[Found]:
    """Sets in time order; of two that overlap, the one with more believable reps stays."""
    kept: list[Found] = []
    for offset, s in sorted(found, key=lambda f: -f[1].confidence * f[1].reps):
        a, b = offset + s.starts[0], offset + s.ends[-1]
        if all(b <= o + k.starts[0] or a >= o + k.ends[-1] for o, k in kept):
            kept.append((offset, s))
    return sorted(kept, key=lambda f: f[0] + f[1].starts[0])
