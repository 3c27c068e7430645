"""Where and when the subject moves: a per-pixel weight map and localised motion energy.

A pixel weighs by how often it changes over the whole video: an exercising body changes the
same pixels for minutes, a walker crossing the picture changes each pixel for a moment.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from stages.workout.frames import CHUNK, FrameRange, as_range, gather

LAG_SECONDS = 0.2  # frame difference over this lag: slow reps still change pixels clearly
MIN_CHANGE = 12.0  # grey levels a pixel must change by to count as moving (above noise)
SMOOTH_SECONDS = 1.0  # energy smoothing window
MIN_MOVING_SHARE = 0.02  # below this share of the subject's pixels moving, nobody exercises
MAX_GAP_SECONDS = 4.0  # still moments shorter than this stay inside a span
MIN_SPAN_SECONDS = 2.0  # shorter bursts cannot hold a set
NOISE_STEP, NOISE_PIXELS = 5, 7  # the noise level is read off every 5th frame, 7th pixel


@dataclass(frozen=True)
class Activity:
    weights: np.ndarray  # per pixel of the working frames (flat), 0..1
    spans: list[tuple[int, int]]  # candidate spans [start, end) where the subject moves
    still: np.ndarray  # per frame: the subject is not moving
    reaches: list[tuple[int, int]]  # each span stretched over gentler movement next to it


def find_activity(frames: FrameRange | np.ndarray, fps: float,
                  cuts: Sequence[int] = ()) -> Activity:
    """The subject's pixels and the spans where they keep moving (never across a cut)."""
    frames = as_range(frames)
    lag = max(1, round(LAG_SECONDS * fps))
    threshold = change_threshold(frames, lag, cuts)
    weights = motion_weights(frames, lag, cuts, threshold)
    energy = local_energy(frames, lag, cuts, weights, threshold)
    spans, still = active_spans(energy, fps, cuts)
    return Activity(weights, spans, still, reaches(energy, fps, spans, cuts))


def lagged_changes(frames: FrameRange, lag: int, cuts: Sequence[int] = (),
                   step: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """(first frame, |frame(t) - frame(t - lag)| as (n, pixels) uint8) in chunks, every
    ``step``-th frame; zero where t - lag is before the video or the shot's first frame (a
    cut is an edit, not motion). Chunks keep memory flat however long the video."""
    n = frames.count
    for start in range(0, n, CHUNK * step):
        index = np.arange(start, min(n, start + CHUNK * step), step)
        out = cv2.absdiff(gather(frames, index), gather(frames, np.maximum(index - lag, 0)))
        out[index < lag] = 0
        for cut in cuts:
            out[(index >= cut) & (index < cut + lag)] = 0
        yield start, out


def change_threshold(frames: FrameRange, lag: int, cuts: Sequence[int] = ()) -> float:
    """Grey levels that count as a change: well above compression and residual-shake noise."""
    counts = np.zeros(256, np.int64)  # the sampled changes' median, from their histogram
    for _, chunk in lagged_changes(frames, lag, cuts, step=NOISE_STEP):
        counts += np.bincount(chunk[:, ::NOISE_PIXELS].ravel(), minlength=256)
    return max(MIN_CHANGE, 4.0 * median_of_counts(counts))


def median_of_counts(counts: np.ndarray) -> float:
    """``np.median`` of the values 0, 1, 2 ... occurring ``counts`` times each (0: none)."""
    total = int(counts.sum())
    if not total:
        return 0.0
    ranks = np.cumsum(counts)
    lower, upper = np.searchsorted(ranks, [(total - 1) // 2, total // 2], side="right")
    return (float(lower) + float(upper)) / 2


def motion_weights(frames: FrameRange, lag: int, cuts: Sequence[int],
                   threshold: float) -> np.ndarray:
    """Per pixel, in [0, 1]: how persistently it moves compared with the busiest pixels."""
    often = np.zeros(frames.shape[0] * frames.shape[1] if frames.count else 0, np.float64)
    for _, chunk in lagged_changes(frames, lag, cuts):
        often += (chunk > threshold).sum(axis=0)
    often /= max(1, frames.count)
    if not len(often):
        return often.astype(np.float32)
    top, floor = float(np.percentile(often, 99.5)), float(np.median(often))
    if top <= floor:
        return np.zeros(len(often), np.float32)
    return np.clip((often - floor) / (top - floor), 0.0, 1.0).astype(np.float32)


def local_energy(frames: FrameRange, lag: int, cuts: Sequence[int], weights: np.ndarray,
                 threshold: float) -> np.ndarray:
    """Per frame: weighted share of the subject's pixels that moved."""
    energy = np.zeros(frames.count)
    pixels = np.flatnonzero(weights > 0)
    total = float(weights[pixels].sum())
    if total <= 0:
        return energy
    w = weights[pixels].astype(np.float32) / total
    for start, chunk in lagged_changes(frames, lag, cuts):
        energy[start:start + len(chunk)] = (chunk[:, pixels] > threshold).astype(np.float32) @ w
    return energy


def moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred box filter, edges padded with the edge value, same length as ``x``."""
    if len(x) == 0:
        return np.asarray(x, dtype=np.float64)
    width = max(1, min(int(width), len(x)))
    padded = np.pad(np.asarray(x, dtype=np.float64), (width // 2, width - 1 - width // 2),
                    mode="edge")
    return np.convolve(padded, np.ones(width) / width, mode="valid")


def active_spans(energy: np.ndarray, fps: float,
                 cuts: Sequence[int] = ()) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Candidate spans ``[start, end)`` where the subject keeps moving, and the still frames.

    Spans are generous (long pauses are bridged): reps, not energy, decide where sets end.
    """
    level, high, low = levels(energy, fps)
    if not high:
        return [], np.ones(len(level), bool)
    runs = [(s, e) for s, e in _runs(level > low) if level[s:e].max() > high]
    spans = _merge_gaps(runs, round(fps * MAX_GAP_SECONDS))
    spans = [piece for span in spans for piece in _split_at(span, cuts)]
    return [(s, e) for s, e in spans if e - s >= fps * MIN_SPAN_SECONDS], level < low


def levels(energy: np.ndarray, fps: float) -> tuple[np.ndarray, float, float]:
    """The smoothed energy and its high and low levels (hysteresis); 0, 0 when nobody moves
    enough to be exercising."""
    level = moving_average(energy, round(fps * SMOOTH_SECONDS))
    if len(level) == 0 or fps <= 0:
        return level, 0.0, 0.0
    base, peak = np.percentile(level, [10, 98])
    if peak < MIN_MOVING_SHARE:
        return level, 0.0, 0.0
    return level, base + 0.25 * (peak - base), base + 0.12 * (peak - base)


def reaches(energy: np.ndarray, fps: float, spans: list[tuple[int, int]],
            cuts: Sequence[int] = ()) -> list[tuple[int, int]]:
    """Each span stretched over the movement above the low level that lies less than
    MAX_GAP_SECONDS from it (never across a cut). A slow last rep that pauses at the bottom
    rises again too gently to reach the high level: the search looks there too
    (search.sets_in_spans decides what of it counts)."""
    level, _, low = levels(energy, fps)
    gap = round(fps * MAX_GAP_SECONDS)
    out = []
    for start, end in spans:
        lo = max([0, *(c for c in cuts if c <= start)])
        hi = min([len(level), *(c for c in cuts if c >= end)])
        for run_start, run_end in _merge_gaps(sorted({*_runs(level > low), (start, end)}), gap):
            if run_start <= start and end <= run_end:
                out.append((max(lo, min(start, run_start)), min(hi, max(end, run_end))))
                break
        else:
            out.append((start, end))
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Runs ``[start, end)`` where ``mask`` is true."""
    edges = np.flatnonzero(np.diff(np.r_[False, mask, False].astype(np.int8)))
    return [(int(s), int(e)) for s, e in zip(edges[::2], edges[1::2], strict=True)]


def _merge_gaps(spans: list[tuple[int, int]], max_gap: int) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start - merged[-1][1] < max_gap:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _split_at(span: tuple[int, int], cuts: Sequence[int]) -> list[tuple[int, int]]:
    inner = sorted(c for c in cuts if span[0] < c < span[1])
    bounds = [span[0], *inner, span[1]]
    return list(zip(bounds[:-1], bounds[1:], strict=True))
