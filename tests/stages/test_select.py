"""Highlight selection on synthetic scores, and end to end on a clip with a known burst."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from stages import decode, score, select
from stages.context import NullContext
from stages.errors import MissingInput
from stages.options import AnalysisOptions
from stages.select import Selection, select_highlights
from stages.workspace import HIGHLIGHTS, Workspace
from tests.stages.conftest import BURST

RATE = 10.0  # analysis frames per second in the synthetic scores
FPS = 30.0  # source frame rate


def _timeline(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * RATE)) / RATE


def _bumps(seconds: float, *bumps: tuple[float, float, float], base: float = 0.05) -> np.ndarray:
    """A low score with plateaus (start s, end s, height)."""
    t = _timeline(seconds)
    s = np.full(len(t), base)
    for start, end, height in bumps:
        s[(t >= start) & (t < end)] = height
    return s


def _select(score_: np.ndarray, seconds: float, cuts: list[int] | None = None,
            **options: float) -> Selection:
    return select_highlights(_timeline(seconds), score_, np.array(cuts or [], dtype=np.int64),
                             seconds, FPS, AnalysisOptions(**options))  # type: ignore[arg-type]


def _check_invariants(sel: Selection, duration: float) -> None:
    segs = sel.segments
    assert [s.start for s in segs] == sorted(s.start for s in segs)
    for s in segs:
        assert 0 <= s.start < s.end <= duration
        assert 0 <= s.score <= 1
        assert s.start == s.start_frame / FPS and s.end == pytest.approx(s.end_frame / FPS)
    for a, b in zip(segs, segs[1:], strict=False):
        assert a.end_frame <= b.start_frame


def test_one_burst_gives_one_padded_segment() -> None:
    sel = _select(_bumps(60, (20, 24, 0.9)), 60, padding=0.5)
    _check_invariants(sel, 60)
    assert sel.reason is None and len(sel.segments) == 1
    seg = sel.segments[0]
    assert seg.start == pytest.approx(19.5, abs=0.15) and seg.end == pytest.approx(24.5, abs=0.15)
    assert seg.score > 0.6


@pytest.mark.parametrize("padding", [0.0, 1.5])
def test_padding_is_added_around_the_action(padding: float) -> None:
    sel = _select(_bumps(60, (30, 34, 0.9)), 60, padding=padding, min_clip=1.0)
    seg = sel.segments[0]
    assert seg.start == pytest.approx(30 - padding, abs=0.15)
    assert seg.end == pytest.approx(34 + padding, abs=0.15)


def test_clip_length_limits() -> None:
    short = _select(_bumps(60, (30, 30.3, 0.9)), 60, min_clip=3.0, padding=0.0)
    assert short.segments[0].end - short.segments[0].start == pytest.approx(3.0)
    assert short.segments[0].start <= 30 and short.segments[0].end >= 30.3
    long = _select(_bumps(60, (10, 40, 0.9)), 60, max_clip=6.0)
    assert all(s.end - s.start <= 6.0 + 1e-9 for s in long.segments)


def test_max_highlights_keeps_the_best_peaks() -> None:
    heights = [0.5, 0.9, 0.6, 0.95, 0.55, 0.85, 0.7, 0.65]
    bumps = [(5 + 10 * i, 7 + 10 * i, h) for i, h in enumerate(heights)]
    sel = _select(_bumps(90, *bumps), 90, max_highlights=3, target_duration=60)
    _check_invariants(sel, 90)
    assert [round((s.start + s.end) / 2) for s in sel.segments] == [16, 36, 56]


def test_total_never_exceeds_the_target() -> None:
    bumps = [(5 + 10 * i, 9 + 10 * i, 0.9 - 0.01 * i) for i in range(8)]
    sel = _select(_bumps(90, *bumps), 90, target_duration=12, max_highlights=10)
    _check_invariants(sel, 90)
    total = sum(s.end - s.start for s in sel.segments)
    assert total <= 12 + 1e-9
    assert total >= 12 - 2.0  # filled up to less than one minimum clip
    assert len(sel.segments) >= 2
    assert min(s.score for s in sel.segments) > 0.6  # a trimmed clip keeps its action


def test_close_peaks_are_merged_not_chopped() -> None:
    sel = _select(_bumps(60, (20, 21.5, 0.9), (22.5, 24, 0.85)), 60, padding=0.5)
    assert len(sel.segments) == 1
    seg = sel.segments[0]
    assert seg.start <= 20 and seg.end >= 24


def test_far_peaks_stay_separate() -> None:
    sel = _select(_bumps(60, (10, 12, 0.9), (40, 42, 0.85)), 60)
    assert len(sel.segments) == 2


def test_edge_snaps_to_a_cut_just_inside() -> None:
    # Action 20-24 s; padding would start the clip at 19 s, but a new shot starts at 19.5 s.
    cut = int(19.5 * RATE)
    sel = _select(_bumps(60, (20, 24, 0.9)), 60, cuts=[cut], padding=1.0)
    assert sel.segments[0].start == pytest.approx(19.5)
    # A cut right after the action: the clip ends with its shot.
    sel = _select(_bumps(60, (20, 24, 0.9)), 60, cuts=[int(24.4 * RATE)], padding=1.0)
    assert sel.segments[0].end == pytest.approx(24.4)
    # A cut in the middle is left alone.
    sel = _select(_bumps(60, (20, 24, 0.9)), 60, cuts=[220], padding=1.0)
    assert sel.segments[0].start == pytest.approx(19.0)


def test_flat_activity_gives_the_single_best_window() -> None:
    flat = np.full(600, 0.5)
    flat[300:400] = 0.55  # slightly busier, not a real peak
    sel = _select(flat, 60, max_clip=8.0)
    assert sel.reason is None and len(sel.segments) == 1
    seg = sel.segments[0]
    assert seg.end - seg.start == pytest.approx(8.0)
    assert 30 <= seg.start and seg.end <= 40


def test_nothing_happening_gives_a_reason() -> None:
    sel = _select(np.zeros(600), 60)
    assert sel.segments == [] and sel.reason and "Nothing moves" in sel.reason


@pytest.mark.parametrize("bad", ["empty", "nan", "mismatch", "zero-duration"])
def test_degenerate_input_never_raises(bad: str) -> None:
    t, s, d = _timeline(10), np.full(100, 0.5), 10.0
    if bad == "empty":
        t, s = t[:0], s[:0]
    elif bad == "nan":
        s[::3] = np.nan
    elif bad == "mismatch":
        s = s[:50]
    else:
        d = 0.0
    sel = select_highlights(t, s, np.array([], np.int64), d, FPS, AnalysisOptions())
    assert sel.segments or sel.reason


def test_video_shorter_than_a_clip() -> None:
    sel = _select(_bumps(1.5, (0.5, 1.0, 0.9)), 1.5, min_clip=2.0)
    assert [(s.start, s.end) for s in sel.segments] == [(0.0, 1.5)]


def test_peak_at_the_very_end_stays_inside_the_video() -> None:
    sel = _select(_bumps(20, (19, 20, 0.9)), 20, padding=1.0)
    _check_invariants(sel, 20)
    assert sel.segments[-1].end == 20.0


def test_deterministic() -> None:
    s = _bumps(60, (10, 12, 0.8), (30, 32, 0.8), (50, 52, 0.8))  # equal peaks
    first = _select(s, 60, max_highlights=1)
    assert first == _select(s, 60, max_highlights=1)
    assert first.segments[0].start < 12  # ties go to the earliest


def test_a_cut_inside_the_padding_moves_the_edge_and_the_clip_keeps_its_length() -> None:
    # Action 20-21 s, min clip 3 s: the padded, widened clip would show the end of the
    # shot before the cut at 19.6 s; it starts at the cut and grows at its end instead.
    sel = _select(_bumps(60, (20, 21, 0.9)), 60, cuts=[int(19.6 * RATE)], padding=0.5,
                  min_clip=3.0)
    seg = sel.segments[0]
    assert seg.start == pytest.approx(19.6)
    assert seg.end - seg.start == pytest.approx(3.0)


def test_a_clip_never_ends_with_a_sliver_of_the_next_shot() -> None:
    cuts = [int(24.3 * RATE), int(40.8 * RATE)]
    sel = _select(_bumps(60, (20, 24, 0.9), (38, 40.5, 0.8)), 60, cuts=cuts, padding=0.5)
    _check_invariants(sel, 60)
    for seg in sel.segments:
        for cut in (24.3, 40.8):
            assert not (seg.start < cut < seg.end and min(cut - seg.start, seg.end - cut) < 1)


def test_still_video_gives_a_reason_even_when_its_noise_scores() -> None:
    sel = select_highlights(_timeline(30), _bumps(30, (10, 12, 0.9)), np.array([], np.int64),
                            30, FPS, AnalysisOptions(), still=True)
    assert sel.segments == [] and sel.reason == select.NOTHING_HAPPENS


@pytest.mark.parametrize("bad", [{"target_duration": 0}, {"max_highlights": 0},
                                 {"target_duration": -5}, {"target_duration": float("nan")},
                                 {"max_highlights": -1}],
                         ids=["zero-duration", "zero-count", "negative", "nan", "negative-count"])
def test_nothing_asked_for_gives_a_reason(bad: dict[str, float]) -> None:
    sel = _select(_bumps(60, (20, 24, 0.9)), 60, **bad)
    assert sel.segments == [] and sel.reason == select.NOTHING_ASKED


@pytest.mark.parametrize("target", [1.0, 5.0, 30.0, 1e9, float("inf")])
@pytest.mark.parametrize("count", [1, 3, 50])
@pytest.mark.parametrize(("min_clip", "max_clip", "padding"),
                         [(2.0, 10.0, 0.5), (0.0, 0.0, 0.0), (8.0, 3.0, 2.0), (-1.0, 1e6, -3.0),
                          (float("inf"), float("nan"), float("inf"))],
                         ids=["defaults", "zeros", "min-over-max", "negative-huge", "inf-nan"])
def test_any_steering_gives_valid_segments_within_the_limits(
        target: float, count: int, min_clip: float, max_clip: float, padding: float) -> None:
    score_ = _bumps(90, (5, 7, 0.9), (20, 26, 0.7), (27, 29, 0.95), (50, 58, 0.8),
                    (70, 71, 0.85))
    sel = _select(score_, 90, cuts=[150, 495], target_duration=target, max_highlights=count,
                  min_clip=min_clip, max_clip=max_clip, padding=padding)
    _check_invariants(sel, 90)
    assert sel.segments and sel.reason is None
    assert len(sel.segments) <= count
    assert sum(s.end - s.start for s in sel.segments) <= min(target, 90) + 1e-9
    longest = max(min_clip, max_clip) if np.isfinite(max_clip) else 90
    assert all(s.end - s.start <= max(longest, 1 / FPS) + 1e-9 for s in sel.segments)


def test_max_clip_trims_long_action_around_its_middle() -> None:
    sel = _select(_bumps(60, (10, 30, 0.9)), 60, max_clip=6.0, padding=0.5)
    seg = sel.segments[0]
    assert seg.end - seg.start == pytest.approx(6.0)
    assert seg.start == pytest.approx(17.0, abs=0.2)


def test_variable_frame_rate_cuts_on_analysed_frames() -> None:
    # 30 fps for 10 s, then 15 fps: the average rate (22.5) is nobody's frame grid.
    times = np.concatenate([np.arange(300) / 30, 10 + np.arange(150) / 15])
    level = np.where((times >= 13) & (times < 16), 0.9, 0.05)
    sel = select_highlights(times, level, np.array([], np.int64), 20.0, 22.5,
                            AnalysisOptions(padding=0.5))
    seg = sel.segments[0]
    assert seg.start in times and seg.start == pytest.approx(12.5, abs=0.07)
    assert seg.end in times and seg.end == pytest.approx(16.5, abs=0.07)


def test_run_writes_highlights_for_a_burst(burst_video: Path,
                                          workspace_for: Callable[[Path], Workspace]) -> None:
    ws = workspace_for(burst_video)
    for stage in (decode, score, select):
        stage.run(NullContext(ws))
    result = ws.read_json(HIGHLIGHTS)
    assert result["reason"] is None and len(result["segments"]) == 1
    seg = result["segments"][0]
    assert set(seg) == {"start", "end", "score", "start_frame", "end_frame"}
    assert seg["start"] <= BURST[0] and seg["end"] >= BURST[1]
    assert seg["end"] - seg["start"] <= BURST[1] - BURST[0] + 2.5


def test_run_on_a_still_silent_clip_says_why_there_is_nothing(
        video_factory: Callable[..., Path], workspace_for: Callable[[Path], Workspace]) -> None:
    ws = workspace_for(video_factory("still", source="color", audio=False, seconds=3))
    for stage in (decode, score, select):
        stage.run(NullContext(ws))
    assert ws.read_json(HIGHLIGHTS) == {"segments": [], "reason": select.NOTHING_HAPPENS}


def test_run_on_a_steady_clip_gives_one_short_window(
        video_factory: Callable[..., Path], workspace_for: Callable[[Path], Workspace]) -> None:
    # testsrc2 changes the same way all along, with a steady tone: no moment stands out.
    ws = workspace_for(video_factory("steady", seconds=12))
    for stage in (decode, score, select):
        stage.run(NullContext(ws, AnalysisOptions(max_clip=5.0)))
    result = ws.read_json(HIGHLIGHTS)
    assert result["reason"] is None and len(result["segments"]) == 1
    assert result["segments"][0]["end"] - result["segments"][0]["start"] == pytest.approx(5.0)


def test_run_needs_scores(tmp_path: Path) -> None:
    with pytest.raises(MissingInput):
        select.run(NullContext(Workspace(tmp_path)))
