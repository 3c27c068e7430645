"""Issue-14 figures: tier 3 (hard phone conditions) split into tuning seeds and the held-out
seed, one row per condition, and the reliability of the per-set confidence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from bench.workout_metrics import ClipScore, Figure

BUCKETS = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0001)  # confidence edges of the reliability table
TITLE = ("Tier 3 (hard: slow reps with pauses, half range of motion, zoom/roll drift, "
         "bench hiding the legs, 15 fps; each alone and all together)")


def _pairs(scores: list[ClipScore]) -> list[tuple[int, int | None]]:
    return [(t, c) for s in scores for t, c in zip(s.true_counts, s.counts, strict=True)]


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def summary(scores: list[ClipScore]) -> dict[str, float]:
    """The issue-14 figures of a group of clips."""
    pairs = _pairs(scores)
    errors = [abs(c - t) if c is not None else t for t, c in pairs]
    tempo = [abs(e) for s in scores for e in s.tempo_errors]
    return {"videos": len(scores), "sets": len(pairs),
            "found": _mean([c is not None for _, c in pairs]),
            "exact": _mean([e == 0 for e in errors]),
            "off1": _mean([e <= 1 for e in errors]),
            "mae": _mean([e / t for (t, _), e in zip(pairs, errors, strict=True)]),
            "tempo10": _mean([e <= 0.10 for e in tempo]),
            "worst_tempo": max(tempo, default=float("nan")),
            "spurious": float(sum(s.spurious for s in scores)),
            "right_sets": _mean([len(s.true_counts) == s.predicted_sets for s in scores])}


TARGETS: list[tuple[str, str, str, Callable[[float], bool] | None]] = [
    ("found", "true sets found (share)", ">= 0.9", lambda v: v >= 0.9),
    ("off1", "per-set count off-by-one accuracy", ">= 0.85", lambda v: v >= 0.85),
    ("mae", "mean abs count error / true count", "<= 0.12", lambda v: v <= 0.12),
    ("tempo10", "tempo: avg rep seconds within 10 % (share of found)", "1.0",
     lambda v: v == 1.0),
    ("exact", "per-set count exact (share)", "-", None),
    ("right_sets", "videos with the right number of sets (share)", "-", None),
    ("spurious", "spurious sets (count)", "-", None),
    ("worst_tempo", "  worst tempo error (relative)", "-", None),
]


def figures(figs: dict[str, float]) -> list[Figure]:
    return [Figure(label, figs[key], target, None if ok is None or np.isnan(figs[key])
                   else ok(figs[key])) for key, label, target, ok in TARGETS]


def condition_rows(scores: list[ClipScore], condition: Callable[[ClipScore], str]) -> list[str]:
    names = list(dict.fromkeys(condition(s) for s in scores))
    lines = [f"    {'condition':<8} {'videos':>6} {'sets':>5} {'found':>6} {'exact':>6} "
             f"{'off1':>6} {'MAE':>6} {'tempo10':>7} {'spur':>5}"]
    for name in names:
        f = summary([s for s in scores if condition(s) == name])
        lines.append(f"    {name:<8} {f['videos']:>6.0f} {f['sets']:>5.0f} {f['found']:>6.2f} "
                     f"{f['exact']:>6.2f} {f['off1']:>6.2f} {f['mae']:>6.3f} "
                     f"{f['tempo10']:>7.2f} {f['spurious']:>5.0f}")
    return lines


def reliability(scores: list[ClipScore]) -> list[str]:
    """Confidence bucket -> share of reported sets counted exactly (spurious ones count as
    wrong); missed true sets have no confidence and are listed apart."""
    rows: list[tuple[float, bool]] = []
    missed = 0
    for s in scores:
        spare = list(s.confidences)
        for t, c, conf in zip(s.true_counts, s.counts, s.matched_confidences, strict=True):
            if c is None or conf is None:
                missed += 1
                continue
            rows.append((conf, c == t))
            spare.remove(conf)
        rows += [(conf, False) for conf in spare]
    lines = ["    confidence    sets  exact share"]
    for lo, hi in zip(BUCKETS, BUCKETS[1:], strict=False):
        inside = [ok for conf, ok in rows if lo <= conf < hi]
        lines.append(f"    [{lo:.2f}, {min(hi, 1.0):.2f}{']' if hi > 1 else ')'}  {len(inside):>5}"
                     f"  {_mean(inside):>11.2f}")
    lines.append(f"    missed (no set reported)  {missed}")
    return lines


def report_hard(scored: list[tuple[ClipScore, dict]], held_out_seed: int) -> None:
    """Print tier 3 from (score, truth) pairs: tuning seeds, then the held-out seed."""
    def condition(s: ClipScore) -> str:
        return conditions[id(s)]

    conditions = {id(s): str(t.get("condition")) for s, t in scored}
    tuning = [s for s, t in scored if t["seed"] // 1000 != held_out_seed]
    kept = [s for s, t in scored if t["seed"] // 1000 == held_out_seed]
    for label, group in (("tuning seeds", tuning),
                         (f"held-out seed {held_out_seed} (never used for tuning)", kept)):
        if not group:
            continue
        figs = summary(group)
        print(f"\n{TITLE}, {label}: {figs['videos']:.0f} videos, {figs['sets']:.0f} sets")
        for figure in figures(figs):
            print(figure.line())
        print("  per condition:")
        for line in condition_rows(group, condition):
            print(line)
    print(f"\nTier 3 reliability of the per-set confidence (all seeds, {len(scored)} videos):")
    for line in reliability([s for s, _ in scored]):
        print(line)
