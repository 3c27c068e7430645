"""Seeded generators of highlight and scene-cut clips whose truth is known to the frame.

``generate(spec, directory)`` writes ``<name>.mp4`` and ``<name>.json`` (the ground truth)
with ffmpeg lavfi graphs. Every frame carries a frame-number barcode (``framecode``).

Highlight clips (``highlight_clips``): low-activity filler (slowly drifting gradient
shots, a slow object, sensor noise, quiet room noise) with 3-6 injected highlights of 2-8 s:
fast motion (the object races, the camera shakes), a loud burst, or both. Some have hard
cuts in the filler, a few placed just outside a highlight where padding would straddle them.

Cut clips (``cut_clips``): shots of different lavfi sources joined by hard cuts at known
frames, one long high-motion shot with no cut inside, and one 1 s cross-fade (not a cut).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from stages.ffmpeg import ffmpeg_exe
from tests.groundtruth.cut_clips import cut_clip
from tests.groundtruth.framecode import overlay_graph
from tests.groundtruth.highlight_clips import highlight_clip
from tests.groundtruth.highlight_spec import VERSION, ClipSpec, vfr_keeps

__all__ = ["VERSION", "ClipSpec", "generate", "load_truth", "suite", "variant"]


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
        graph, audio, truth = highlight_clip(spec)
    elif spec.kind == "cuts":
        graph, audio, truth = cut_clip(spec)
    else:
        raise ValueError(f"unknown clip kind {spec.kind!r}")
    code_graph, strip = overlay_graph("main", "coded", spec.width, spec.height, spec.fps)
    graph = f"{graph};{code_graph}"
    ids = list(range(spec.frames))
    if spec.vfr:
        ids = [n for n in ids if vfr_keeps(n, spec.fps)]
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


def _common_truth(spec: ClipSpec, ids: list[int], strip: dict[str, float]) -> dict[str, Any]:
    times = [n / spec.fps for n in ids]
    display = (spec.height, spec.width) if spec.rotation % 180 == 90 else (spec.width,
                                                                          spec.height)
    return {"spec": {k: v for k, v in asdict(spec).items() if k != "extra"},
            "fps": spec.fps, "frame_count": len(ids), "frame_ids": ids, "frame_times": times,
            "duration": spec.frames / spec.fps, "display_size": list(display),
            "rotation": spec.rotation, "has_audio": spec.audio is not None, "strip": strip,
            "version": VERSION}


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
