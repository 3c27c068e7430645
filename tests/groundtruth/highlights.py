"""Seeded generators of highlight and scene-cut clips whose truth is known to the frame.

``generate(spec, directory)`` writes ``<name>.mp4`` and ``<name>.json`` (the ground truth)
with ffmpeg lavfi graphs. Every frame carries a frame-number barcode (``framecode``).

Highlight clips: low-activity filler (slowly drifting gradient shots, a slow object, sensor
noise, quiet room noise) with 3-6 injected highlights of 2-8 s: fast motion (the object
races, the camera shakes), a loud burst, or both. Some have hard cuts in the filler, a few
placed just outside a highlight where padding would straddle them.

Cut clips: shots of different lavfi sources joined by hard cuts at known frames, one long
high-motion shot with no cut inside, and one 1 s cross-fade (not a cut).
"""

from __future__ import annotations

import json
import random
import subprocess
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from stages.ffmpeg import ffmpeg_exe
from tests.groundtruth.framecode import overlay_graph

VERSION = 7  # bump when the generated media change: the eval's cache key
LOW_RES = 480  # backgrounds are drawn this wide and scaled up (cheap at 1080p)
QUIET = 0.02  # amplitude of the room noise (about -40 dBFS)
LOUD = 0.5  # amplitude of a loud burst (about -12 dBFS)
SHAKE = 0.02  # camera-shake amplitude during motion highlights, fraction of the width
FADE_SECONDS = 1.0
GAP = 5.0  # s at least between two highlights (well apart from merging)
EDGE = 2.5  # s at least between a highlight and either end of the clip


@dataclass(frozen=True)
class ClipSpec:
    """One generated clip. ``kind`` is "highlights" or "cuts"."""

    name: str
    kind: str
    seconds: float
    width: int  # coded size
    height: int
    fps: int
    seed: int
    audio: str | None = "stereo"  # "stereo", "5.1" or None
    bitrate: str = "2M"
    gop: int = 250
    rotation: int = 0  # display rotation metadata, degrees
    sar: tuple[int, int] = (1, 1)
    vfr: bool = False  # drop every other frame in alternate 10 s stretches
    highlights: int = 4  # highlight clips: how many
    shots: int = 1  # highlight clips: filler shots (shots - 1 hard cuts)
    high_motion: str = "life"  # cut clips: source of the long high-motion shot
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return round(self.seconds * self.fps)


def suite(quick: bool = False) -> list[ClipSpec]:
    """The evaluation suite; ``quick`` keeps a varied third of it."""
    clips = [
        ClipSpec("hl-360p24", "highlights", 60, 640, 360, 24, seed=1, bitrate="800k",
                 highlights=4, shots=3),
        ClipSpec("hl-720p30", "highlights", 90, 1280, 720, 30, seed=2, bitrate="4M",
                 highlights=5, shots=4, gop=60),
        ClipSpec("hl-1080p60-51", "highlights", 30, 1920, 1080, 60, seed=3, audio="5.1",
                 bitrate="8M", highlights=3),
        ClipSpec("hl-portrait25", "highlights", 45, 1280, 720, 25, seed=4, rotation=90,
                 bitrate="3M", highlights=3, shots=2),
        ClipSpec("hl-vfr-480p", "highlights", 60, 854, 480, 30, seed=5, vfr=True,
                 bitrate="1500k", highlights=4),
        ClipSpec("hl-540p25-mute", "highlights", 120, 960, 540, 25, seed=6, audio=None,
                 bitrate="1500k", highlights=5, shots=3),
        ClipSpec("hl-180s-360p30", "highlights", 180, 640, 360, 30, seed=7, bitrate="500k",
                 highlights=6, shots=5),
        ClipSpec("hl-hdv-sar43", "highlights", 40, 1440, 1080, 25, seed=8, sar=(4, 3),
                 bitrate="6M", highlights=3),
        ClipSpec("cut-360p25", "cuts", 40, 640, 360, 25, seed=11, high_motion="life"),
        ClipSpec("cut-720p30", "cuts", 45, 1280, 720, 30, seed=12, high_motion="mandelbrot",
                 bitrate="5M"),
        ClipSpec("cut-1080p24", "cuts", 30, 1920, 1080, 24, seed=13, high_motion="cellauto",
                 audio=None, bitrate="6M"),
        ClipSpec("cut-portrait60", "cuts", 30, 1280, 720, 60, seed=14, high_motion="life",
                 rotation=270, bitrate="4M"),
    ]
    if quick:
        keep = {"hl-360p24", "hl-1080p60-51", "hl-vfr-480p", "cut-360p25", "cut-portrait60"}
        clips = [c for c in clips if c.name in keep]
    return clips


def generate(spec: ClipSpec, directory: Path) -> Path:
    """Write ``<name>.mp4`` and its ``<name>.json`` truth into ``directory``; return the video."""
    directory.mkdir(parents=True, exist_ok=True)
    video = directory / f"{spec.name}.mp4"
    truth_path = directory / f"{spec.name}.json"
    if spec.kind == "highlights":
        graph, audio, truth = _highlight_clip(spec)
    elif spec.kind == "cuts":
        graph, audio, truth = _cut_clip(spec)
    else:
        raise ValueError(f"unknown clip kind {spec.kind!r}")
    code_graph, strip = overlay_graph("main", "coded", spec.width, spec.height, spec.fps)
    graph = f"{graph};{code_graph}"
    ids = list(range(spec.frames))
    if spec.vfr:
        ids = [n for n in ids if _vfr_keeps(n, spec.fps)]
        graph += f";[coded]select='lt(mod(n,{20 * spec.fps}),{10 * spec.fps})+not(mod(n,2))'"
    else:
        graph += ";[coded]null"
    graph += f",setsar={spec.sar[0]}/{spec.sar[1]}[v]"
    _encode(spec, graph, audio, video)
    truth.update(_common_truth(spec, ids, strip.to_dict()))
    truth_path.write_text(json.dumps(truth, indent=1, sort_keys=True))
    return video


def load_truth(video: Path) -> dict[str, Any]:
    return json.loads(video.with_suffix(".json").read_text())


def _vfr_keeps(n: int, fps: int) -> bool:
    return n % (20 * fps) < 10 * fps or n % 2 == 0


def _common_truth(spec: ClipSpec, ids: list[int], strip: dict[str, float]) -> dict[str, Any]:
    times = [n / spec.fps for n in ids]
    display = (spec.height, spec.width) if spec.rotation % 180 == 90 else (spec.width,
                                                                          spec.height)
    return {"spec": {k: v for k, v in asdict(spec).items() if k != "extra"},
            "fps": spec.fps, "frame_count": len(ids), "frame_ids": ids, "frame_times": times,
            "duration": spec.frames / spec.fps, "display_size": list(display),
            "rotation": spec.rotation, "has_audio": spec.audio is not None, "strip": strip,
            "version": VERSION}


def _index_of_id(ids: list[int]) -> dict[int, int]:
    return {frame_id: i for i, frame_id in enumerate(ids)}


# --- highlight clips -------------------------------------------------------------------


def _highlight_clip(spec: ClipSpec) -> tuple[str, str | None, dict[str, Any]]:
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
                 f"volume='{level}':eval=frame,{_layout(spec.audio)}")
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


def _layout(audio: str) -> str:
    if audio == "5.1":
        return "pan=5.1|c0=c0|c1=c0|c2=c0|c4=c0|c5=c0"
    return "pan=stereo|c0=c0|c1=c0"


def _cut_truth(spec: ClipSpec, cut_ids: list[int]) -> dict[str, Any]:
    ids = [n for n in range(spec.frames) if not spec.vfr or _vfr_keeps(n, spec.fps)]
    index = _index_of_id(ids)
    # A cut at a dropped id shows first on the next kept frame.
    frames = [index[min(i for i in ids if i >= c)] for c in cut_ids]
    return {"cuts": frames, "cut_times": [ids[f] / spec.fps for f in frames]}


# --- cut clips -------------------------------------------------------------------------


def _cut_clip(spec: ClipSpec) -> tuple[str, str | None, dict[str, Any]]:
    if spec.vfr:
        raise ValueError("cut clips are constant-rate")
    rng = random.Random(spec.seed)
    fps, total, fade = spec.fps, spec.frames, round(FADE_SECONDS * spec.fps)
    plan = _cut_plan(spec, rng)
    chains = [_shot_source(kind, i, n, spec, rng) for i, (kind, n) in enumerate(plan)]
    fade_at = next(i for i, (kind, _) in enumerate(plan) if kind.endswith("+fade"))
    pieces, cuts, fades = [], [], []
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
                 f"{_layout(spec.audio)}")
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


# --- encoding --------------------------------------------------------------------------


def _encode(spec: ClipSpec, graph: str, audio: str | None, out: Path) -> None:
    tmp = out.with_suffix(".part.mp4")
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-nostdin", "-filter_complex", graph,
           "-map", "[v]", "-frames:v", str(spec.frames)]
    if audio:
        cmd[cmd.index("-filter_complex"):cmd.index("-filter_complex")] = [
            "-f", "lavfi", "-t", str(spec.seconds), "-i", audio]
        cmd += ["-map", "0:a"]
    cmd += ["-c:v", "libx264", "-preset", "superfast", "-b:v", spec.bitrate,
            "-g", str(spec.gop), "-pix_fmt", "yuv420p"]
    cmd += ["-fps_mode", "vfr"] if spec.vfr else ["-r", str(spec.fps)]
    if audio:
        cmd += ["-c:a", "aac", "-b:a", "256k" if spec.audio == "5.1" else "128k"]
    subprocess.run([*cmd, str(tmp)], check=True)
    if spec.rotation:
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-nostdin", "-display_rotation",
                        str(spec.rotation), "-i", str(tmp), "-c", "copy", str(out)], check=True)
        tmp.unlink()
    else:
        tmp.replace(out)


def variant(spec: ClipSpec, **changes: Any) -> ClipSpec:
    """A copy of ``spec`` with some fields changed (tests make small clips this way)."""
    return replace(spec, **changes)
