"""What the decoder can skip for 160 px gray analysis frames: ffmpeg decode variants against
`ffmpeg -i clip -f null -`, on a camera-like 8 Mbit/s and a ~2.5 Mbit/s 60 s 720p30 clip.

    .venv/bin/python bench/decode_options.py [--runs 5] [--workdir DIR] [--only REGEX]

Per variant: wall and CPU (user + sys of the ffmpeg child; of this process too for the
whole-stage rows), median over interleaved rounds (the order rotates each round, so a busy
neighbour hits every variant alike; on a shared machine trust the CPU column more than the
wall one), and how its frames differ from "full", the stage's command with ffmpeg's default
thread count, as it was before it passed one thread per core ("threads 2" here) (frames
kept, frames not bit-identical, largest and mean absolute gray-level difference).
"decode stage" is the whole stage as it is now (probe, packet times, picture, sound thread,
frame cache); "decode stage, threads auto" the same with ffmpeg's own thread count.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stages import decode  # noqa: E402
from stages.context import NullContext  # noqa: E402
from stages.ffmpeg import ffmpeg_exe  # noqa: E402
from stages.framecache import FrameCache  # noqa: E402
from stages.workspace import SOURCE, Workspace  # noqa: E402

WIDTH, HEIGHT = 160, 90  # the cache size of a 1280x720 upload (analysis_long_side 160)
CLIPS = {"8M": "8M", "2.5M": "2500k"}  # name -> libx264 -b:v
SCALE = f"scale={WIDTH}:{HEIGHT}:flags=area"
PIPE = ["-fps_mode", "passthrough", "-f", "rawvideo", "pipe:"]
VIDEO_ONLY = ["-map", "0:v:0", "-an", "-sn", "-dn"]

# name -> (input options, output options); "full" is stages/decode.py's command with
# ffmpeg's default threads, the reference every variant's frames are compared with.
VARIANTS: dict[str, tuple[list[str], list[str]]] = {
    "null": ([], ["-f", "null", "-"]),
    "null video only": ([], [*VIDEO_ONLY, "-f", "null", "-"]),
    "full": ([], [*VIDEO_ONLY, "-vf", f"{SCALE},format=gray", *PIPE]),
    "format=gray first": ([], [*VIDEO_ONLY, "-vf", f"format=gray,{SCALE}", *PIPE]),
    "extractplanes=y": ([], [*VIDEO_ONLY, "-vf", f"extractplanes=y,{SCALE}", *PIPE]),
    "scale fast_bilinear": ([], [*VIDEO_ONLY, "-vf", f"{SCALE.replace('area', 'fast_bilinear')},"
                                 "format=gray", *PIPE]),
    "threads 1": (["-threads", "1"], [*VIDEO_ONLY, "-vf", f"{SCALE},format=gray", *PIPE]),
    "threads 2": (["-threads", "2"], [*VIDEO_ONLY, "-vf", f"{SCALE},format=gray", *PIPE]),
    "threads 3": (["-threads", "3"], [*VIDEO_ONLY, "-vf", f"{SCALE},format=gray", *PIPE]),
    "threads 4": (["-threads", "4"], [*VIDEO_ONLY, "-vf", f"{SCALE},format=gray", *PIPE]),
    "flags2 fast": (["-flags2", "fast"], [*VIDEO_ONLY, "-vf", f"{SCALE},format=gray", *PIPE]),
    "skip_loop_filter noref": (["-skip_loop_filter", "noref"],
                               [*VIDEO_ONLY, "-vf", f"{SCALE},format=gray", *PIPE]),
    "skip_loop_filter bidir": (["-skip_loop_filter", "bidir"],
                               [*VIDEO_ONLY, "-vf", f"{SCALE},format=gray", *PIPE]),
    "noref + flags2 fast": (["-skip_loop_filter", "noref", "-flags2", "fast"],
                            [*VIDEO_ONLY, "-vf", f"{SCALE},format=gray", *PIPE]),
    "skip_loop_filter all (rejected)": (["-skip_loop_filter", "all"],
                                        [*VIDEO_ONLY, "-vf", f"{SCALE},format=gray", *PIPE]),
    "skip_frame noref (drops frames)": (["-skip_frame", "noref"],
                                        [*VIDEO_ONLY, "-vf", f"{SCALE},format=gray", *PIPE]),
}


@dataclass
class Result:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    diff: str = ""


def make_clip(path: Path, bitrate: str) -> Path:
    """60 s 1280x720 30 fps testsrc2 + a sine, H.264 (veryfast, as the evals' clips) + AAC."""
    if not path.exists():
        tmp = path.with_suffix(".tmp.mp4")
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                        "testsrc2=s=1280x720:r=30:d=60", "-f", "lavfi", "-i",
                        "sine=f=440:sample_rate=48000:d=60", "-c:v", "libx264", "-preset",
                        "veryfast", "-b:v", bitrate, "-pix_fmt", "yuv420p", "-c:a", "aac",
                        "-shortest", str(tmp)], check=True)
        tmp.rename(path)
    return path


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_ffmpeg(clip: Path, variant: str) -> tuple[float, float, np.ndarray | None]:
    """(wall, child CPU, frames read from the pipe or None) of one ffmpeg run."""
    inputs, outputs = VARIANTS[variant]
    cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", *inputs, "-i", str(clip), *outputs]
    cpu, started = children_cpu(), time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    chunks, frame = [], WIDTH * HEIGHT
    while data := proc.stdout.read(frame * 64):  # the stage's batch for a 720p source
        chunks.append(data)
    if proc.wait() != 0:
        raise RuntimeError(f"{variant}: ffmpeg failed")
    wall, cpu = time.perf_counter() - started, children_cpu() - cpu
    raw = b"".join(chunks)
    frames = np.frombuffer(raw, np.uint8).reshape(-1, HEIGHT, WIDTH) if raw else None
    return wall, cpu, frames


def run_stage(clip: Path, work: Path, auto_threads: bool = False
              ) -> tuple[float, float, np.ndarray]:
    """(wall, CPU of this process and its children, cache frames) of the whole decode stage;
    ``auto_threads``: with ffmpeg's own thread count (-threads 0), as before."""
    directory = work / "stage"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    os.symlink(clip.resolve(), directory / SOURCE)
    chosen = decode.decoder_threads
    if auto_threads:
        decode.decoder_threads = lambda: 0  # type: ignore[assignment]
    cpu, started = children_cpu() + self_cpu(), time.perf_counter()
    try:
        decode.run(NullContext(Workspace(directory)))
    finally:
        decode.decoder_threads = chosen  # type: ignore[assignment]
    wall, cpu = time.perf_counter() - started, children_cpu() + self_cpu() - cpu
    return wall, cpu, np.array(FrameCache.open(Workspace(directory)).frames)


def difference(frames: np.ndarray | None, reference: np.ndarray) -> str:
    if frames is None:
        return "-"
    if frames.shape != reference.shape:
        return f"{len(frames)} frames (full: {len(reference)})"
    delta = np.abs(frames.astype(np.int16) - reference).reshape(len(frames), -1)
    changed = int(np.count_nonzero(delta.max(axis=1)))
    return (f"{changed}/{len(frames)} frames differ, max {int(delta.max())}, "
            f"mean {float(delta.mean()):.3f}")


def measure(clip: Path, variants: list[str], runs: int, work: Path) -> dict[str, Result]:
    results: dict[str, Result] = defaultdict(Result)
    reference = run_ffmpeg(clip, "full")[2]
    assert reference is not None
    runners: dict[str, Callable[[], tuple[float, float, np.ndarray | None]]] = {
        v: partial(run_ffmpeg, clip, v) for v in variants if v in VARIANTS}
    if "decode stage" in variants:
        runners["decode stage"] = partial(run_stage, clip, work)
        runners["decode stage, threads auto"] = partial(run_stage, clip, work, True)
    order = list(runners)
    for round_ in range(runs):
        for variant in order[round_ % len(order):] + order[: round_ % len(order)]:
            wall, cpu, frames = runners[variant]()
            results[variant].wall.append(wall)
            results[variant].cpu.append(cpu)
            if round_ == 0:
                results[variant].diff = difference(frames, reference)
    return results


def report(name: str, clip: Path, results: dict[str, Result], runs: int) -> None:
    null = results["null"]
    base_wall, base_cpu = statistics.median(null.wall), statistics.median(null.cpu)
    mbit = clip.stat().st_size * 8 / 60 / 1e6
    print(f"\n{name}: {clip.name}, 60 s 1280x720 30 fps, {mbit:.2f} Mbit/s in total; median "
          f"of {runs}, interleaved; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores")
    print(f"  {'variant':34} {'wall s':>7} {'x null':>7} {'CPU s':>7} {'x null':>7}  "
          "frames vs full")
    for variant, r in results.items():
        wall, cpu = statistics.median(r.wall), statistics.median(r.cpu)
        print(f"  {variant:34} {wall:7.2f} {wall / base_wall:7.2f} {cpu:7.2f} "
              f"{cpu / base_cpu:7.2f}  {r.diff}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workdir", type=Path, help="keep the clips here (default: temp dir)")
    parser.add_argument("--only", default="", help="regex on variant names (null is kept)")
    parser.add_argument("--no-stage", action="store_true", help="skip the whole-stage row")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="decode-options-"))
    work.mkdir(parents=True, exist_ok=True)
    variants = [v for v in [*VARIANTS, "decode stage"]
                if v in ("null", "full") or (re.search(args.only, v)
                                                and not (args.no_stage and v == "decode stage"))]
    for name, bitrate in CLIPS.items():
        clip = make_clip(work / f"testsrc2-720p30-{bitrate}.mp4", bitrate)
        report(name, clip, measure(clip, variants, args.runs, work), args.runs)
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
