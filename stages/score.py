"""Score stage: run the frame scorers over the cache, find hard cuts, combine a highlight score.

SCORES npz: ``times``, one array per scorer, ``highlight`` in [0, 1], ``cuts`` (frame indices).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from stages.audio import load_envelope
from stages.context import StageContext
from stages.errors import MissingInput
from stages.framecache import FrameCache
from stages.scorers import DEFAULT_SCORERS, FrameBatch, Scorer, make_scorers
from stages.workspace import SCORES, Workspace

BATCH = 64  # cache frames per scorer call (~10 ms of work at 160 px)

# Highlight = weighted mean of the peak-normalised components. Motion leads because it is
# what people look for; loudness (cheers, impacts) confirms it. Scene change is not
# "action" (a cut is an edit), so it only feeds cut detection.
WEIGHTS = {"motion": 0.6, "loudness": 0.4}
# Normalising divides by max(the video's own peak, this floor), so a nearly still or
# quiet video keeps low scores instead of having its noise blown up to 1.
FLOORS = {"motion": 0.02, "loudness": 0.3}
SMOOTH_SECONDS = 1.0  # moving-average width: action lasts seconds, single frames are noise

CUT_THRESHOLD = 0.3  # histogram change a hard cut must exceed, above its local median too
CUT_RATIO = 3.0  # and at least this many times the local median (busy scenes stay quiet)
CUT_WINDOW_SECONDS = 1.0  # half-width of the local-median window
CUT_MIN_GAP_SECONDS = 0.5  # flashes and fades fire on neighbours: keep the strongest


def smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average of odd ``width`` frames (edges repeat the end values)."""
    width = max(1, width | 1)
    if width == 1 or len(x) == 0:
        return x.astype(np.float64)
    padded = np.pad(x.astype(np.float64), width // 2, mode="edge")
    csum = np.concatenate([[0.0], np.cumsum(padded)])
    return (csum[width:] - csum[:-width]) / width


def local_median(x: np.ndarray, half_width: int) -> np.ndarray:
    if len(x) == 0:
        return x.astype(np.float64)
    padded = np.pad(x.astype(np.float64), half_width, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half_width + 1)
    return np.median(windows, axis=1)


def detect_cuts(scene: np.ndarray, fps: float, threshold: float = CUT_THRESHOLD,
                ratio: float = CUT_RATIO) -> np.ndarray:
    """Indices of frames that start a new shot: scene change far above its surroundings."""
    scene = np.asarray(scene, dtype=np.float64)
    median = local_median(scene, max(1, round(CUT_WINDOW_SECONDS * fps)))
    candidates = np.flatnonzero((scene - median >= threshold) & (scene >= ratio * median))
    gap = max(1, round(CUT_MIN_GAP_SECONDS * fps))
    kept: list[int] = []
    # Strongest first, ties by position: deterministic.
    for i in sorted(candidates.tolist(), key=lambda i: (-scene[i], i)):
        if all(abs(i - k) >= gap for k in kept):
            kept.append(i)
    return np.array(sorted(kept), dtype=np.int64)


def combine(components: Mapping[str, np.ndarray], fps: float,
            cuts: Sequence[int] | np.ndarray = ()) -> np.ndarray:
    """Per-frame highlight score in [0, 1] from the weighted components (see WEIGHTS)."""
    n = len(next(iter(components.values()))) if components else 0
    total, weight_sum = np.zeros(n), 0.0
    for name, weight in WEIGHTS.items():
        if name not in components:
            continue
        x = np.asarray(components[name], dtype=np.float64).copy()
        if name == "motion":
            x = _without_cuts(x, cuts)
        level = smooth(x, round(SMOOTH_SECONDS * fps))
        peak = level.max(initial=0.0)
        if peak <= 0:
            continue  # no sound track, or a perfectly still picture: nothing to weigh
        total += weight * np.clip(level / max(peak, FLOORS[name]), 0.0, 1.0)
        weight_sum += weight
    return total / weight_sum if weight_sum else total


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


def save_scores(workspace: Workspace, times: np.ndarray, components: Mapping[str, np.ndarray],
                highlight: np.ndarray, cuts: np.ndarray) -> None:
    with open(workspace.temp_path(SCORES), "wb") as f:
        arrays = {**components, "times": times, "highlight": highlight.astype(np.float32),
                  "cuts": cuts.astype(np.int64)}
        np.savez(f, **arrays)  # type: ignore[arg-type]
    workspace.commit(SCORES)


def load_scores(workspace: Workspace) -> dict[str, np.ndarray]:
    if not workspace.exists(SCORES):
        raise MissingInput("The frame scores are missing: the score stage has not run.")
    with np.load(workspace.path(SCORES)) as data:
        return {key: data[key] for key in data.files}


def run(ctx: StageContext) -> None:
    cache = FrameCache.open(ctx.workspace)
    scorers = make_scorers(DEFAULT_SCORERS, load_envelope(ctx.workspace))
    components = score_frames(cache, scorers, lambda done: ctx.progress(0.95 * done))
    cuts = detect_cuts(components["scene"], cache.fps)
    highlight = combine(components, cache.fps, cuts)
    save_scores(ctx.workspace, cache.times, components, highlight, cuts)
    ctx.progress(1.0)
