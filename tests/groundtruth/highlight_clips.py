"""Highlight clips: low-activity filler with injected fast-motion and loud highlights, some
hard cuts in the filler, as one lavfi graph and its truth.
"""

from __future__ import annotations

import random
from typing import Any

from tests.groundtruth.highlight_spec import (
    EDGE,
    GAP,
    LOUD,
    LOW_RES,
    QUIET,
    SHAKE,
    ClipSpec,
    audio_layout,
    vfr_keeps,
)


def highlight_clip(spec: ClipSpec) -> tuple[str, str | None, dict[str, Any]]:
    rng = random.Random(spec.seed)
    highlights = _place_highlights(spec, rng)
    cut_ids = _place_filler_cuts(spec, highlights, rng)
    width, height, fps = spec.width, spec.height, spec.fps
    margin = 2 * round(SHAKE * width)
    bg_w, bg_h = width + 2 * margin, height + 2 * margin
    shots = [0, *cut_ids, spec.frames]
    chains, pads = [], []
    for i, (a, b) in enumerate(zip(shots, shots[1:], strict=False)):
        colours = ":".join(f"c{k}=0x{rng.randrange(0x1000000):06x}" for k in range(3))
        low_h = round(LOW_RES * bg_h / bg_w)
        chains.append(f"gradients=s={LOW_RES}x{low_h}:r={fps}:n=3:{colours}:speed=0:"
                      f"seed={spec.seed * 10 + i}:type={rng.choice(['linear', 'radial'])},"
                      f"noise=alls=1:allf=t,scale={bg_w}:{bg_h},"
                      f"trim=start_frame={a}:end_frame={b},setpts=PTS-STARTPTS[bg{i}]")
        pads.append(f"[bg{i}]")
    moving = [h for h in highlights if h["kind"] in ("motion", "both")]
    shake_x = _sum_between(moving, f"{margin / 2}*sin(2*PI*7*t)")
    shake_y = _sum_between(moving, f"{margin / 2}*sin(2*PI*5.3*t+1)")
    ow, oh = 2 * (width // 6), 2 * (height // 6)
    cx, cy = (width - ow) / 2, (height - oh) / 2
    race_x = _sum_between(moving, f"{cx * 0.95}*sin(2*PI*1.7*(t-{{a}}))", relative=True)
    race_y = _sum_between(moving, f"{cy * 0.95}*sin(2*PI*2.3*(t-{{a}}))", relative=True)
    drift = f"{0.1 * width}*sin(2*PI*t/40)"
    graph = ";".join([
        *chains,
        f"{''.join(pads)}concat=n={len(pads)}:v=1:a=0,"
        f"crop={width}:{height}:x='{margin}+{shake_x}':y='{margin}+{shake_y}'[bg]",
        f"smptebars=s={ow}x{oh}:r={fps}[obj]",
        f"[bg][obj]overlay=x='{cx}+{drift}+{race_x}':y='{cy}+{race_y}':shortest=1,"
        "format=yuv420p[main]",
    ])
    audio = None
    if spec.audio:
        loud = [h for h in highlights if h["kind"] in ("loud", "both")]
        level = f"{QUIET}+{LOUD - QUIET}*({_sum_between(loud, '1')})"
        audio = (f"anoisesrc=r=48000:color=pink:amplitude=1:seed={spec.seed},"
                 f"volume='{level}':eval=frame,{audio_layout(spec.audio)}")
    return graph, audio, {"kind": "highlights", "highlights": highlights,
                          **_cut_truth(spec, cut_ids), "high_motion": None, "fades": []}


def _place_highlights(spec: ClipSpec, rng: random.Random) -> list[dict[str, Any]]:
    """Non-overlapping 2-8 s intervals, GAP s apart at least and EDGE s from either end."""
    n, fps = spec.highlights, spec.fps
    chosen = (["motion", "loud", "both"] * n)[:n] if spec.audio else ["motion"] * n
    rng.shuffle(chosen)
    longest = min(8.0, (spec.seconds - 2 * EDGE - (n - 1) * GAP) / n)
    if longest < 2.0:
        raise ValueError(f"{spec.name}: {n} highlights do not fit in {spec.seconds} s")
    lengths = [rng.uniform(2.0, longest) for _ in range(n)]
    slack = spec.seconds - sum(lengths) - 2 * EDGE - (n - 1) * GAP
    weights = [rng.random() + 0.2 for _ in range(n + 1)]
    gaps = [slack * w / sum(weights) for w in weights]
    out, t = [], EDGE + gaps[0]
    for i in range(n):
        start, end = round(t * fps), round((t + lengths[i]) * fps)
        out.append({"start": start / fps, "end": end / fps, "kind": chosen[i]})
        t += lengths[i] + GAP + gaps[i + 1]
    return out


def _place_filler_cuts(spec: ClipSpec, highlights: list[dict[str, Any]],
                       rng: random.Random) -> list[int]:
    """Frame ids of hard cuts: the first two just outside a highlight (where padding would
    straddle them), the rest in the filler, 2.5 s or more from any highlight."""
    fps, wanted = spec.fps, spec.shots - 1
    cuts: list[float] = []
    if wanted >= 1:
        cuts.append(highlights[0]["start"] - rng.uniform(0.15, 0.4))
    if wanted >= 2:
        cuts.append(highlights[-1]["end"] + rng.uniform(0.15, 0.4))
    tries = 0
    while len(cuts) < wanted and tries < 10_000:
        tries += 1
        t = rng.uniform(2.0, spec.seconds - 2.0)
        if all(not (h["start"] - 2.5 < t < h["end"] + 2.5) for h in highlights) and all(
                abs(t - c) > 3.0 for c in cuts):
            cuts.append(t)
    return sorted({round(t * fps) for t in cuts})


def _sum_between(events: list[dict[str, Any]], term: str, relative: bool = False) -> str:
    if not events:
        return "0"
    parts = []
    for h in events:
        body = term.replace("{a}", f"{h['start']}") if relative else term
        parts.append(f"between(t,{h['start']},{h['end'] - 1e-6})*{body}")
    return "+".join(parts)


def _cut_truth(spec: ClipSpec, cut_ids: list[int]) -> dict[str, Any]:
    ids = [n for n in range(spec.frames) if not spec.vfr or vfr_keeps(n, spec.fps)]
    index = _index_of_id(ids)
    # A cut at a dropped id shows first on the next kept frame.
    frames = [index[min(i for i in ids if i >= c)] for c in cut_ids]
    return {"cuts": frames, "cut_times": [ids[f] / spec.fps for f in frames]}


def _index_of_id(ids: list[int]) -> dict[int, int]:
    return {frame_id: i for i, frame_id in enumerate(ids)}
