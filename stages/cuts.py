"""Hard-cut detection from two per-frame changes: regional gray-level change and pixel change.

A hard cut changes both at once, in one frame, far above the frames around it. Motion moves
pixels but hardly a region's gray levels; fades and light changes shift the levels a
little each frame; so the cut strength is their geometric mean. The threshold adapts to
the rolling median of that strength on either side of each frame (as PySceneDetect's
AdaptiveDetector does with its HSV score and a rolling mean): a busy stretch raises its
own bar, and a fade, spread over many frames, never stands out from its neighbours.
"""

from __future__ import annotations

import numpy as np

# On the generated ground-truth suite (bench/eval_highlights.py) every hard cut has a
# strength >= 0.064 and stands >= 3.8 times above the busier side; no other frame, fast
# motion and fades included, stands more than 2.4 times above it. A small object jumping
# across an otherwise still picture (tests/stages/conftest.py BURST_VIDEO) reaches 0.046.
MIN_STRENGTH = 0.05  # weaker is never a cut
RATIO = 3.0  # and it must stand this many times above the median of the busier side
FLOOR = 0.01  # the local median is at least this (still, clean footage has ~0)
WINDOW_SECONDS = 1.0  # half-width of the local-median window
MIN_GAP_SECONDS = 0.4  # two cuts closer than this: keep the stronger (flash, echo)


def cut_strength(scene: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """Geometric mean of regional gray-level change and pixel change, per frame, in [0, 1]."""
    scene = np.clip(np.asarray(scene, dtype=np.float64), 0.0, 1.0)
    motion = np.clip(np.asarray(motion, dtype=np.float64), 0.0, 1.0)
    return np.sqrt(scene * motion)


def local_reference(strength: np.ndarray, half_width: int) -> np.ndarray:
    """The higher of the median strengths just before and just after each frame (leaving
    out the frame and its two neighbours, so a cut's echo does not raise its own bar):
    the end of a busy stretch is judged against the busy side, not the calm one."""
    n, length = len(strength), max(1, half_width - 1)
    if n == 0:
        return strength.copy()
    padded = np.pad(strength, half_width, mode="edge")
    medians = np.median(np.lib.stride_tricks.sliding_window_view(padded, length), axis=1)
    index = np.arange(n)
    # padded[i : i + length] is strength[i - half : i - 1]; the right window starts 2 after.
    return np.maximum(medians[index], medians[index + half_width + 2])


def detect_cuts(scene: np.ndarray, motion: np.ndarray, rate: float,
                min_strength: float = MIN_STRENGTH, ratio: float = RATIO) -> np.ndarray:
    """Indices of frames that start a new shot; ``rate`` is frames per second."""
    strength = cut_strength(scene, motion)
    if len(strength) < 2:
        return np.zeros(0, dtype=np.int64)
    half = max(3, round(WINDOW_SECONDS * rate))
    reference = np.maximum(local_reference(strength, half), FLOOR)
    candidates = np.flatnonzero((strength >= min_strength) & (strength >= ratio * reference))
    candidates = candidates[candidates > 0]  # frame 0 has nothing before it
    gap = max(1, round(MIN_GAP_SECONDS * rate))
    kept: list[int] = []
    # Strongest first, ties by position: deterministic.
    for i in sorted(candidates.tolist(), key=lambda i: (-strength[i], i)):
        if all(abs(i - k) >= gap for k in kept):
            kept.append(i)
    return np.array(sorted(kept), dtype=np.int64)
