"""Cut clips: shots of different lavfi sources joined by hard cuts at known frames, one long
high-motion shot with no cut inside, and one 1 s cross-fade (not a cut).
"""

from __future__ import annotations

import random
from typing import Any

from tests.groundtruth.highlight_spec import (
    FADE_SECONDS,
    LOW_RES,
    QUIET,
    ClipSpec,
    audio_layout,
)


def cut_clip(spec: ClipSpec) -> tuple[str, str | None, dict[str, Any]]:
    if spec.vfr:
        raise ValueError("cut clips are constant-rate")
    rng = random.Random(spec.seed)
    fps, total, fade = spec.fps, spec.frames, round(FADE_SECONDS * spec.fps)
    plan = _cut_plan(spec, rng)
    chains = [_shot_source(kind, i, n, spec, rng) for i, (kind, n) in enumerate(plan)]
    fade_at = next(i for i, (kind, _) in enumerate(plan) if kind.endswith("+fade"))
    pieces: list[str] = []
    cuts: list[int] = []
    fades: list[dict[str, Any]] = []
    high_motion: dict[str, Any] | None = None
    position = i = 0
    while i < len(plan):
        if i == fade_at:  # two shots joined by a 1 s cross-fade: one piece, no cut
            a_len, b_len = plan[i][1], plan[i + 1][1]
            pieces.append(f"[s{i}][s{i + 1}]xfade=transition=fade:duration={FADE_SECONDS}:"
                          f"offset={(a_len - fade) / fps}[p{len(pieces)}]")
            first = position + a_len - fade
            fades.append({"start_frame": first, "end_frame": first + fade,
                          "start": first / fps, "end": (first + fade) / fps})
            length, i = a_len + b_len - fade, i + 2
        else:
            length = plan[i][1]
            if plan[i][0] == spec.high_motion:
                high_motion = {"start_frame": position, "end_frame": position + length,
                               "start": position / fps, "end": (position + length) / fps,
                               "source": spec.high_motion}
            pieces.append(f"[s{i}]null[p{len(pieces)}]")
            i += 1
        if position:
            cuts.append(position)
        position += length
    if position != total:
        raise AssertionError(f"{spec.name}: planned {position} frames, wanted {total}")
    joined = "".join(f"[p{k}]" for k in range(len(pieces)))
    graph = ";".join([*chains, *pieces,
                      f"{joined}concat=n={len(pieces)}:v=1:a=0,format=yuv420p[main]"])
    audio = None
    if spec.audio:
        audio = (f"anoisesrc=r=48000:color=pink:amplitude={4 * QUIET}:seed={spec.seed},"
                 f"{audio_layout(spec.audio)}")
    return graph, audio, {"kind": "cuts", "highlights": [], "cuts": cuts,
                          "cut_times": [c / fps for c in cuts], "high_motion": high_motion,
                          "fades": fades, "shots": [k for k, _ in plan]}


def _cut_plan(spec: ClipSpec, rng: random.Random) -> list[tuple[str, int]]:
    """(source kind, frames) per shot: calm shots of 1.5-4 s, the 8 s high-motion shot as the
    3rd or 4th, a cross-faded pair ("+fade" marks the first) two shots after it."""
    fps, total, fade = spec.fps, spec.frames, round(FADE_SECONDS * spec.fps)
    calm = _shot_kinds(rng)
    motion_at = rng.randrange(2, 4)
    plan: list[tuple[str, int]] = []
    used = 0
    while True:
        i = len(plan)
        if i == motion_at:
            kind, length = spec.high_motion, 8 * fps
        else:
            kind, length = calm[i % len(calm)], round(rng.uniform(1.5, 4.0) * fps)
        if i == motion_at + 2:
            kind, length = kind + "+fade", length + fade
        elif i == motion_at + 3:
            length += fade
            used -= fade  # the two shots overlap during the fade
        if i > motion_at + 3 and total - used - length < fps:
            length = total - used  # the last shot takes the rest
        plan.append((kind, length))
        used += length
        if used >= total:
            break
    if used != total or plan[-1][1] < fps or len(plan) < motion_at + 5:
        raise ValueError(f"{spec.name}: {spec.seconds} s is too short for the cut plan")
    return plan


def _shot_kinds(rng: random.Random) -> list[str]:
    """Calm shot sources in a seeded order; the mirrored shot always follows its original
    (a cut between two pictures with the very same colours)."""
    kinds = ["bars", "gradient", "rgb", "perlin", "gradient", "testsrc2"]
    rng.shuffle(kinds)
    kinds.insert(kinds.index("testsrc2") + 1, "mirror")
    return kinds


def _shot_source(kind: str, i: int, length: int, spec: ClipSpec, rng: random.Random) -> str:
    """Chain ``[s<i>]``: ``length`` frames of one shot at the clip's size and rate."""
    fps, w, h = spec.fps, spec.width, spec.height
    lw, lh = LOW_RES // 2, round(LOW_RES / 2 * h / w)
    seed = spec.seed * 100 + i
    colours = ":".join(f"c{k}=0x{rng.randrange(0x1000000):06x}" for k in range(3))
    sources = {
        "testsrc2": f"testsrc2=s={lw}x{lh}:r={fps}",
        # The same picture mirrored: a new camera angle with the very same colours.
        "mirror": f"testsrc2=s={lw}x{lh}:r={fps},hflip",
        "bars": f"smptehdbars=s={lw}x{lh}:r={fps},noise=alls=8:allf=t",
        "gradient": f"gradients=s={lw}x{lh}:r={fps}:n=3:{colours}:speed=0.002:seed={seed}",
        "rgb": f"rgbtestsrc=s={lw}x{lh}:r={fps},hue=H=2*PI*t/5",
        "perlin": f"perlin=s={lw}x{lh}:r={fps}:tscale=0.3:octaves=3:seed={seed}",
        "life": (f"life=s={lw // 2}x{lh // 2}:r={fps}:mold=10:ratio=0.15:seed={seed}:"
                 "death_color=#202040:life_color=#ffdd00:mold_color=#304080"),
        "mandelbrot": f"mandelbrot=s={lw}x{lh}:r={fps}:end_pts={4 * fps}:end_scale=0.05",
        "cellauto": f"cellauto=s={lw}x{lh}:r={fps}:rule=110:ratio=0.5:seed={seed}:scroll=1",
    }
    flags = "neighbor" if kind in ("life", "cellauto") else "bicubic"
    return (f"{sources[kind.removesuffix('+fade')]},scale={w}:{h}:flags={flags},setsar=1,"
            f"format=yuv420p,trim=end_frame={length},setpts=PTS-STARTPTS[s{i}]")
