"""Decode -> score -> select on small generated clips whose cuts and highlights are known
(the generators of the full evaluation, bench/eval_highlights.py, at a small size)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.highlight_metrics import match_cuts, match_intervals, straddled_cuts
from stages import decode, score, select
from stages.context import NullContext
from stages.framecache import FrameCache
from stages.options import AnalysisOptions
from stages.records.scores import FrameScores
from stages.workspace import HIGHLIGHTS, Workspace
from tests.groundtruth.highlights import ClipSpec, generate, load_truth

WorkspaceFor = Callable[[Path], Workspace]

CUTS = ClipSpec("small-cuts", "cuts", 28, 320, 180, 25, seed=31, audio=None, bitrate="600k")
HIGHLIGHTS_CLIP = ClipSpec("small-highlights", "highlights", 40, 320, 180, 25, seed=32,
                           highlights=3, shots=3, bitrate="600k")
VFR = ClipSpec("small-vfr", "highlights", 16, 320, 180, 30, seed=33, audio=None, vfr=True,
               highlights=1, bitrate="400k")


@pytest.fixture(scope="module")
def clips(video_dir: Path) -> dict[str, Path]:
    return {spec.name: generate(spec, video_dir / "groundtruth")
            for spec in (CUTS, HIGHLIGHTS_CLIP, VFR)}


def _analyse(video: Path, workspace_for: WorkspaceFor,
             options: AnalysisOptions) -> tuple[Workspace, FrameScores]:
    ws = workspace_for(video)
    for stage in (decode, score, select):
        stage.run(NullContext(ws, options))
    return ws, FrameScores.load(ws)


def _cut_frames(scores: FrameScores, truth: dict[str, Any]) -> list[int]:
    times = np.asarray(truth["frame_times"])
    return [int(np.argmin(np.abs(times - t))) for t in scores.times[scores.cuts]]


def test_every_hard_cut_and_nothing_in_the_busy_shot_or_the_fade(
        clips: dict[str, Path], workspace_for: WorkspaceFor) -> None:
    video = clips[CUTS.name]
    truth = load_truth(video)
    _, scores = _analyse(video, workspace_for, AnalysisOptions())
    found = _cut_frames(scores, truth)
    assert match_cuts(found, truth["cuts"], tolerance=1).f1 == 1.0, (found, truth["cuts"])
    busy, fade = truth["high_motion"], truth["fades"][0]
    assert busy["end_frame"] - busy["start_frame"] == 8 * CUTS.fps
    assert not [f for f in found if busy["start_frame"] + 1 < f < busy["end_frame"] - 1]
    assert not [f for f in found if fade["start_frame"] - 2 <= f <= fade["end_frame"] + 2]


def test_each_injected_highlight_is_found_once_and_padded(
        clips: dict[str, Path], workspace_for: WorkspaceFor) -> None:
    video = clips[HIGHLIGHTS_CLIP.name]
    truth = load_truth(video)
    options = AnalysisOptions(target_duration=40, max_highlights=10, padding=0.5)
    ws, scores = _analyse(video, workspace_for, options)
    segments = [(s["start"], s["end"]) for s in ws.read_json(HIGHLIGHTS)["segments"]]
    injected = [(h["start"], h["end"]) for h in truth["highlights"]]
    assert {h["kind"] for h in truth["highlights"]} == {"motion", "loud", "both"}
    counts = match_intervals(segments, injected, 0.5)
    assert (counts.fn, counts.fp) == (0, 0), (segments, injected)
    assert straddled_cuts(segments, truth["cut_times"], reach=1.0) == 0
    for start, end in injected:  # the action is not clipped (unless a cut took the padding)
        seg = next(s for s in segments if s[0] < end and start < s[1])
        cut_inside = any(seg[0] <= c <= start for c in truth["cut_times"])
        assert seg[0] <= start - (0 if cut_inside else 0.3) and seg[1] >= end - 0.2


def test_default_options_keep_within_the_budget(clips: dict[str, Path],
                                                workspace_for: WorkspaceFor) -> None:
    options = AnalysisOptions(target_duration=6, max_highlights=2, min_clip=1.5, max_clip=4)
    ws, _ = _analyse(clips[HIGHLIGHTS_CLIP.name], workspace_for, options)
    segments = ws.read_json(HIGHLIGHTS)["segments"]
    assert 1 <= len(segments) <= 2
    assert sum(s["end"] - s["start"] for s in segments) <= 6 + 1e-9
    assert all(1.5 - 1e-9 <= s["end"] - s["start"] <= 4 + 1e-9 for s in segments)


def test_variable_frame_rate_keeps_the_real_frame_times(clips: dict[str, Path],
                                                        workspace_for: WorkspaceFor) -> None:
    video = clips[VFR.name]
    truth = load_truth(video)
    ws, _ = _analyse(video, workspace_for, AnalysisOptions(padding=0.5))
    cache = FrameCache.open(ws)
    assert cache.count == truth["frame_count"] < VFR.frames
    assert np.allclose(cache.times, truth["frame_times"], atol=1e-3)
    for seg in ws.read_json(HIGHLIGHTS)["segments"]:
        assert np.min(np.abs(np.asarray(truth["frame_times"]) - seg["start"])) < 1e-3
