"""Scorers, cut detection, the combined highlight score, and the score stage on real clips."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from stages import cuts, decode, score
from stages.audio import AudioEnvelope
from stages.context import NullContext
from stages.errors import MissingInput, StageCancelled
from stages.records.scores import FrameScores
from stages.scorers import SCORERS, FrameBatch, Scorer, make_scorers
from stages.scorers.loudness import LoudnessScorer
from stages.scorers.motion import MotionScorer
from stages.scorers.scene import SceneScorer
from stages.workspace import SCORES, Workspace
from tests.stages.conftest import BURST, CUT_TIMES, CancelAfter, leftovers

WorkspaceFor = Callable[[Path], Workspace]


def _scene_frames(n: int = 40) -> np.ndarray:
    """A textured picture drifting right, with a hard cut to another picture at frame 20."""
    rng = np.random.default_rng(7)
    a, b = rng.integers(0, 120, (48, 96)), rng.integers(100, 256, (48, 96))
    frames = [np.roll(a if i < 20 else b, i, axis=1)[:, :64] for i in range(n)]
    return np.stack(frames).astype(np.uint8)


def _score_in_batches(scorer: Scorer, frames: np.ndarray, size: int) -> np.ndarray:
    out, previous = [], None
    for start in range(0, len(frames), size):
        chunk = frames[start:start + size]
        times = np.arange(start, start + len(chunk)) / 25
        out.append(scorer.score_batch(FrameBatch(chunk, times, previous)))
        previous = chunk[-1]
    return np.concatenate(out)


@pytest.mark.parametrize("name", ["motion", "scene"])
def test_scores_do_not_depend_on_batching(name: str) -> None:
    frames = _scene_frames()
    scorer = SCORERS[name]()
    whole = _score_in_batches(scorer, frames, len(frames))
    assert np.array_equal(whole, _score_in_batches(scorer, frames, 7))
    assert whole[0] == 0 and np.all((whole >= 0) & (whole <= 1))


def test_motion_is_mean_absolute_difference() -> None:
    black, white = np.zeros((1, 4, 4), np.uint8), np.full((1, 4, 4), 255, np.uint8)
    frames = np.concatenate([black, black, white, white[:, :, :] // 2])
    out = MotionScorer().score_batch(FrameBatch(frames, np.arange(4.0), None))
    assert out.tolist() == pytest.approx([0, 0, 1, 128 / 255])


def test_scene_separates_a_cut_from_motion() -> None:
    out = SceneScorer().score_batch(FrameBatch(_scene_frames(), np.arange(40.0), None))
    assert out[20] > 0.3  # the cut
    assert np.delete(out, 20)[1:].max() < 0.05  # drifting texture
    black, white = np.zeros((1, 4, 4), np.uint8), np.full((1, 4, 4), 255, np.uint8)
    assert SceneScorer().score_batch(FrameBatch(white, np.zeros(1), black[0]))[0] == 1.0


def test_scene_change_is_small_for_a_fade_and_large_for_a_mirrored_shot() -> None:
    rng = np.random.default_rng(3)
    ramp = np.linspace(20, 235, 128)[None, :]  # dark on the left, bright on the right
    picture = np.clip(ramp + rng.normal(0, 10, (72, 128)), 0, 255)
    fade = np.stack([picture * (1 - k / 25) for k in range(26)]).astype(np.uint8)
    out = SceneScorer().score_batch(FrameBatch(fade, np.arange(26.0), None))
    assert out[1:].max() < 0.05  # each step of a 1 s fade moves little
    mirrored = np.stack([picture, picture[:, ::-1]]).astype(np.uint8)
    out = SceneScorer().score_batch(FrameBatch(mirrored, np.arange(2.0), None))
    assert out[1] > 0.3  # same gray levels overall, but not region by region


def test_loudness_maps_decibels_and_handles_no_sound() -> None:
    envelope = AudioEnvelope(np.array([-80, -30, 0, 0], np.float32), hop=0.5)
    batch = FrameBatch(np.zeros((3, 2, 2), np.uint8), np.array([0.25, 0.75, 1.25]), None)
    assert LoudnessScorer(envelope).score_batch(batch).tolist() == pytest.approx([0, 0.5, 1])
    assert LoudnessScorer(None).score_batch(batch).tolist() == [0, 0, 0]


def test_registry_builds_scorers_by_name() -> None:
    envelope = AudioEnvelope(np.zeros(4, np.float32), 0.01)
    scorers = make_scorers(["loudness", "motion"], envelope)
    assert [s.name for s in scorers] == ["loudness", "motion"]
    assert scorers[0].audio is envelope  # type: ignore[attr-defined]
    assert set(SCORERS) == {"motion", "scene", "loudness"}
    with pytest.raises(KeyError, match="optical"):
        make_scorers(["optical"], None)


def test_detect_cuts_fires_on_isolated_jumps_only() -> None:
    rate, rng = 25.0, np.random.default_rng(7)
    scene, motion = np.abs(rng.normal(0.01, 0.005, 400)), np.abs(rng.normal(0.01, 0.005, 400))
    scene[100], motion[100] = 0.4, 0.3  # a hard cut
    scene[103], motion[103] = 0.3, 0.2  # its echo, too close to be another cut
    scene[150], motion[150] = 0.03, 0.4  # a mirrored shot: levels alike, pixels not
    # A busy stretch (fast motion, shifting levels) with one real cut inside it.
    motion[200:280], scene[200:280] = rng.uniform(0.15, 0.3, 80), rng.uniform(0.02, 0.06, 80)
    scene[240], motion[240] = 0.5, 0.35
    # A 1 s fade: every frame moves the levels a bit.
    scene[320:345], motion[320:345] = 0.04, 0.03
    assert cuts.detect_cuts(scene, motion, rate).tolist() == [100, 150, 240]
    assert cuts.detect_cuts(np.zeros(50), np.zeros(50), rate).tolist() == []
    assert cuts.detect_cuts(np.ones(1), np.ones(1), rate).tolist() == []


def test_highlight_needs_motion_or_sound_and_ranks_both_highest() -> None:
    rate, n = 10.0, 400
    motion, loud = np.full(n, 0.01), np.full(n, 0.2)
    motion[50:80] = 0.08  # fast motion alone
    loud[150:180] = 0.65  # a loud burst alone (27 dB up)
    motion[250:280], loud[250:280] = 0.08, 0.65  # both
    out = score.combine({"motion": motion, "loudness": loud, "scene": np.ones(n)}, rate)
    assert out.min() >= 0 and out.max() <= 1
    filler = np.r_[out[:40], out[90:140], out[190:240], out[290:]]
    assert filler.max() < 0.1
    assert 0.8 < out[65] < out[265] and 0.8 < out[165] < out[265]
    assert out[265] == pytest.approx(1.0)


def test_combine_without_sound_uses_motion_alone() -> None:
    motion = np.full(100, 0.01)
    motion[40:60] = 0.2
    out = score.combine({"motion": motion, "loudness": np.zeros(100)}, 10.0)
    assert out.max() == pytest.approx(1.0) and out[:30].max() < 1e-9


def test_combine_keeps_steady_activity_low_and_ignores_cut_spikes() -> None:
    rng = np.random.default_rng(1)
    noisy = np.abs(rng.normal(0.01, 0.002, 300))  # grain on a still picture
    assert score.combine({"motion": noisy}, 10.0).max() < 0.2
    steady = np.full(300, 0.3) + rng.normal(0, 0.005, 300)  # a steady tone, +-1 dB
    assert score.combine({"loudness": steady}, 10.0).max() < 0.2
    spiky = np.full(100, 0.01)
    spiky[50] = 0.8  # the frame difference at a cut
    assert score.combine({"motion": spiky}, 10.0, cuts=[50]).max() < 1e-9


def test_score_stage_on_a_burst(burst_video: Path, workspace_for: WorkspaceFor) -> None:
    ws = workspace_for(burst_video)
    decode.run(NullContext(ws))
    ctx = NullContext(ws)
    score.run(ctx)
    s = FrameScores.load(ws)
    assert set(s.components) == {"motion", "scene", "loudness"}
    assert len(s.times) == len(s.highlight) == 250
    inside = (s.times >= BURST[0] + 0.5) & (s.times <= BURST[1] - 0.5)
    outside = (s.times < BURST[0] - 1.5) | (s.times > BURST[1] + 1.5)
    assert s.highlight[inside].min() > 0.7 > 0.1 > s.highlight[outside].max()
    loudness = s.component("loudness")
    assert loudness[inside].mean() > 0.5 > 0.3 > loudness[outside].mean()
    assert s.cuts.tolist() == []  # motion is not a cut
    assert ctx.reported == sorted(ctx.reported) and ctx.reported[-1] == 1.0


def test_score_stage_finds_hard_cuts(cuts_video: Path, workspace_for: WorkspaceFor) -> None:
    ws = workspace_for(cuts_video)
    decode.run(NullContext(ws))
    score.run(NullContext(ws))
    s = FrameScores.load(ws)
    assert s.times[s.cuts].tolist() == pytest.approx(list(CUT_TIMES), abs=0.05)


def test_score_stage_cancels_and_writes_nothing(small_video: Path,
                                                workspace_for: WorkspaceFor,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    ws = workspace_for(small_video)
    decode.run(NullContext(ws))
    monkeypatch.setattr(score, "BATCH", 16)
    ctx = CancelAfter(ws, calls=2)
    with pytest.raises(StageCancelled):
        score.run(ctx)
    assert len(ctx.reported) == 2 and not ws.exists(SCORES) and leftovers(ws) == []


def test_score_stage_needs_the_frame_cache(tmp_path: Path) -> None:
    with pytest.raises(MissingInput):
        score.run(NullContext(Workspace(tmp_path)))
