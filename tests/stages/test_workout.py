"""Workout stage: activity spans, rep counting on generated exercise clips, the WORKOUT file."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from stages import workout
from stages.context import NullContext
from stages.errors import MissingInput, StageCancelled
from stages.ffmpeg import ffmpeg_exe
from stages.framecache import FrameCacheWriter
from stages.workout import analyze, count_reps, segment_activity
from stages.workspace import SCORES, WORKOUT, Workspace
from tests.stages.conftest import CancelAfter, leftovers

FPS = 15
HEIGHT, WIDTH = 96, 160
# ("rest", seconds) or ("reps", count, seconds per rep)
TWO_SETS = [("rest", 1.5), ("reps", 8, 2.0), ("rest", 8.0), ("reps", 6, 1.6), ("rest", 1.5)]


class MemoryFrames:
    """An in-memory stand-in for FrameCache."""

    def __init__(self, frames: np.ndarray, fps: float = FPS) -> None:
        self.frames, self.count, self.fps = frames, len(frames), fps
        self.times = np.arange(len(frames)) / fps

    def batches(self, size: int = 64) -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, self.count, size):
            yield start, self.frames[start:start + size]


def exercise(plan: list[tuple], fps: float = FPS, seed: int = 0) -> tuple[np.ndarray, list[float]]:
    """Frames of a figure doing squat-like reps (pause up, down, hold, up; ±10 % tempo),
    and the true time each rep completes."""
    rng = np.random.default_rng(seed)
    depth: list[float] = []
    completions = []
    for item in plan:
        if item[0] == "rest":
            depth += [0.0] * round(item[1] * fps)
            continue
        for _ in range(item[1]):
            period = item[2] * rng.uniform(0.9, 1.1)
            for share, a, b in ((0.25, 0, 0), (0.3, 0, 1), (0.1, 1, 1), (0.35, 1, 0)):
                depth += list(np.linspace(a, b, max(1, round(share * period * fps))))
            completions.append(len(depth) / fps)
    frames = np.empty((len(depth), HEIGHT, WIDTH), np.uint8)
    for i, d in enumerate(depth):
        img = np.full((HEIGHT, WIDTH), 60.0) + np.linspace(0, 30, WIDTH)  # lit from one side
        top = int(15 + 35 * d)
        img[top:top + 12, 70:82] = 220  # head
        img[top + 12:top + 45 - int(20 * d), 66:86] = 150  # torso, shorter when down
        img[70:88, 68:73] = img[70:88, 79:84] = 120  # legs
        frames[i] = np.clip(img + rng.normal(0, 1.5, img.shape), 0, 255)
    return frames, completions


def motion_of(frames: np.ndarray) -> np.ndarray:
    """The score stage's motion: mean absolute difference to the previous frame, /255."""
    motion = np.zeros(len(frames))
    if len(frames) > 1:
        motion[1:] = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2)) / 255
    return motion


def analyze_frames(frames: np.ndarray) -> dict:
    return analyze(MemoryFrames(frames), motion_of(frames), lambda _: None)


@pytest.fixture(scope="module")
def two_sets() -> tuple[np.ndarray, list[float]]:
    return exercise(TWO_SETS)


def test_counts_reps_of_two_sets_and_the_rest_between(
        two_sets: tuple[np.ndarray, list[float]]) -> None:
    frames, completions = two_sets
    result = analyze_frames(frames)
    assert result["reason"] is None
    assert result["total_reps"] == 14
    assert [s["reps"] for s in result["sets"]] == [8, 6]
    first, second = result["sets"]
    assert first["start"] == pytest.approx(1.5, abs=1.0)
    assert first["end"] == pytest.approx(completions[7], abs=1.0)
    assert second["start"] == pytest.approx(completions[7] + 8.0, abs=1.0)
    assert second["end"] == pytest.approx(completions[-1], abs=1.0)
    assert result["rest_seconds"] == pytest.approx(11.0, abs=2.0)
    assert result["active_seconds"] + result["rest_seconds"] == pytest.approx(len(frames) / FPS,
                                                                               abs=0.01)
    assert first["avg_rep_seconds"] == pytest.approx(2.0, rel=0.15)
    assert second["avg_rep_seconds"] == pytest.approx(1.6, rel=0.15)


def test_rep_times_are_when_each_rep_completes(two_sets: tuple[np.ndarray, list[float]]) -> None:
    frames, completions = two_sets
    result = analyze_frames(frames)
    found = [t for s in result["sets"] for t in s["rep_times"]]
    assert found == sorted(found)
    assert np.abs(np.array(found) - np.array(completions)).max() < 0.6
    for s in result["sets"]:
        assert len(s["rep_times"]) == s["reps"]
        assert s["start"] <= s["rep_times"][0] and s["rep_times"][-1] <= s["end"] + 0.01
        assert 0.5 < s["confidence"] <= 1.0


def encode_and_decode(frames: np.ndarray, path: Path) -> np.ndarray:
    """Round-trip through H.264 so the counter sees real compression artefacts."""
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "gray",
                    "-s", f"{WIDTH}x{HEIGHT}", "-r", str(FPS), "-i", "-", "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
                   input=frames.tobytes(), check=True)
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="gray") for f in container.decode(video=0)])


def write_inputs(ws: Workspace, frames: np.ndarray) -> None:
    """The frame cache and SCORES the decode and score stages would have written."""
    times = np.arange(len(frames)) / FPS
    with FrameCacheWriter(ws, HEIGHT, WIDTH) as writer:
        writer.append(frames)
        writer.close(times, FPS)
    np.savez(ws.path(SCORES), times=times, motion=motion_of(frames))


def test_run_counts_reps_in_a_compressed_video(tmp_path: Path) -> None:
    plan = [("rest", 1.0), ("reps", 5, 1.5), ("rest", 5.0), ("reps", 4, 2.0), ("rest", 1.0)]
    frames, _ = exercise(plan, seed=3)
    ws = Workspace(tmp_path)
    write_inputs(ws, encode_and_decode(frames, tmp_path / "clip.mp4"))
    ctx = NullContext(ws)
    workout.run(ctx)
    result = ws.read_json(WORKOUT)
    assert set(result) == {"total_reps", "active_seconds", "rest_seconds", "sets", "reason"}
    assert set(result["sets"][0]) == {"start", "end", "reps", "rep_times", "avg_rep_seconds",
                                      "confidence"}
    assert [s["reps"] for s in result["sets"]] == [5, 4]
    assert result["total_reps"] == 9
    assert ctx.reported and ctx.reported[-1] == 1.0
    assert all(0.0 <= f <= 1.0 for f in ctx.reported)


def test_a_still_scene_has_no_reps_and_says_why() -> None:
    frames, _ = exercise([("rest", 12.0)])
    result = analyze_frames(frames)
    assert result["total_reps"] == 0 and result["sets"] == []
    assert isinstance(result["reason"], str) and result["reason"]
    assert result["rest_seconds"] == pytest.approx(12.0, abs=0.1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wandering_motion_is_not_counted_as_reps(seed: int) -> None:
    # A block that jumps somewhere new after a random 0.3-2 s: plenty of motion, no rhythm.
    rng = np.random.default_rng(seed)
    frames: list[np.ndarray] = []
    while len(frames) < 20 * FPS:
        img = np.full((HEIGHT, WIDTH), 40.0)
        y, x = int(rng.uniform(0, HEIGHT - 20)), int(rng.uniform(0, WIDTH - 20))
        img[y:y + 20, x:x + 20] = 200
        frames += [np.clip(img + rng.normal(0, 1.5, img.shape), 0, 255).astype(np.uint8)
                   for _ in range(round(rng.uniform(0.3, 2.0) * FPS))]
    result = analyze_frames(np.stack(frames))
    assert result["total_reps"] == 0 and result["sets"] == []
    assert result["reason"]


def test_segment_activity_merges_short_pauses_and_drops_short_bursts() -> None:
    fps = 10
    rng = np.random.default_rng(0)
    motion = 0.001 + 0.0005 * rng.random(40 * fps)
    for start, end in ((2.0, 8.0), (8.8, 12.0), (20.0, 21.5), (25.0, 31.0)):
        motion[round(start * fps):round(end * fps)] += 0.02
    spans = [(s / fps, e / fps) for s, e in segment_activity(motion, fps)]
    assert len(spans) == 2  # the 0.8 s pause is merged, the 1.5 s burst dropped
    truth = ((2.0, 12.0), (25.0, 31.0))
    for (start, end), (true_start, true_end) in zip(spans, truth, strict=True):
        assert start == pytest.approx(true_start, abs=0.7)
        assert end == pytest.approx(true_end, abs=0.7)


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["start-pose-low", "start-pose-high"])
def test_count_reps_counts_each_cycle_once(sign: float) -> None:
    fps, period, cycles = 20, 1.5, 7
    rest = np.zeros(fps)
    t = np.arange(round(cycles * period * fps)) / fps
    signal = sign * np.concatenate([rest, (1 - np.cos(2 * np.pi * t / period)) / 2, rest])
    reps = count_reps(signal, fps, lead=fps, tail=fps)
    assert reps.reps == cycles
    assert reps.period == pytest.approx(period, rel=0.05)
    # Each rep completes back at the start pose, i.e. at the end of a cycle.
    assert np.abs(reps.completions / fps - period * np.arange(1, cycles + 1)).max() < 0.15


@pytest.mark.parametrize("count", [0, 1, 40], ids=["empty", "one-frame", "still"])
def test_degenerate_caches_never_raise(count: int) -> None:
    frames = np.full((count, HEIGHT, WIDTH), 90, np.uint8)
    result = analyze_frames(frames)
    assert result["total_reps"] == 0 and result["sets"] == [] and result["reason"]


def test_nan_motion_is_treated_as_still(two_sets: tuple[np.ndarray, list[float]]) -> None:
    frames, _ = two_sets
    result = analyze(MemoryFrames(frames), np.full(len(frames), np.nan), lambda _: None)
    assert result["total_reps"] == 0 and result["reason"]


def test_cancellation_stops_the_stage_without_output(
        tmp_path: Path, two_sets: tuple[np.ndarray, list[float]]) -> None:
    ws = Workspace(tmp_path)
    write_inputs(ws, two_sets[0])
    with pytest.raises(StageCancelled):
        workout.run(CancelAfter(ws, 2))
    assert not ws.exists(WORKOUT) and leftovers(ws) == []


def test_missing_scores_is_a_missing_input(tmp_path: Path) -> None:
    with pytest.raises(MissingInput):
        workout.run(NullContext(Workspace(tmp_path)))
