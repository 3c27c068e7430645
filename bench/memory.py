"""Issue-6 figures: peak memory of each analysis stage and the frame cache's size, by length.

Generates a long 1280x720 30 fps clip (lavfi testsrc2, a sine tone; ``--noisy`` adds camera
grain) once into a cache folder, then runs decode -> score -> select -> workout in-process
on it, each stage in a fresh child process, and prints each stage's peak RSS (the child's
own, and the largest of its own children: ffmpeg), the frame cache's MB and MB per second
of video, and the CPU that compressing and reading the cache costs.

    .venv/bin/python bench/memory.py [--minutes 15 [1 5 ...]] [--noisy] [--cache DIR]

:func:`measure` returns the same figures as a dict (for ``make bench``).
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stages.ffmpeg import ffmpeg_exe  # noqa: E402
from stages.framecache import CHUNK_FRAMES, ChunkWriter, FrameCache  # noqa: E402
from stages.workspace import FRAME_TIMES, FRAMES, FRAMES_META, SOURCE, Storage  # noqa: E402

STAGES = ("decode", "score", "select", "workout")
CACHE = Path(tempfile.gettempdir()) / "bench-memory"
NOISE = "noise=alls=12:allf=t"  # temporal grain, as a phone camera in a dim room
MAX_RSS_MB = 400.0  # the target for every stage (worker process tree)
MAX_CACHE_MB_PER_S = 0.2


def ensure_clip(minutes: float, noisy: bool = False, cache: Path = CACHE) -> Path:
    """The generated clip, made once per length and kind (takes minutes for 15 min)."""
    name = f"testsrc2-720p30-{minutes:g}min{'-noisy' if noisy else ''}.mp4"
    path = cache / name
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    seconds = f"{minutes * 60:g}"
    picture = f"testsrc2=size=1280x720:rate=30:duration={seconds}"
    part = path.with_suffix(".part.mp4")
    subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-y",
                    "-f", "lavfi", "-i", picture + (f",{NOISE}" if noisy else ""),
                    "-f", "lavfi", "-i", f"sine=frequency=440:beep_factor=4:duration={seconds}",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
                    "-maxrate", "8M", "-bufsize", "16M",  # a phone's rate: some grain goes
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-shortest",
                    str(part)], check=True)
    os.replace(part, path)
    return path


def _run_stage(root: str, session: str, name: str, results: Any) -> None:
    """In a fresh child: run one stage on the session, report its peak RSS in MB."""
    import importlib

    from stages.context import NullContext

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stage = importlib.import_module(f"stages.{name}")
    started = time.perf_counter()
    stage.run(NullContext(Storage(Path(root)).open(session)))
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                          resource.RUSAGE_CHILDREN))
    results.put({"seconds": time.perf_counter() - started,
                 "peak_mb": own.ru_maxrss / 1024, "start_mb": before,
                 "children_peak_mb": children.ru_maxrss / 1024,
                 "cpu_seconds": sum(u.ru_utime + u.ru_stime for u in (own, children))})


def _in_child(root: Path, session: str, name: str) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no parent pages
    results = context.Queue()
    child = context.Process(target=_run_stage, args=(str(root), session, name, results))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"stage {name} failed (exit code {child.exitcode})")
    figures: dict[str, float] = results.get(timeout=10)
    return figures


def codec_seconds(cache: FrameCache) -> dict[str, float]:
    """CPU seconds to read the whole cache once, and to compress it again as decode does."""
    started = time.process_time()
    for _ in cache.batches(CHUNK_FRAMES):
        pass
    read = time.process_time() - started
    started = time.process_time()
    writer = ChunkWriter(io.BytesIO(), (cache.height, cache.width))
    for _, frames in cache.batches(CHUNK_FRAMES):
        writer.append(frames)
        writer.file.seek(0)  # keep no more than a chunk of output
        writer.file.truncate()
    writer.finish()
    return {"read_cpu_seconds": read,
            "compress_cpu_seconds": time.process_time() - started - read}


def measure(minutes: float = 15, noisy: bool = False, cache: Path = CACHE) -> dict[str, Any]:
    """Per stage {seconds, cpu_seconds, peak_mb, start_mb, children_peak_mb}; the frame
    cache's size and rate, and the CPU its compression and reading take."""
    clip = ensure_clip(minutes, noisy, cache)
    root = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    try:
        session = secrets.token_urlsafe(24)
        ws = Storage(root).create(session)
        os.symlink(clip.resolve(), ws.path(SOURCE))
        stages = {name: _in_child(root, session, name) for name in STAGES}
        size = sum(ws.path(a).stat().st_size for a in (FRAMES, FRAMES_META, FRAME_TIMES))
        seconds = minutes * 60
        return {"minutes": minutes, "noisy": noisy, "video_seconds": seconds,
                "stages": stages, "cache_mb": size / 2**20,
                "cache_mb_per_s": size / 2**20 / seconds,
                "peak_mb": max(s["peak_mb"] + s["children_peak_mb"] for s in stages.values()),
                **codec_seconds(FrameCache.open(ws))}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def report(figures: dict[str, Any]) -> None:
    kind = "noisy " if figures["noisy"] else ""
    print(f"\n{figures['minutes']:g} min 1280x720 30 fps {kind}testsrc2 "
          f"(load average {', '.join(f'{x:.1f}' for x in os.getloadavg())})")
    print(f"  {'stage':8} {'peak RSS':>9} {'ffmpeg':>8} {'imports':>8} {'seconds':>8} "
          f"{'CPU s':>7}")
    for name, s in figures["stages"].items():
        tree = s["peak_mb"] + s["children_peak_mb"]
        mark = "PASS" if tree <= MAX_RSS_MB else "FAIL"
        print(f"  {name:8} {s['peak_mb']:6.0f} MB {s['children_peak_mb']:5.0f} MB "
              f"{s['start_mb']:5.0f} MB {s['seconds']:8.1f} {s['cpu_seconds']:7.1f}   "
              f"own + ffmpeg <= {MAX_RSS_MB:.0f} MB {mark}")
    rate = figures["cache_mb_per_s"]
    mark = "PASS" if rate <= MAX_CACHE_MB_PER_S else "FAIL"
    print(f"  frame cache {figures['cache_mb']:7.1f} MB = {rate:.3f} MB per second of video"
          f"   target <= {MAX_CACHE_MB_PER_S} {mark}")
    per_second = 1000 / figures["video_seconds"]
    decode = figures["stages"]["decode"]["cpu_seconds"]
    print(f"  compressing it {figures['compress_cpu_seconds'] * per_second:.1f} ms CPU per "
          f"second of video ({figures['compress_cpu_seconds'] / decode:.1%} of the decode "
          f"stage's CPU); reading it once {figures['read_cpu_seconds'] * per_second:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[15.0])
    parser.add_argument("--noisy", action="store_true", help="add camera grain")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where clips are kept")
    args = parser.parse_args()
    for minutes in args.minutes:
        report(measure(minutes, args.noisy, args.cache))


if __name__ == "__main__":
    main()
