"""Score stage: run the frame scorers over the cache, find hard cuts, combine a highlight score.

Writes :class:`stages.records.scores.FrameScores`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from stages.audio import load_envelope
from stages.context import StageContext
from stages.cuts import detect_cuts
from stages.framecache import FrameCache
from stages.records.scores import FrameScores
from stages.scorers import DEFAULT_SCORERS, FrameBatch, Scorer, make_scorers

BATCH = 64  # cache frames per scorer call (~10 ms of work at 160 px)

# Each component becomes an activity in [0, 1]: how far its smoothed level rises above the
# clip's usual level (a low percentile), relative to its highest rise, but never less than
# the floor, so a steady clip keeps low scores instead of having its noise blown up to 1.
# Motion is mean absolute difference; loudness is dB / 60, so 0.2 is a 12 dB rise.
FLOORS = {"motion": 0.02, "loudness": 0.2}
BASE_PERCENTILE = 25  # the usual level: highlights may fill up to three quarters of a clip
# Highlight = this share of the strongest component plus the rest of their mean: fast
# motion alone or a loud burst alone is a highlight (as auto-editor's "motion or loudness"
# thresholds), and both at once rank above either. Scene change is not action (a cut is an
# edit), so it only feeds cut detection.
STRONGEST_SHARE = 0.7
SMOOTH_SECONDS = 1.0  # moving-average width: action lasts seconds, single frames are noise


def smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average of odd ``width`` frames (edges repeat the end values)."""
    width = max(1, width | 1)
    if width == 1 or len(x) == 0:
        return x.astype(np.float64)
    padded = np.pad(x.astype(np.float64), width // 2, mode="edge")
    csum = np.concatenate([[0.0], np.cumsum(padded)])
    return (csum[width:] - csum[:-width]) / width


def activity(x: np.ndarray, rate: float, floor: float) -> np.ndarray:
    """Smoothed rise of ``x`` above its usual level, in [0, 1] (see FLOORS)."""
    level = smooth(np.asarray(x, dtype=np.float64), round(SMOOTH_SECONDS * rate))
    if len(level) == 0:
        return level
    base = float(np.percentile(level, BASE_PERCENTILE))
    spread = max(float(level.max()) - base, floor)
    return np.clip((level - base) / spread, 0.0, 1.0)


def combine(components: Mapping[str, np.ndarray], rate: float,
            cuts: Sequence[int] | np.ndarray = (), times: np.ndarray | None = None
            ) -> np.ndarray:
    """Per-frame highlight score in [0, 1] from the motion and loudness components;
    ``times`` (variable frame rates) turn motion into change per usual frame interval."""
    n = len(next(iter(components.values()))) if components else 0
    parts = []
    for name, floor in FLOORS.items():
        if name not in components:
            continue
        x = np.asarray(components[name], dtype=np.float64).copy()
        if len(x) == 0 or x.max() <= 0:
            continue  # no sound track, or a perfectly still picture: nothing to weigh
        if name == "motion":
            x = _per_usual_interval(_without_cuts(x, cuts), times)
        parts.append(activity(x, rate, floor))
    if not parts:
        return np.zeros(n)
    stack = np.stack(parts)
    return STRONGEST_SHARE * stack.max(axis=0) + (1 - STRONGEST_SHARE) * stack.mean(axis=0)


def _per_usual_interval(motion: np.ndarray, times: np.ndarray | None) -> np.ndarray:
    """A frame twice as far from the one before changes about twice as much: scale each
    difference to the usual interval, so a low-rate stretch of a variable-rate video does
    not look busier than the rest."""
    if times is None or len(times) != len(motion) or len(motion) < 3:
        return motion
    gaps = np.diff(np.asarray(times, dtype=np.float64))
    usual = float(np.median(gaps))
    if usual <= 0:
        return motion
    scale = np.ones(len(motion))
    scale[1:] = usual / np.clip(gaps, usual / 4, usual * 4)
    return motion * scale


def _without_cuts(motion: np.ndarray, cuts: Sequence[int] | np.ndarray) -> np.ndarray:
    """A cut's frame difference is an edit, not action: use the frame before it instead."""
    for i in np.asarray(cuts, dtype=np.int64):
        if 0 < i < len(motion):
            motion[i] = motion[i - 1]
    return motion


def score_frames(cache: FrameCache, scorers: Sequence[Scorer],
                 on_progress: Callable[[float], None]) -> dict[str, np.ndarray]:
    """Run every scorer over the whole cache, batch by batch."""
    out = {s.name: np.zeros(cache.count, dtype=np.float32) for s in scorers}
    previous = None
    for start, frames in cache.batches(BATCH):
        batch = FrameBatch(frames, cache.times[start:start + len(frames)], previous)
        for scorer in scorers:
            out[scorer.name][start:start + len(frames)] = scorer.score_batch(batch)
        previous = np.array(frames[-1])  # a copy: the memmap view may be released
        on_progress((start + len(frames)) / cache.count)
    return out


def run(ctx: StageContext) -> None:
    cache = FrameCache.open(ctx.workspace)
    scorers = make_scorers(DEFAULT_SCORERS, load_envelope(ctx.workspace))
    components = score_frames(cache, scorers, lambda done: ctx.progress(0.95 * done))
    cuts = detect_cuts(components["scene"], components["motion"], cache.fps)
    highlight = combine(components, cache.fps, cuts, cache.times)
    FrameScores(cache.times, components, highlight, cuts).save(ctx.workspace)
    ctx.progress(1.0)
