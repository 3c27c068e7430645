"""The eval's own rules: interval and cut matching, rank agreement, and the frame barcode."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from bench.highlight_metrics import (
    Counts,
    cuts_inside,
    filler_windows,
    kendall_tau_b,
    match_cuts,
    match_intervals,
    pairwise_tau,
    straddled_cuts,
    tiou,
)
from stages.ffmpeg import ffmpeg_exe
from tests.groundtruth.framecode import overlay_graph, read_codes


def test_tiou_and_one_to_one_interval_matching() -> None:
    assert tiou((0, 2), (1, 3)) == pytest.approx(1 / 3)
    assert tiou((0, 1), (2, 3)) == 0
    truth = [(10.0, 14.0), (30.0, 33.0)]
    # One segment covering both highlights matches neither well enough.
    assert match_intervals([(10.0, 33.0)], truth) == Counts(0, 1, 2)
    # Two predictions on one highlight: one matches, the other is extra.
    assert match_intervals([(9.5, 14.5), (10, 13), (29.5, 33.5)], truth) == Counts(2, 1, 0)
    assert Counts(2, 1, 0).recall == 1 and Counts(2, 1, 0).precision == pytest.approx(2 / 3)


def test_cut_matching_within_one_frame_and_one_to_one() -> None:
    assert match_cuts([100, 201, 305], [100, 200, 300]) == Counts(2, 1, 1)
    assert match_cuts([99, 100, 101], [100]) == Counts(1, 2, 0)  # duplicates are false
    assert Counts(9, 1, 1).f1 == pytest.approx(0.9)
    assert cuts_inside([150, 151, 200, 230, 348, 350], 150, 350) == 3


def test_straddles_are_cuts_just_inside_either_end() -> None:
    assert straddled_cuts([(10.0, 15.0)], [10.5, 12.5, 14.9, 16.0], reach=1.0) == 2


def test_rank_agreement() -> None:
    assert pairwise_tau([0.9, 0.8], [0.1, 0.2, 0.3]) == 1
    assert pairwise_tau([0.1], [0.2, 0.0]) == 0
    # tau-b of a binary label cannot reach 1 even for a perfect ranking
    assert kendall_tau_b([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0]) == pytest.approx(np.sqrt(4 / 6))
    assert filler_windows(20, [(5.0, 8.0)], 3.0, 1.0) == [(0.0, 3.0), (9.0, 12.0),
                                                         (12.0, 15.0), (15.0, 18.0)]


@pytest.mark.parametrize(("width", "height"), [(320, 180), (96, 64)])
def test_barcode_names_every_frame(tmp_path: Path, width: int, height: int) -> None:
    graph, strip = overlay_graph("main", "v", width, height, 25)
    out = tmp_path / "coded.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-filter_complex",
                    f"testsrc2=s={width}x{height}:r=25[main];{graph}", "-map", "[v]",
                    "-frames:v", "60", "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p", str(out)], check=True)
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(out), "-vf", "format=gray",
                          "-f", "rawvideo", "-"], capture_output=True, check=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, height, width)
    assert read_codes(frames, strip).tolist() == list(range(60))
