"""Workout stage: find active spans from motion energy, then count repetitions in each.

Rest is every second outside a set; a rep's time is when it completes (back at the start pose).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from stages.context import StageContext
from stages.errors import MissingInput
from stages.framecache import FrameCache
from stages.workspace import SCORES, WORKOUT

ABS_FLOOR = 0.002  # mean abs frame difference (/255) below which nothing moves (~0.5 grey level)
SMOOTH_SECONDS = 1.0  # motion energy smoothing window
MIN_ACTIVE_SECONDS = 3.0  # shorter bursts of motion are not sets
MAX_GAP_SECONDS = 2.0  # pauses shorter than this stay inside a set
MIN_PERIOD, MAX_PERIOD = 0.5, 6.0  # plausible seconds per repetition
MIN_PERIODICITY = 0.5  # autocorrelation at the period below which motion is not repetitive
CHANCE_PERIODICITY = 0.3  # extra autocorrelation asked of one cycle (less of many, see below)
MIN_REPS_PER_SET = 2
MIN_COVERAGE = 0.5  # reps x period must fill at least this share of an active span
MAX_PACE_VARIATION = 0.35  # coefficient of variation of rep intervals allowed in a set
THUMB_SIDE = 32  # longest side of the frames PCA sees: bounded covariance (<= 1024^2)
COMPONENTS = 3  # principal components tried as the rep signal
BATCH = 256


class FrameSource(Protocol):
    """The parts of :class:`stages.framecache.FrameCache` this stage reads."""

    @property
    def count(self) -> int: ...

    @property
    def fps(self) -> float: ...

    @property
    def times(self) -> np.ndarray: ...

    def batches(self, size: int) -> Iterator[tuple[int, np.ndarray]]: ...


@dataclass(frozen=True)
class RepCount:
    """Repetitions found in one span; indices are relative to the span's first frame."""

    peaks: np.ndarray  # frame of each rep's far turnaround
    completions: np.ndarray  # frame where each rep is back at the start pose
    period: float  # seconds per rep from the autocorrelation
    periodicity: float  # autocorrelation at that period, 0..1

    @property
    def reps(self) -> int:
        return len(self.peaks)


NO_REPS = RepCount(np.zeros(0, int), np.zeros(0, int), 0.0, 0.0)


def moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred box filter, edges padded with the edge value, same length as ``x``."""
    width = max(1, min(int(width), len(x)))
    padded = np.pad(x, (width // 2, width - 1 - width // 2), mode="edge")
    return np.convolve(padded, np.ones(width) / width, mode="valid")


def segment_activity(motion: np.ndarray, fps: float) -> list[tuple[int, int]]:
    """Active spans ``[start, end)`` in frames, by hysteresis on smoothed motion energy."""
    m = np.nan_to_num(np.asarray(motion, dtype=np.float64), nan=0.0, posinf=0.0)
    if len(m) == 0 or fps <= 0:
        return []
    energy = moving_average(m, round(fps * SMOOTH_SECONDS))
    base, peak = np.percentile(energy, [5, 95])
    if peak < ABS_FLOOR:
        return []
    if peak - base < 0.1 * peak:  # steady throughout (noise floor or nonstop work): one span
        high = low = base * 0.5
    else:
        high = max(ABS_FLOOR, base + 0.35 * (peak - base))
        low = max(ABS_FLOOR * 0.75, base + 0.2 * (peak - base))
    spans = _hysteresis(energy, high, low)
    spans = _merge_gaps(spans, round(fps * MAX_GAP_SECONDS))
    return [(s, e) for s, e in spans if e - s >= fps * MIN_ACTIVE_SECONDS]


def _hysteresis(energy: np.ndarray, high: float, low: float) -> list[tuple[int, int]]:
    spans, start = [], None
    for i, value in enumerate(energy):
        if start is None and value > high:
            start = i
        elif start is not None and value < low:
            spans.append((start, i))
            start = None
    if start is not None:
        spans.append((start, len(energy)))
    return spans


def _merge_gaps(spans: list[tuple[int, int]], max_gap: int) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start - merged[-1][1] < max_gap:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def periodicity(signal: np.ndarray, fps: float) -> tuple[float, float]:
    """(period seconds, autocorrelation there) of the strongest repetition; (0, 0) if none."""
    x = _detrend(signal, fps)
    n = len(x)
    # Three cycles at least: over two, chance wiggles correlate too well.
    lo, hi = max(1, round(MIN_PERIOD * fps)), min(round(MAX_PERIOD * fps), n // 3)
    if hi <= lo + 1 or not np.any(x):
        return 0.0, 0.0
    spectrum = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(np.abs(spectrum) ** 2)[: hi + 2]
    ac = ac / np.arange(n, n - len(ac), -1)  # unbiased: long lags are not penalised
    ac = ac / ac[0]
    lags = [k for k in range(lo, hi + 1) if ac[k] >= ac[k - 1] and ac[k] >= ac[k + 1]]
    best = max((ac[k] for k in lags), default=0.0)
    if best <= 0.0:
        return 0.0, 0.0
    # Multiples of the period correlate as well as the period: take the first strong peak.
    lag = next(k for k in lags if ac[k] >= 0.8 * best)
    return lag / fps, float(np.clip(ac[lag], 0.0, 1.0))


def _detrend(signal: np.ndarray, fps: float) -> np.ndarray:
    x = np.nan_to_num(np.asarray(signal, dtype=np.float64))
    if len(x) == 0:
        return x
    # Drift slower than the slowest rep (camera creep, lighting) is not a repetition.
    x = x - moving_average(x, round(fps * MAX_PERIOD * 1.5))
    return x - x.mean()


def count_reps(signal: np.ndarray, fps: float, lead: int = 0, tail: int = 0) -> RepCount:
    """Repetitions in a 1-D signal; indices are relative to ``signal[lead:]``.

    The first ``lead`` and last ``tail`` samples are rest around the set: they show the
    start pose and are not searched for reps. Without them the signal's ends stand in.
    """
    values = np.nan_to_num(np.asarray(signal, dtype=np.float64))
    core = values[lead: len(values) - tail]
    period, strength = periodicity(core, fps)
    if period == 0.0 or strength < required_periodicity(len(core) / (period * fps)):
        return NO_REPS
    x = _detrend(core, fps)
    if _start_pose_is_high(values, lead, tail, x, round(min(0.25 * period, 1.0) * fps)):
        x = -x  # reps are then excursions up from the start pose: one peak each
    y = _band_limit(x, fps, period)
    peaks = _peaks(y, round(0.6 * period * fps), 0.3 * float(np.percentile(y, 95)))
    if not _plausible(peaks, len(y), period * fps):
        return NO_REPS
    limits = [*peaks[1:], min(len(y), peaks[-1] + round(period * fps))]
    completions = np.array([p + int(np.argmin(y[p:q])) for p, q in zip(peaks, limits, strict=True)])
    return RepCount(peaks, completions, period, strength)


def required_periodicity(cycles: float) -> float:
    """Autocorrelation a span of ``cycles`` periods must reach to count as repetitive.

    Chance correlation shrinks like 1/sqrt(cycles): a few slow wobbles need more proof.
    """
    return MIN_PERIODICITY + CHANCE_PERIODICITY / np.sqrt(max(cycles, 1.0))


def _start_pose_is_high(values: np.ndarray, lead: int, tail: int, core: np.ndarray,
                        edge: int) -> bool:
    rest = np.concatenate([values[:lead], values[len(values) - tail:]])
    if len(rest):
        return bool(rest.mean() > values[lead: len(values) - tail].mean())
    edge = max(1, edge)
    return bool(core[:edge].mean() + core[-edge:].mean() > 0)


def _plausible(peaks: np.ndarray, length: int, period_frames: float) -> bool:
    """Reps fill most of the span at a steady pace; wandering motion fails one or the other."""
    if len(peaks) == 0 or len(peaks) * period_frames < MIN_COVERAGE * length:
        return False
    gaps = np.diff(peaks)
    return len(gaps) < 2 or float(gaps.std() / gaps.mean()) <= MAX_PACE_VARIATION


def _band_limit(x: np.ndarray, fps: float, period: float) -> np.ndarray:
    """Keep frequencies near the rep rate (soft Gaussian band) so each rep is one bump."""
    pad = min(len(x) - 1, round(period * fps))
    padded = np.pad(x, pad, mode="reflect")  # reflect so the FFT sees no jump at the edges
    freqs = np.fft.rfftfreq(len(padded), 1.0 / fps)
    f0 = 1.0 / period
    gain = np.exp(-0.5 * ((freqs - f0) / (0.4 * f0)) ** 2)
    y = np.fft.irfft(np.fft.rfft(padded) * gain, len(padded))
    return y[pad: pad + len(x)]


def _peaks(y: np.ndarray, distance: int, height: float) -> np.ndarray:
    """Local maxima above ``height``, greedily keeping the tallest ``distance`` apart."""
    inner = np.flatnonzero((y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:])) + 1
    candidates = inner[y[inner] > max(height, 0.0)]
    blocked = np.zeros(len(y), dtype=bool)
    kept = []
    for i in candidates[np.argsort(-y[candidates], kind="stable")]:
        if not blocked[i]:
            kept.append(i)
            blocked[max(0, i - distance + 1): i + distance] = True
    return np.sort(np.array(kept, dtype=int))


def span_signals(frames: FrameSource, spans: list[tuple[int, int]],
                 on_progress: Callable[[float], None]) -> list[np.ndarray]:
    """Per span, the frames projected on that span's leading principal components.

    Two passes over the cache (covariance, then projection) keep memory at one
    THUMB_SIDE^2 covariance matrix rather than the whole video.
    """
    stats = [_Moments() for _ in spans]
    for start, batch in _in_spans(frames, spans, on_progress, 0.0):
        for i, rows in _split(start, batch, spans):
            stats[i].add(rows)
            if start + len(batch) >= spans[i][1]:
                stats[i].finish()
    for moments in stats:  # a cache shorter than its motion array ends spans early
        moments.finish()
    signals = [np.zeros((end - s, COMPONENTS)) for s, end in spans]
    for start, batch in _in_spans(frames, spans, on_progress, 0.5):
        for i, rows in _split(start, batch, spans):
            first = max(start, spans[i][0]) - spans[i][0]
            signals[i][first: first + len(rows)] = stats[i].project(rows)
    return signals


def _in_spans(frames: FrameSource, spans: list[tuple[int, int]],
              on_progress: Callable[[float], None],
              offset: float) -> Iterator[tuple[int, np.ndarray]]:
    """Batches of thumbnails (n, d) that touch a span; progress covers half the stage each."""
    last = spans[-1][1]
    for start, batch in frames.batches(BATCH):
        on_progress(offset + 0.5 * min(1.0, (start + len(batch)) / max(1, last)))
        if start >= last:
            break
        yield start, thumbnails(batch)


def _split(start: int, rows: np.ndarray,
           spans: list[tuple[int, int]]) -> Iterator[tuple[int, np.ndarray]]:
    for i, (s, e) in enumerate(spans):
        lo, hi = max(s, start), min(e, start + len(rows))
        if lo < hi:
            yield i, rows[lo - start: hi - start]


def thumbnails(batch: np.ndarray) -> np.ndarray:
    """(n, h, w) uint8 frames to (n, d) float32 tiny frames, longest side THUMB_SIDE."""
    n, h, w = batch.shape
    scale = min(1.0, THUMB_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = [cv2.resize(frame, size, interpolation=cv2.INTER_AREA) for frame in batch]
    return np.asarray(small, dtype=np.float32).reshape(n, -1) / 255.0


def leading_axes(cov: np.ndarray, k: int, iterations: int = 30) -> np.ndarray:
    """The ``k`` leading eigenvectors of a covariance matrix, as columns.

    Subspace iteration costs a few matrix products; a full ``eigh`` of a 1024^2 matrix
    takes long enough (seconds on a busy machine) to stall progress reports.
    """
    rng = np.random.default_rng(0)  # fixed: the same video always gives the same axes
    basis = np.linalg.qr(cov @ rng.standard_normal((len(cov), k + 5)))[0]
    for _ in range(iterations):
        basis = np.linalg.qr(cov @ basis)[0]
    _, vectors = np.linalg.eigh(basis.T @ cov @ basis)  # ascending eigenvalues
    return (basis @ vectors[:, ::-1])[:, :k]


class _Moments:
    """Running mean and covariance of one span's thumbnails, then its principal axes."""

    def __init__(self) -> None:
        self.n = 0
        self.total: np.ndarray | None = None
        self.outer: np.ndarray | None = None
        self.mean: np.ndarray | None = None
        self.axes: np.ndarray | None = None

    def add(self, rows: np.ndarray) -> None:
        rows64 = rows.astype(np.float64)
        if self.total is None:
            self.total = np.zeros(rows.shape[1])
            self.outer = np.zeros((rows.shape[1], rows.shape[1]))
        self.n += len(rows)
        self.total += rows64.sum(axis=0)
        self.outer += rows64.T @ rows64  # type: ignore[operator]

    def finish(self) -> None:
        if self.total is None or self.outer is None or self.n == 0:
            return
        self.mean = self.total / self.n
        cov = self.outer / self.n - np.outer(self.mean, self.mean)
        self.axes = leading_axes(cov, COMPONENTS)
        self.total = self.outer = None  # the d x d matrix is no longer needed

    def project(self, rows: np.ndarray) -> np.ndarray:
        if self.axes is None or self.mean is None:
            return np.zeros((len(rows), COMPONENTS))
        out = np.zeros((len(rows), COMPONENTS))
        out[:, : self.axes.shape[1]] = (rows - self.mean) @ self.axes
        return out


def best_reps(components: np.ndarray, fps: float, lead: int = 0, tail: int = 0) -> RepCount:
    """Count on the leading principal component that repeats nearly as clearly as any.

    Minor components of one movement oscillate at harmonics or sub-harmonics of the rep
    rate, so the most variant component wins unless it is clearly less periodic.
    """
    counts = [count_reps(components[:, k], fps, lead, tail)
              for k in range(components.shape[1])]
    periodic = [c for c in counts if c.reps]
    if not periodic:
        return NO_REPS
    strongest = max(c.periodicity for c in periodic)
    return next(c for c in periodic if c.periodicity >= 0.75 * strongest)


def analyze(frames: FrameSource, motion: np.ndarray,
            on_progress: Callable[[float], None]) -> dict[str, Any]:
    """The WORKOUT document for a frame cache and its per-frame motion energy."""
    count, fps = int(frames.count), float(frames.fps)
    times = np.asarray(frames.times, dtype=np.float64)[:count]
    duration = float(times[-1] + 1.0 / fps) if count and fps > 0 else 0.0
    spans = segment_activity(np.asarray(motion)[:count], fps)
    if not spans:
        return _summary([], duration, "no activity: too little motion to find exercise")
    # Each span is analysed with the rest around it: that is the start pose to orient by.
    pad = round(fps * MAX_GAP_SECONDS) // 2
    windows = [(max(0, start - pad), min(count, end + pad)) for start, end in spans]
    signals = span_signals(frames, windows, on_progress)
    sets = []
    for (start, end), (first, last), components in zip(spans, windows, signals, strict=True):
        reps = best_reps(components, fps, start - first, last - end)
        if reps.reps >= MIN_REPS_PER_SET:
            sets.append(_set_entry(times, fps, start, end, reps))
    reason = None if sets else "no periodic motion: no repeated movement found"
    return _summary(sets, duration, reason)


def _set_entry(times: np.ndarray, fps: float, start: int, end: int,
               reps: RepCount) -> dict[str, Any]:
    done = times[start + reps.completions]
    peak_times = times[start + reps.peaks]
    gaps = np.diff(peak_times)
    avg = float(gaps.mean()) if len(gaps) else reps.period
    regularity = float(np.clip(1 - gaps.std() / gaps.mean(), 0, 1)) if len(gaps) > 1 else 0.5
    return {"start": round(float(times[start]), 3),
            "end": round(float(times[end - 1] + 1.0 / fps), 3),
            "reps": reps.reps,
            "rep_times": [round(float(t), 3) for t in done],
            "avg_rep_seconds": round(avg, 3),
            # Clear rhythm and an even pace both make a count believable.
            "confidence": round(reps.periodicity * (0.5 + 0.5 * regularity), 3)}


def _summary(sets: list[dict[str, Any]], duration: float, reason: str | None) -> dict[str, Any]:
    active = sum(s["end"] - s["start"] for s in sets)
    return {"total_reps": sum(s["reps"] for s in sets),
            "active_seconds": round(active, 3),
            "rest_seconds": round(max(0.0, duration - active), 3),
            "sets": sets,
            "reason": reason}


def run(ctx: StageContext) -> None:
    """Read the frame cache and SCORES motion, write WORKOUT."""
    ws = ctx.workspace
    if not ws.exists(SCORES):
        raise MissingInput(f"workout needs {SCORES}")
    with np.load(ws.path(SCORES)) as scores:
        if "motion" not in scores:
            raise MissingInput(f"{SCORES} has no motion scores")
        motion = np.asarray(scores["motion"], dtype=np.float64)
    frames = FrameCache.open(ws)
    ws.write_json(WORKOUT, analyze(frames, motion, ctx.progress))
    ctx.progress(1.0)
