"""Sets: runs of reps without a rest between them, kept only when they look like exercise.

Exercise repeats one movement: its reps are alike in shape and even in pace. Fidgeting,
walkers and camera moves make bumps too, but unlike each other.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from stages.workout.reps import (
    DOWN,
    UP,
    Edges,
    excursions,
    normalised,
    rep_edges,
    turning_points,
)

MIN_REPS = 4  # fewer is not a set: gestures come in ones, twos and threes
MAX_PACE_VARIATION = 0.5  # robust coefficient of variation of rep durations in a set
# Median correlation of the reps' shapes with their median shape: the eval's true sets (seeds
# 0-3) scored 0.93 and up under shake and occlusion; four fidgets in one rest scored 0.85.
MIN_LIKENESS = 0.9
MIN_CONFIDENCE = 0.6  # see RepSet.confidence; exact sets of the eval scored 0.69 and up
MIN_EDGE_LIKENESS = 0.5  # correlation with the median shape a first or last rep needs
MIN_REST_SECONDS = 2.5  # a longer still gap between reps ends a set
ODD_GAP_SECONDS = 0.8  # a gap this much longer than the set's usual one ends it too
SHAPE_POINTS = 24  # samples per rep when shapes are compared
MERGED_RATIO = 1.75  # a rep this many times the usual length may be two behind an occlusion
MERGED_DIP = 0.8  # ... if the track dips below this in its middle
BLIP_RATIO = 0.35  # a rep this much shorter than the usual one is noise at a turning point


@dataclass(frozen=True)
class RepSet:
    """Reps found in a window; frame positions are fractional and relative to the window."""

    starts: np.ndarray  # where each rep leaves the start pose
    ends: np.ndarray  # where each rep is back at the start pose: the rep's time
    likeness: float  # median correlation of the reps' shapes with their median shape, <= 1
    regularity: float  # 1 - robust coefficient of variation of the rep durations, 0..1
    floor: float  # median level at the turning points between reps (0: the start pose)
    doubtful: int = 0  # excursions next to the set much like its reps, left out of it

    @property
    def reps(self) -> int:
        return len(self.ends)

    @property
    def reported_confidence(self) -> float:
        """The confidence the analysis reports: lower when reps may be missing from the
        count (:func:`doubtful_neighbours`); :attr:`confidence` alone decides which sets are
        believable and which of two overlapping sets stays."""
        if not self.doubtful:
            return self.confidence
        return self.confidence * self.reps / (self.reps + self.doubtful)

    @property
    def confidence(self) -> float:
        """Alike reps, an even pace and clean returns to the start pose make a count
        believable; 1 is a textbook set."""
        return float(np.clip(self.likeness, 0, 1) * np.sqrt(self.regularity)
                     * np.clip(1 - 2 * self.floor, 0, 1))


def find_sets(track: np.ndarray, fps: float, lead: int = 0, tail: int = 0,
              rough: bool = False, levels: tuple[float, float] = (UP, DOWN)) -> list[RepSet]:
    """Sets of reps in a window of a rep track (frames relative to the window); ``lead``
    and ``tail`` frames at its ends are rest around the part being searched.

    ``rough``: only locate candidate sets (likeness and pace are checked on a second look).
    ``levels``: the hysteresis (up, down) that makes an excursion.
    """
    z = normalised(track, fps, lead, tail)
    if z is None:
        return []
    edges = rep_edges(z, excursions(z, *levels))
    found = []
    for run in group(edges, fps):
        kept = trim_odd_edges(z, np.asarray(track, dtype=np.float64), edges.part(run))
        if len(kept) < MIN_REPS:
            continue
        candidate = describe(z, *mend(z, *turning_points(z, kept, fps)))
        if rough or believable(candidate):
            found.append(candidate if rough else replace(
                candidate, doubtful=doubtful_neighbours(np.asarray(track, np.float64), edges,
                                                        kept)))
    return found


def doubtful_neighbours(track: np.ndarray, edges: Edges, kept: Edges) -> int:
    """Excursions outside a set that end (before it) or begin (after it) within two rep
    periods of it, at least half as tall as its reps and not far off their length: reps the
    count may have missed (a tired last rep that took too long, a rep after a pause long
    enough to pass for a rest)."""
    durations = kept.ends - kept.starts
    duration = float(np.median(durations))
    period = float(np.median(np.diff(kept.starts))) if len(kept) > 1 else duration
    height = float(np.median(shapes(track, kept.starts, kept.ends).max(axis=1)))
    outside = ((edges.ends <= kept.starts[0]) & (edges.ends >= kept.starts[0] - 2 * period)
               | (edges.starts >= kept.ends[-1]) & (edges.starts <= kept.ends[-1] + 2 * period))
    if not outside.any():
        return 0
    tall = shapes(track, edges.starts, edges.ends).max(axis=1) >= 0.5 * height
    lengths = edges.ends - edges.starts
    alike = (lengths >= 0.4 * duration) & (lengths <= 2.5 * duration)
    return int(np.count_nonzero(outside & tall & alike))


def group(edges: Edges, fps: float) -> list[slice]:
    """Runs of reps with no long still gap between one rep's end and the next one's start.

    A gap counts as long when it is a rest (MIN_REST_SECONDS, or a rep's length) or when it
    stands out from the set's usual gap: a gesture just before or after a set is no rep.
    """
    starts, ends = edges.starts, edges.ends
    if not len(starts):
        return []
    gaps = starts[1:] - ends[:-1]
    limit = max(MIN_REST_SECONDS * fps, float(np.median(ends - starts)))
    refined = []
    for run in _split(len(starts), gaps > limit):
        inner = gaps[run.start:run.stop - 1]
        if len(inner) < 2:
            refined.append(run)
            continue
        duration = float(np.median(ends[run] - starts[run]))
        odd = inner > float(np.median(inner)) + max(ODD_GAP_SECONDS * fps, 0.5 * duration)
        refined += [slice(run.start + r.start, run.start + r.stop)
                    for r in _split(run.stop - run.start, odd)]
    return refined


def _split(count: int, cut_after: np.ndarray) -> list[slice]:
    cuts = [0, *(np.flatnonzero(cut_after) + 1).tolist(), count]
    return [slice(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]


def mend(z: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray,
                                                                       np.ndarray]:
    """Repair what an occlusion does to a set's reps: a blip far shorter than the usual rep
    joins the rep before it; a rep about twice the usual length that dips in its middle
    becomes two (a walker or an object hid the turning point between them)."""
    usual = float(np.median(ends - starts))
    joined_starts, joined_ends = [starts[0]], [ends[0]]
    for a, b in zip(starts[1:], ends[1:], strict=True):
        if b - a < BLIP_RATIO * usual:
            joined_ends[-1] = b
        else:
            joined_starts.append(a)
            joined_ends.append(b)
    new_starts, new_ends = [], []
    for a, b in zip(joined_starts, joined_ends, strict=True):
        lo = int(np.ceil(a + 0.2 * (b - a)))
        inner = z[lo:int(b - 0.2 * (b - a)) + 1]
        if b - a >= MERGED_RATIO * usual and len(inner) and inner.min() < MERGED_DIP:
            dip = float(lo + np.argmin(inner))
            new_starts += [a, dip]
            new_ends += [dip, b]
        else:
            new_starts.append(a)
            new_ends.append(b)
    return np.array(new_starts), np.array(new_ends)


def shapes(z: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Each rep resampled to SHAPE_POINTS samples: comparable whatever its tempo."""
    grid = np.linspace(0.0, 1.0, SHAPE_POINTS)
    index = np.arange(len(z))
    return np.array([np.interp(a + grid * (b - a), index, z)
                     for a, b in zip(starts, ends, strict=True)])


def trim_odd_edges(z: np.ndarray, track: np.ndarray, edges: Edges) -> Edges:
    """Drop first or last excursions unlike the set's usual rep (a gesture, a step aside):
    another shape, less than half its height, or far longer or shorter."""
    while len(edges) > MIN_REPS:
        reps = shapes(z, edges.starts, edges.ends)
        heights = shapes(track, edges.starts, edges.ends).max(axis=1)
        durations = edges.ends - edges.starts
        template, height, duration = (np.median(reps, axis=0), np.median(heights),
                                      np.median(durations))
        odd = [_correlation(reps[i], template) < MIN_EDGE_LIKENESS
               or heights[i] < 0.5 * height
               or not 0.4 * duration <= durations[i] <= 1.8 * duration
               for i in (0, -1)]
        if not any(odd):
            break
        edges = edges.part(slice(1, None) if odd[0] else slice(None, -1))
    return edges


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 0.0


def describe(z: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> RepSet:
    durations = ends - starts
    middle = float(np.median(durations))
    # Robust spread (MAD): one rep merged with the next behind a walker is one outlier.
    spread = 1.4826 * float(np.median(np.abs(durations - middle)))
    variation = spread / middle if middle > 0 else 1.0
    reps = shapes(z, starts, ends)
    template = np.median(reps, axis=0)
    turns = np.interp(np.r_[starts[:1], ends], np.arange(len(z)), z)
    return RepSet(starts, ends,
                  likeness=float(np.median([_correlation(r, template) for r in reps])),
                  regularity=float(np.clip(1 - variation, 0, 1)),
                  floor=float(np.median(np.abs(turns))))


def believable(found: RepSet) -> bool:
    """Reps alike in shape, at an even pace: what a set looks like and fidgeting, walkers
    and camera moves do not (their bumps differ from one another). Below MIN_CONFIDENCE a
    count is more likely wrong than right, and a wrong count is worse than none."""
    return (1 - found.regularity <= MAX_PACE_VARIATION and found.likeness >= MIN_LIKENESS
            and found.confidence >= MIN_CONFIDENCE)
