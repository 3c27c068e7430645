"""Reps in one rep signal: excursions away from the start pose and back, and their times.

A rep rises past half its height and falls back below a quarter (hysteresis); it starts and
ends at the turning points of the start pose, found from where it crosses a fifth of its height.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

UP, DOWN = 0.5, 0.25  # hysteresis levels, shares of the signal's local range
EDGE, HIGH = 0.2, 0.6  # crossings timed on each side of a rep: its edge, and higher up
SMOOTH_SECONDS = 0.1
BASELINE_SECONDS = 9.0  # longer than the slowest rep: the floor does not follow reps
MIN_LOCAL_HEIGHT = 0.3  # share of the core's rep height below which motion is not scaled up
USUAL_RANGE = 1.5  # see usual()
SETTLE_SECONDS, SETTLE_RISE = 0.5, 0.03  # a bottom: lowest for this long, then this far below


@dataclass(frozen=True)
class Edges:
    """Per rep, fractional frame positions: EDGE crossings going out and coming back, and
    how long each side took between EDGE and HIGH (its speed near the start pose)."""

    starts: np.ndarray
    ends: np.ndarray
    rise: np.ndarray
    fall: np.ndarray

    def __len__(self) -> int:
        return len(self.starts)

    def part(self, index: slice) -> Edges:
        return Edges(self.starts[index], self.ends[index], self.rise[index], self.fall[index])


def smooth(x: np.ndarray, width: int) -> np.ndarray:
    width = max(1, min(int(width), len(x)))
    padded = np.pad(np.asarray(x, dtype=np.float64), (width // 2, width - 1 - width // 2),
                    mode="edge")
    return np.convolve(padded, np.ones(width) / width, mode="valid")


def baseline(x: np.ndarray, width: int) -> np.ndarray:
    """Lower envelope: a morphological opening removes every bump narrower than ``width``."""
    kernel = np.ones((max(1, width), 1), np.uint8)
    column = x.astype(np.float32)[:, None]
    opened = cv2.dilate(cv2.erode(column, kernel, borderType=cv2.BORDER_REPLICATE), kernel,
                        borderType=cv2.BORDER_REPLICATE)
    return smooth(opened[:, 0].astype(np.float64), width // 2)


def normalised(track: np.ndarray, fps: float, lead: int, tail: int) -> np.ndarray | None:
    """The track over its slowly varying floor, scaled by the local height of the reps.

    Sets differ in range of motion (40-100 %), so each part is scaled by its own upper
    envelope; still stretches keep the scale of the core's reps, so noise stays small.
    """
    if len(track) - lead - tail < 3:
        return None
    d = smooth(np.nan_to_num(np.asarray(track, dtype=np.float64)), round(SMOOTH_SECONDS * fps))
    width = round(BASELINE_SECONDS * fps)
    y = d - baseline(d, width)
    core = y[lead: len(y) - tail]
    if len(core) < 3:
        return None
    overall = float(np.percentile(core, 95))
    if overall <= 1e-6:
        return None
    top = -baseline(-y, width)  # upper envelope: a closing
    return y / np.maximum(top, MIN_LOCAL_HEIGHT * overall)


def excursions(z: np.ndarray, up: float = UP, down: float = DOWN) -> list[tuple[int, int]]:
    """(rise, fall) index pairs: above ``up``, then back below ``down``."""
    above, below = np.flatnonzero(z >= up), np.flatnonzero(z <= down)
    pairs: list[tuple[int, int]] = []
    i = 0
    while True:
        k = np.searchsorted(above, i)
        if k == len(above):
            return pairs
        rise = int(above[k])
        k = np.searchsorted(below, rise)
        if k == len(below):
            return pairs
        fall = int(below[k])
        pairs.append((rise, fall))
        i = fall


def _crossing(z: np.ndarray, level: float, i: int, step: int) -> float:
    """Fractional index where z crosses ``level`` walking from ``i`` in direction ``step``."""
    j = i
    while 0 <= j + step < len(z) and z[j + step] > level:
        j += step
    k = j + step
    if not 0 <= k < len(z):
        return float(j)
    a, b = z[j], z[k]
    frac = (a - level) / (a - b) if a != b else 0.0
    return j + step * float(np.clip(frac, 0.0, 1.0))


def rep_edges(z: np.ndarray, pairs: list[tuple[int, int]]) -> Edges:
    """Crossings of each excursion at EDGE and HIGH of its own height, out and back."""
    rows = np.zeros((len(pairs), 4))
    for i, (rise, fall) in enumerate(pairs):
        peak = rise + int(np.argmax(z[rise:fall + 1]))
        low, high = EDGE * z[peak], HIGH * z[peak]
        start, end = _crossing(z, low, rise, -1), _crossing(z, low, peak, 1)
        rows[i] = (start, end, _crossing(z, high, peak, -1) - start,
                   end - _crossing(z, high, peak, 1))
    return Edges(*rows.T)


def turning_points(z: np.ndarray, edges: Edges, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Rep starts and ends at the turning points of the start pose.

    Between two reps the gap from one's return crossing to the next one's outgoing crossing
    splits in proportion to how slowly each side moves near the start pose (a slow return
    spends longer below EDGE). The set's outer edges have no neighbour: the turn lies beyond
    the crossing by the share of a rep, and by the multiple of that side's HIGH-to-EDGE time,
    that the inner edges show; the mean of the two is the guess (a long pause at the far end
    misleads the first, an odd last movement the second), refined by :func:`settled`.
    """
    starts, ends = edges.starts.copy(), edges.ends.copy()
    if len(starts) < 2:
        return starts, ends
    rise, fall = usual(edges.rise), usual(edges.fall)
    durations = np.maximum(ends - starts, 1e-6)
    gaps = np.maximum(starts[1:] - ends[:-1], 0.0)
    turns = ends[:-1] + gaps * fall[:-1] / (fall[:-1] + rise[1:])
    after, before = turns - ends[:-1], starts[1:] - turns
    per_rep_after = float(np.median(after / durations[:-1]))
    per_rep_before = float(np.median(before / durations[1:]))
    # A gap much wider than the rest is a pause at the start pose: the rep ended as it arrived.
    inner_ends = np.minimum(turns, ends[:-1] + 2 * per_rep_after * durations[:-1])
    inner_starts = np.maximum(turns, starts[1:] - 2 * per_rep_before * durations[1:])
    last = (per_rep_after * durations[-1]
            + float(np.median(after / fall[:-1])) * fall[-1]) / 2
    first = (per_rep_before * durations[0]
             + float(np.median(before / rise[1:])) * rise[0]) / 2
    width = max(2, round(SETTLE_SECONDS * fps))
    return (np.insert(inner_starts, 0, settled(z, starts[0], starts[0] - first, width)),
            np.append(inner_ends, settled(z, ends[-1], ends[-1] + last, width)))


def usual(values: np.ndarray) -> np.ndarray:
    """``values`` kept within USUAL_RANGE of their median: a rep's own speed is trusted that
    far, beyond it a bump on the way (an arm overshooting, a sag in a pause) misled it."""
    middle = max(float(np.median(values)), 1e-6)
    return np.clip(values, middle / USUAL_RANGE, middle * USUAL_RANGE)


def settled(z: np.ndarray, crossing: float, guess: float, width: int) -> float:
    """An outer edge of a set, between its EDGE ``crossing`` and the extrapolated ``guess``.

    When the track bottoms out on the way (lowest of the next ``width`` frames, then rising
    by SETTLE_RISE: the subject reached the start pose and drifts away from it, swaying or
    stepping), the turn lies between that bottom, which comes early on a slow ease into the
    pose, and the guess, which runs late once the subject drifts: take the middle.
    """
    step = 1 if guess > crossing else -1
    j = int(np.ceil(crossing)) if step > 0 else int(np.floor(crossing))
    while (guess - j) * step > 0 and 0 <= j < len(z):
        ahead = z[j:j + width] if step > 0 else z[max(0, j - width + 1):j + 1]
        if z[j] <= ahead.min() and ahead.max() - z[j] >= SETTLE_RISE:
            return (j + guess) / 2
        j += step
    return guess
