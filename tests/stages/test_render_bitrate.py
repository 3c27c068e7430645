"""Render stage, bit rate: a reel is never heavier than its source, and stays frame-exact."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from stages import render
from stages.ffmpeg import ffmpeg_exe
from stages.probe import VideoInfo, probe
from stages.reel_encoding import VBV_INIT, VBV_SECONDS, bitrate_cap, vbv_maxrate
from stages.render import render_reel
from tests.groundtruth.framecode import Strip, overlay_graph, read_codes

FPS, SECONDS = 25, 6
LAYOUTS = {  # starts on frame times and between them; one short, one long reel
    "three-cuts": [(0.5, 1.5), (3.04, 4.0), (2.0, 2.52)],
    "whole-clip": [(0.0, 6.0)],
    "one-short": [(1.0, 1.6)],
}


@pytest.fixture(scope="module")
def coded_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Strip]:
    """6 s of 320x240 testsrc2 at only 150 kbit/s (x264 at crf 23 wants several times
    that), each frame's number burnt in as a barcode; AAC sound."""
    path = tmp_path_factory.mktemp("bitrate") / "lean.mp4"
    code, strip = overlay_graph("main", "coded", 320, 240, FPS)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-nostdin",
                    "-f", "lavfi", "-i", f"sine=sample_rate=48000:duration={SECONDS}",
                    "-filter_complex",
                    f"testsrc2=size=320x240:rate={FPS}:duration={SECONDS}[main];{code}",
                    "-map", "[coded]", "-map", "0:a", "-c:v", "libx264", "-preset", "ultrafast",
                    "-b:v", "150k", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
                    str(path)], check=True)
    return path, strip


def video_bitrate(path: Path) -> int:
    with av.open(str(path)) as container:
        return int(container.streams.video[0].bit_rate)


def reel_codes(path: Path, strip: Strip) -> list[int]:
    """The source frame number each reel frame shows."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="gray") for f in container.decode(video=0)]
    return [int(c) for c in read_codes(np.stack(frames), strip)]


def expected_codes(segments: Sequence[tuple[float, float]]) -> list[int]:
    """Frames whose time lies in [start, end), segment after segment."""
    eps = 1e-6
    return [n for start, end in segments for n in range(SECONDS * FPS)
            if start - eps <= n / FPS < end - eps]


def make_reel(tmp_path: Path, source: Path, segments: Sequence[tuple[float, float]],
              info: VideoInfo | None = None) -> Path:
    out = tmp_path / "reel.mp4"
    render_reel(source, segments, info or probe(source), out, 720, lambda _: None)
    return out


@pytest.mark.parametrize("layout", LAYOUTS, ids=list(LAYOUTS))
def test_reel_is_not_above_the_source_bitrate_and_is_frame_exact(
        tmp_path: Path, coded_clip: tuple[Path, Strip], layout: str) -> None:
    source, strip = coded_clip
    out = make_reel(tmp_path, source, LAYOUTS[layout])
    assert video_bitrate(out) <= video_bitrate(source)
    assert reel_codes(out, strip) == expected_codes(LAYOUTS[layout])


def test_without_the_cap_this_reel_would_be_above_its_source(
        tmp_path: Path, coded_clip: tuple[Path, Strip], monkeypatch: pytest.MonkeyPatch) -> None:
    """The test above means something: its source is leaner than crf 23 alone gives."""
    source, _ = coded_clip
    capped = render.video_codec_args

    def uncapped(size: tuple[int, int], source_bps: int, seconds: float) -> list[str]:
        args = capped(size, source_bps, seconds)
        for option in ("-maxrate", "-bufsize"):
            at = args.index(option)
            del args[at:at + 2]
        return args

    monkeypatch.setattr(render, "video_codec_args", uncapped)
    out = make_reel(tmp_path, source, LAYOUTS["whole-clip"])
    assert video_bitrate(out) > 1.5 * video_bitrate(source)


def test_a_probe_record_without_the_bitrate_still_caps_by_the_file(
        tmp_path: Path, coded_clip: tuple[Path, Strip]) -> None:
    """Records written before VideoInfo held the bit rate load with 0: render reads the file."""
    source, _ = coded_clip
    old = replace(probe(source), video_bitrate=0)
    out = make_reel(tmp_path, source, LAYOUTS["whole-clip"], old)
    assert video_bitrate(out) <= video_bitrate(source)


@pytest.mark.parametrize(("size", "source_bps", "cap"), [
    ((1280, 720), 8_000_000, 5_000_000),
    ((1280, 720), 3_000_000, 3_000_000),
    ((1280, 720), 0, 5_000_000),
    ((1920, 1080), 20_000_000, 11_250_000),
    ((640, 360), 0, 1_250_000),
], ids=["720p-rich-source", "720p-lean-source", "unknown-source", "1080p", "360p"])
def test_bitrate_cap(size: tuple[int, int], source_bps: int, cap: int) -> None:
    assert bitrate_cap(size, source_bps) == cap


@pytest.mark.parametrize("seconds", [0.5, 3.0, 30.0, 600.0])
def test_rate_limit_leaves_room_for_the_full_starting_buffer(seconds: float) -> None:
    maxrate = vbv_maxrate(2_000_000, seconds)
    # The most x264 may spend: the limit over the reel plus the buffer it starts with.
    spendable = maxrate * (seconds + VBV_INIT * VBV_SECONDS)
    assert spendable == pytest.approx(2_000_000 * seconds, abs=seconds + 1)  # rounding
