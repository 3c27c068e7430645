"""Scoring one workout result against its ground truth, and the issue-4 targets per tier.

A true set is matched to the predicted set that overlaps it most (one to one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

SAMPLE_HZ = 10  # active/rest labels are compared on this grid


@dataclass
class ClipScore:
    """How one clip's result compares with its truth."""

    name: str
    tier: str
    true_counts: list[int]
    counts: list[int | None]  # per true set: the matched predicted count, None if missed
    spurious: int  # predicted sets matching no true set
    predicted_sets: int
    start_errors: list[float] = field(default_factory=list)  # per matched set, seconds
    end_errors: list[float] = field(default_factory=list)
    rep_errors: list[float] = field(default_factory=list)  # per rep of exactly counted sets
    tempo_errors: list[float] = field(default_factory=list)  # relative, per matched set
    frames_right: int = 0
    frames: int = 0
    confidences: list[float] = field(default_factory=list)
    matched_confidences: list[float | None] = field(default_factory=list)  # per true set
    reason: str | None = None


def match_sets(true_sets: list[dict], found: list[dict]) -> list[int | None]:
    """For each true set, the index of the predicted set overlapping it most (or None)."""
    pairs = []
    for i, t in enumerate(true_sets):
        for j, f in enumerate(found):
            overlap = min(t["end"], f["end"]) - max(t["start"], f["start"])
            if overlap > 0:
                pairs.append((overlap, i, j))
    matched: list[int | None] = [None] * len(true_sets)
    used: set[int] = set()
    for _, i, j in sorted(pairs, reverse=True):
        if matched[i] is None and j not in used:
            matched[i] = j
            used.add(j)
    return matched


def score_clip(truth: dict, result: dict) -> ClipScore:
    sets, found = truth["sets"], result.get("sets", [])
    matched = match_sets(sets, found)
    score = ClipScore(truth["name"], truth["tier"], [s["reps"] for s in sets],
                      [found[j]["reps"] if j is not None else None for j in matched],
                      len(found) - sum(j is not None for j in matched), len(found),
                      confidences=[float(f.get("confidence", 0.0)) for f in found],
                      matched_confidences=[None if j is None
                                           else float(found[j].get("confidence", 0.0))
                                           for j in matched],
                      reason=result.get("reason"))
    for t, j in zip(sets, matched, strict=True):
        if j is None:
            continue
        f = found[j]
        score.start_errors.append(f["start"] - t["start"])
        score.end_errors.append(f["end"] - t["end"])
        score.tempo_errors.append(f["avg_rep_seconds"] / t["avg_rep_seconds"] - 1)
        if f["reps"] == t["reps"]:
            score.rep_errors += list(np.subtract(f["rep_times"], t["rep_times"]))
    grid = np.arange(0, truth["duration"], 1 / SAMPLE_HZ)
    truly, said = _active(grid, sets), _active(grid, found)
    score.frames_right, score.frames = int((truly == said).sum()), len(grid)
    return score


def _active(grid: np.ndarray, sets: list[dict]) -> np.ndarray:
    active = np.zeros(len(grid), bool)
    for s in sets:
        active |= (grid >= s["start"]) & (grid < s["end"])
    return active


@dataclass
class Figure:
    label: str
    value: float
    target: str
    ok: bool | None  # None: reported, no target

    def line(self) -> str:
        mark = {True: "PASS", False: "FAIL", None: "    "}[self.ok]
        return f"  {mark}  {self.label:<52} {self.value:>8.3f}   target {self.target}"


def _frac(values: list[bool]) -> float:
    return float(np.mean(values)) if values else float("nan")


def tier_figures(scores: list[ClipScore], tier: str) -> list[Figure]:
    """The targets of the issue for one tier ("clean", "realistic"), in print order."""
    true_sets = [(t, c) for s in scores for t, c in zip(s.true_counts, s.counts, strict=True)]
    errors = [abs(c - t) if c is not None else t for t, c in true_sets]
    found = [c is not None for _, c in true_sets]
    starts = [abs(e) for s in scores for e in s.start_errors]
    ends = [abs(e) for s in scores for e in s.end_errors]
    reps = [abs(e) for s in scores for e in s.rep_errors]
    tempo = [abs(e) for s in scores for e in s.tempo_errors]
    right_sets = [len(s.true_counts) == s.predicted_sets for s in scores]
    frame_acc = sum(s.frames_right for s in scores) / max(1, sum(s.frames for s in scores))
    exact = _frac([e == 0 for e in errors])
    off1 = _frac([e <= 1 for e in errors])
    mae = float(np.mean([e / t for (t, _), e in zip(true_sets, errors, strict=True)]))
    bounds = _frac([max(a, b) <= 0.5 for a, b in zip(starts, ends, strict=True)])
    in_time = _frac([e <= 0.2 for e in reps])
    tempo_ok = _frac([e <= 0.05 for e in tempo])
    spurious = float(sum(s.spurious for s in scores))
    strict = tier == "clean"
    return [
        Figure("true sets found (share)", _frac(found), "1.0" if strict else "-",
               _frac(found) == 1.0 if strict else None),
        Figure("spurious sets (count)", spurious, "0" if strict else "-",
               spurious == 0 if strict else None),
        Figure("per-set count exact (share)", exact, "1.0" if strict else "-",
               exact == 1.0 if strict else None),
        Figure("per-set count off-by-one accuracy", off1, "-" if strict else ">= 0.9",
               None if strict else off1 >= 0.9),
        Figure("mean abs count error / true count", mae, "-" if strict else "<= 0.10",
               None if strict else mae <= 0.10),
        Figure("videos with the right number of sets (share)", _frac(right_sets),
               "-" if strict else ">= 0.9", None if strict else _frac(right_sets) >= 0.9),
        Figure("active/rest accuracy (share of time)", frame_acc, "-" if strict else ">= 0.9",
               None if strict else frame_acc >= 0.9),
        Figure("set start and end within 0.5 s (share of sets)", bounds,
               "1.0" if strict else "-", bounds == 1.0 if strict else None),
        Figure("  worst set boundary error (s)", max(starts + ends, default=float("nan")),
               "<= 0.5" if strict else "-", None),
        Figure("rep times within 0.2 s (share of reps)", in_time, "1.0" if strict else "-",
               in_time == 1.0 if strict else None),
        Figure(f"  reps timed more than 0.2 s off (count, of {len(reps)})",
               float(sum(e > 0.2 for e in reps)), "0" if strict else "-", None),
        Figure("  median rep time error (s)", float(np.median(reps)) if reps
               else float("nan"), "-", None),
        Figure("  worst rep time error (s)", max(reps, default=float("nan")),
               "<= 0.2" if strict else "-", None),
        Figure("tempo: avg rep seconds within 5 % (share of sets)", tempo_ok, "1.0",
               tempo_ok == 1.0),
        Figure("  worst tempo error (relative)", max(tempo, default=float("nan")), "<= 0.05",
               None),
    ]


def control_figures(scores: list[ClipScore]) -> list[Figure]:
    with_sets = sum(s.predicted_sets > 0 for s in scores)
    reps = sum(s.predicted_sets for s in scores)
    return [Figure("controls reporting any set (count)", float(with_sets), "0", with_sets == 0),
            Figure("sets reported over all controls (count)", float(reps), "0", reps == 0)]


def clip_line(s: ClipScore, result: dict[str, Any]) -> str:
    counts = " ".join("-" if c is None else str(c) for c in s.counts)
    confidence = " ".join(f"{c:.2f}" for c in s.confidences)
    worst_rep = max((abs(e) for e in s.rep_errors), default=0.0)
    edges = max((abs(e) for e in s.start_errors + s.end_errors), default=0.0)
    return (f"  {s.name:<22} true {' '.join(map(str, s.true_counts)) or '-':<18} "
            f"found {counts or '-':<18} extra {s.spurious} edge {edges:4.2f}s "
            f"rep {worst_rep:4.2f}s act {s.frames_right / max(1, s.frames):.2f} "
            f"conf {confidence or '-'}" + (f"  ({result.get('reason')})"
                                            if not result.get("sets") else ""))
