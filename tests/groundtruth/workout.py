"""Synthetic workout clips with exact per-rep ground truth, drawn from a parametric motion phase.

``write_clip(spec, path)`` renders a clip through ffmpeg and writes its truth as JSON beside it;
``suite(seed)`` lists the clean (tier 1), realistic (tier 2) and control clips of the eval.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np

from stages.ffmpeg import ffmpeg_exe
from tests.groundtruth.workout_plan import CONTROLS, TEMPOS, ClipSpec, plan, truth
from tests.groundtruth.workout_render import frames
from tests.groundtruth.workout_scene import MOVEMENTS

__all__ = ["ClipSpec", "frames", "plan", "suite", "truth", "write_clip"]


def write_clip(spec: ClipSpec, path: Path) -> dict:
    """Render ``spec`` to ``path`` (H.264) and its truth to ``path.with_suffix('.json')``."""
    p = plan(spec)
    stored = (spec.height, spec.width) if spec.rotation in (90, 270) else (spec.width,
                                                                            spec.height)
    tmp = path.with_suffix(".norot.mp4") if spec.rotation else path
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "gray",
           "-s", f"{stored[0]}x{stored[1]}", "-r", str(spec.fps), "-i", "-",
           "-c:v", "libx264", "-preset", "veryfast",
           *(["-b:v", spec.bitrate] if spec.bitrate else ["-crf", str(spec.crf)]),
           "-pix_fmt", "yuv420p", str(tmp)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    # The stored picture is turned so that the player's rotation makes it upright again.
    turns = {0: 0, 90: -1, 270: 1}[spec.rotation]
    try:
        for frame in frames(p):
            proc.stdin.write(np.ascontiguousarray(np.rot90(frame, turns)).tobytes())
    finally:
        proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"ffmpeg failed on {path}")
    if spec.rotation:
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-display_rotation",
                        str(spec.rotation), "-i", str(tmp), "-c", "copy", str(path)], check=True)
        tmp.unlink()
    data = truth(p)
    path.with_suffix(".json").write_text(json.dumps(data, indent=1))
    return data


def suite(seed: int = 0, clean: int = 16, realistic: int = 12,
          controls: int = 6) -> list[ClipSpec]:
    """The eval's clips: each movement at several tempo strata per tier, then the controls."""
    specs = []
    for i in range(clean):
        movement, tempo = MOVEMENTS[i % 4], TEMPOS[(i // 4) % 4]
        portrait = i % 2 == 1
        specs.append(ClipSpec(f"clean-{i:02d}-{movement}", "clean", movement, seed * 1000 + i,
                              width=360 if portrait else 640, height=640 if portrait else 360,
                              tempo=tempo, max_rest=90.0 if i == 5 else 50.0))
    for i in range(realistic):
        movement, tempo = MOVEMENTS[i % 4], TEMPOS[(i + i // 4) % 4]
        specs.append(_realistic(ClipSpec(f"real-{i:02d}-{movement}", "realistic", movement,
                                         seed * 1000 + 100 + i, tempo=tempo, max_active=40.0,
                                         max_rest=25.0), i))
    for i in range(controls):
        kind = CONTROLS[i % len(CONTROLS)]
        spec = ClipSpec(f"control-{i:02d}-{kind}", "control", None, seed * 1000 + 200 + i,
                        control=kind, walkers=3 if kind == "walkers" else 0)
        specs.append(_realistic(spec, i) if i >= len(CONTROLS) else spec)
    return specs


def _realistic(spec: ClipSpec, i: int) -> ClipSpec:
    """Tier 2 conditions: hand-held 60 fps portrait phone video, heavily compressed."""
    return replace(spec, fps=60, width=720, height=1280, rotation=90 if i % 2 else 270,
                   crf=28 + i % 5, shake=True, exposure=True, walkers=max(spec.walkers, 1 + i % 3))
