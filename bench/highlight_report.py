"""Printing the highlight eval: one line a clip, then the summary of every figure."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from bench.highlight_metrics import Counts
from bench.reel_check import AAC_FRAME, ReelReport

TIOU = 0.5
CUT_TOLERANCE = 1  # frames
STRADDLE_REACH = 1.0  # s: a cut this close inside a segment's end is a straddle


@dataclass
class ClipResult:
    name: str
    kind: str
    seconds: float
    analysis_s: float
    highlights: Counts = Counts(0, 0, 0)
    tau: float = float("nan")
    tau_b: float = float("nan")
    straddles: int = 0
    cuts: dict[str, Counts] = field(default_factory=dict)
    motion_false: dict[str, int] = field(default_factory=dict)
    fade_false: dict[str, int] = field(default_factory=dict)
    detector_s: dict[str, float] = field(default_factory=dict)
    reel: ReelReport | None = None
    deterministic: bool | None = None
    segments: list[tuple[float, float]] = field(default_factory=list)


def print_clip(r: ClipResult, detectors: list[str]) -> None:
    parts = [f"{r.name:<16} {r.seconds:5.0f}s  analysis {r.analysis_s:5.2f}s"]
    if r.kind == "highlights":
        h = r.highlights
        parts.append(f"hl {h.tp}/{h.tp + h.fn} found, {h.fp} extra  tau {r.tau:+.2f}"
                     f" (tau-b {r.tau_b:+.2f})")
    for name in ["ours", *detectors]:
        c = r.cuts[name]
        parts.append(f"{name[:7]} cuts F1 {c.f1:.2f} ({c.tp}/{c.tp + c.fn}, fp {c.fp},"
                     f" motion {r.motion_false[name]}, fade {r.fade_false[name]})")
    if r.straddles:
        parts.append(f"straddles {r.straddles}")
    if r.reel:
        off = max((abs(o) for o in r.reel.offsets_ms), default=0.0)
        parts.append(f"reel {r.reel.exact}/{r.reel.segments} exact, A/V max {off:.1f} ms")
    if r.deterministic is not None:
        parts.append("deterministic" if r.deterministic else "NOT DETERMINISTIC")
    print("  " + " | ".join(parts))
    if r.reel and r.reel.problems:
        for problem in r.reel.problems[:4]:
            print(f"      reel: {problem}")


def print_summary(rows: list[ClipResult], detectors: list[str]) -> None:
    hl = [r for r in rows if r.kind == "highlights"]
    total = sum((r.highlights for r in hl), Counts(0, 0, 0))
    print("\nSummary")
    if hl:
        print(f"  highlights @tIoU>={TIOU}: recall {total.recall:.3f}  precision "
              f"{total.precision:.3f}  ({total.tp} matched of {total.tp + total.fn} injected, "
              f"{total.fp} extra)")
        taus = [r.tau for r in hl]
        print(f"  rank (Kendall tau, injected highlights vs filler windows): mean "
              f"{statistics.mean(taus):+.3f}, min {min(taus):+.3f}; tau-b mean "
              f"{statistics.mean(r.tau_b for r in hl):+.3f}")
    print(f"  segments straddling a cut within {STRADDLE_REACH:.0f} s of an end: "
          f"{sum(r.straddles for r in rows)}")
    print(f"  scene cuts @±{CUT_TOLERANCE} frame      F1     P      R   false in high-motion "
          "false in fade   seconds (ours: whole analysis; theirs: detection)")
    for name in ["ours", *detectors]:
        c = sum((r.cuts[name] for r in rows), Counts(0, 0, 0))
        label = {"ours": "ours", "content": "PySceneDetect Content",
                 "adaptive": "PySceneDetect Adaptive"}[name]
        print(f"    {label:<24} {c.f1:.3f}  {c.precision:.3f}  {c.recall:.3f}   "
              f"{sum(r.motion_false[name] for r in rows):>3}                "
              f"{sum(r.fade_false[name] for r in rows):>3}        "
              f"{sum(r.detector_s[name] for r in rows):6.1f}")
    reels = [r.reel for r in rows if r.reel]
    if reels:
        segs = sum(x.segments for x in reels)
        offsets = [abs(o) for x in reels for o in x.offsets_ms]
        within = sum(o <= AAC_FRAME * 1000 for o in offsets)
        print(f"  render: {sum(x.exact_start for x in reels)}/{segs} segments start on the "
              f"requested frame, {sum(x.length_ok for x in reels)}/{segs} last the requested "
              f"length ±1 frame, {sum(x.exact for x in reels)}/{segs} both")
        if offsets:
            print(f"          A/V offset: max {max(offsets):.1f} ms, median "
                  f"{statistics.median(offsets):.1f} ms; {within}/{len(offsets)} within one "
                  f"AAC frame ({AAC_FRAME * 1000:.1f} ms)")
        print(f"          clean decode {sum(x.clean_decode for x in reels)}/{len(reels)} reels, "
              f"H.264 High yuv420p (+AAC) +faststart {sum(x.streams_ok for x in reels)}"
              f"/{len(reels)}")
    checked = [r for r in rows if r.deterministic is not None]
    if checked:
        print(f"  deterministic results JSON: {sum(bool(r.deterministic) for r in checked)}"
              f"/{len(checked)} clips")
