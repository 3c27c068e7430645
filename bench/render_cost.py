"""Issue-5 figures: what the reel costs against a plain ffmpeg decode of its source.

Generates a 60 s 1280x720 30 fps H.264+AAC clip at 8 Mbit/s (testsrc2 with a frame-number
barcode, a sine tone), then renders a 30 s reel of 5 segments with the real render code,
in process. Interleaved runs (null decode, render, ...), medians quoted, wall and CPU
(user+sys of ffmpeg children, plus this process's own share of the render): other work on
the machine stretches wall times, CPU times much less. Then the reel itself: bit rate
against the source's, frame-exactness (bench/reel_check.py), codec, profile, faststart.

    .venv/bin/python bench/render_cost.py [--runs 3] [--work DIR] [--ssim]
        [--preset veryfast --x264-params mbtree=1:rc-lookahead=10]  # what-ifs
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import av  # noqa: E402

from bench.reel_check import check_reel, top_level_boxes  # noqa: E402
from stages import reel_encoding  # noqa: E402
from stages.ffmpeg import ffmpeg_exe  # noqa: E402
from stages.probe import probe  # noqa: E402
from stages.render import render_reel  # noqa: E402
from tests.groundtruth.framecode import overlay_graph  # noqa: E402

SECONDS, WIDTH, HEIGHT, FPS = 60, 1280, 720, 30
SOURCE_BITRATE = "8M"
# 5 x 6 s, none on a keyframe (x264's default GOP is 250 frames: 8.3 s); two start between
# frame times.
# A tone with a beep each second: a plain tone repeats every 3 ms, and so cannot show how
# far the reel's sound sits from its pictures.
TONE = f"sine=frequency=330:beep_factor=4:sample_rate=48000:duration={SECONDS}"
SEGMENTS = [(3.1, 9.1), (14.51, 20.51), (27.2, 33.2), (38.93, 44.93), (50.3, 56.3)]


def make_clip(directory: Path) -> tuple[Path, dict[str, Any]]:
    """The source clip and the truth bench/reel_check.py reads; reused when already there."""
    clip, truth_path = directory / "render-cost-source.mp4", directory / "render-cost-truth.json"
    code, strip = overlay_graph("main", "coded", WIDTH, HEIGHT, FPS)
    truth = {"frame_ids": list(range(SECONDS * FPS)),
             "frame_times": [n / FPS for n in range(SECONDS * FPS)],
             "strip": strip.to_dict(), "rotation": 0, "has_audio": True, "tone": TONE}
    if not (clip.exists() and truth_path.exists()
            and json.loads(truth_path.read_text()) == truth):
        part = clip.with_suffix(".part.mp4")
        subprocess.run([
            ffmpeg_exe(), "-v", "error", "-y", "-nostdin",
            "-f", "lavfi", "-i", TONE,
            "-filter_complex",
            f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}:duration={SECONDS}[main];{code}",
            "-map", "[coded]", "-map", "0:a", "-c:v", "libx264", "-preset", "veryfast",
            "-b:v", SOURCE_BITRATE, "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
            str(part)], check=True)
        part.replace(clip)
        truth_path.write_text(json.dumps(truth))
    return clip, truth


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU) seconds of ``work``: its ffmpeg children's CPU and this process's own."""
    cpu = _cpu_seconds(resource.RUSAGE_CHILDREN) + _cpu_seconds(resource.RUSAGE_SELF)
    started = time.perf_counter()
    work()
    wall = time.perf_counter() - started
    return wall, _cpu_seconds(resource.RUSAGE_CHILDREN) + _cpu_seconds(resource.RUSAGE_SELF) - cpu


def null_decode(clip: Path) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(clip), "-f", "null",
                    "-"], check=True)


def render(clip: Path, reel: Path) -> None:
    render_reel(clip, SEGMENTS, probe(clip), reel, 720, lambda _: None)


def bitrates(path: Path) -> tuple[float, float]:
    """(video stream, whole file) bit rates in Mbit/s."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        seconds = container.duration / 1e6 if container.duration else 0.0
        return (video.bit_rate or 0) / 1e6, path.stat().st_size * 8 / seconds / 1e6


def stream_facts(reel: Path) -> dict[str, Any]:
    with av.open(str(reel)) as container:
        video = container.streams.video[0].codec_context
        audio = container.streams.audio[0].codec_context if container.streams.audio else None
        facts = {"video_codec": video.name, "profile": video.profile,
                 "pix_fmt": video.pix_fmt, "audio_codec": audio.name if audio else None}
    boxes = top_level_boxes(reel.read_bytes())
    return {**facts, "faststart": "moov" in boxes and "mdat" in boxes
            and boxes.index("moov") < boxes.index("mdat")}


def ssim(reel: Path, clip: Path) -> float:
    """SSIM of the reel against the same cuts of the source, decoded the same way."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin"]
    for start, end in SEGMENTS:
        cmd += ["-ss", f"{start:.6f}", "-t", f"{end - start:.6f}", "-i", str(clip)]
    cmd += ["-i", str(reel)]
    # Each cut from its own start, as the render does: an input's video need not start at 0.
    chains = "".join(f"[{i}:v:0]setpts=PTS-STARTPTS[s{i}];" for i in range(len(SEGMENTS)))
    pads = "".join(f"[s{i}]" for i in range(len(SEGMENTS)))
    graph = (f"{chains}{pads}concat=n={len(SEGMENTS)}:v=1:a=0[ref];"
             f"[{len(SEGMENTS)}:v:0]setpts=PTS-STARTPTS[out];[out][ref]ssim")
    err = subprocess.run([*cmd, "-filter_complex", graph, "-f", "null", "-"],
                         capture_output=True, text=True, check=True).stderr
    found = re.search(r"All:([0-9.]+)", err)
    return float(found.group(1)) if found else float("nan")


def measure(runs: int = 3, work: Path | None = None, with_ssim: bool = False) -> dict[str, Any]:
    """The figures as a dict (``make bench`` prints them); ``work`` keeps the clip between
    runs of this function, a temporary directory otherwise."""
    with tempfile.TemporaryDirectory(prefix="render-cost-") as scratch:
        directory = work or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        clip, truth = make_clip(directory)
        reel = directory / "render-cost-reel.mp4"
        null_runs, render_runs = [], []
        for _ in range(runs):  # interleaved, so machine noise hits both alike
            null_runs.append(timed(lambda: null_decode(clip)))
            render_runs.append(timed(lambda: render(clip, reel)))
        return _figures(clip, reel, truth, null_runs, render_runs, with_ssim)


def _figures(clip: Path, reel: Path, truth: dict[str, Any],
             null_runs: list[tuple[float, float]], render_runs: list[tuple[float, float]],
             with_ssim: bool) -> dict[str, Any]:
    base_wall, base_cpu = (statistics.median(r[i] for r in null_runs) for i in (0, 1))
    wall, cpu = (statistics.median(r[i] for r in render_runs) for i in (0, 1))
    source_video, source_file = bitrates(clip)
    reel_video, reel_file = bitrates(reel)
    report = check_reel(reel, clip, truth, SEGMENTS)
    figures: dict[str, Any] = {
        "runs": len(null_runs),
        "baseline_wall_s": round(base_wall, 2), "baseline_cpu_s": round(base_cpu, 2),
        "render_wall_s": round(wall, 2), "render_cpu_s": round(cpu, 2),
        "wall_ratio": round(wall / base_wall, 2), "cpu_ratio": round(cpu / base_cpu, 2),
        "source_video_mbps": round(source_video, 2), "source_file_mbps": round(source_file, 2),
        "reel_video_mbps": round(reel_video, 2), "reel_file_mbps": round(reel_file, 2),
        "reel_seconds": round(sum(end - start for start, end in SEGMENTS), 2),
        "segments_exact": f"{report.exact}/{report.segments}",
        "audio_offsets_ms": [round(o, 1) for o in report.offsets_ms],
        "clean_decode": report.clean_decode, "streams_ok": report.streams_ok,
        "problems": report.problems, **stream_facts(reel),
        "load_average": [round(x, 1) for x in os.getloadavg()],
    }
    if with_ssim:
        figures["ssim"] = ssim(reel, clip)
    return figures


def print_figures(figures: dict[str, Any]) -> None:
    f = figures
    print(f"source: {SECONDS} s {WIDTH}x{HEIGHT} {FPS} fps H.264 {SOURCE_BITRATE}bit/s + AAC;"
          f" reel: {len(SEGMENTS)} segments, {f['reel_seconds']} s; medians of {f['runs']},"
          f" load average {f['load_average']}")
    print(f"  null decode   wall {f['baseline_wall_s']:6.2f} s   cpu {f['baseline_cpu_s']:6.2f} s")
    print(f"  render        wall {f['render_wall_s']:6.2f} s   cpu {f['render_cpu_s']:6.2f} s")
    print(f"  render/null   wall {f['wall_ratio']:6.2f}x    cpu {f['cpu_ratio']:6.2f}x")
    print(f"  bit rate      reel video {f['reel_video_mbps']} Mbit/s (file {f['reel_file_mbps']})"
          f" vs source video {f['source_video_mbps']} (file {f['source_file_mbps']})")
    print(f"  frame-exact   {f['segments_exact']} segments, audio offsets "
          f"{f['audio_offsets_ms']} ms, clean decode {f['clean_decode']}"
          + (f", problems {f['problems']}" if f["problems"] else ""))
    print(f"  streams       {f['video_codec']} {f['profile']} {f['pix_fmt']} + "
          f"{f['audio_codec']}, faststart {f['faststart']}, ok {f['streams_ok']}"
          + (f"; SSIM vs source {f['ssim']:.4f}" if "ssim" in f else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, help="keep the generated clip here")
    parser.add_argument("--ssim", action="store_true", help="also the reel's SSIM")
    parser.add_argument("--preset", help="what if the reel used this x264 preset")
    parser.add_argument("--x264-params", help="what if the reel used these x264 params")
    args = parser.parse_args()
    reel_encoding.PRESET = args.preset or reel_encoding.PRESET
    reel_encoding.X264_PARAMS = args.x264_params or reel_encoding.X264_PARAMS
    print(f"x264: -preset {reel_encoding.PRESET} -x264-params {reel_encoding.X264_PARAMS}")
    print_figures(measure(args.runs, args.work, args.ssim))


if __name__ == "__main__":
    main()
