"""Memory bounded by a window, not by the video: the score and workout stages over long
synthetic frame sources, and the windowed reads giving exactly what whole arrays gave."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np
import pytest

from stages.framecache import FrameCache, FrameCacheWriter
from stages.score import score_frames
from stages.scorers import DEFAULT_SCORERS, make_scorers
from stages.workout import analyze, signal
from stages.workout.activity import change_threshold, lagged_changes, median_of_counts
from stages.workout.frames import CHUNK, ArrayFrames, SpilledFrames
from stages.workout.signal import SubjectView, blur_stack
from stages.workspace import Workspace

T = TypeVar("T")


class Exercise:
    """A frame source drawn as it is read: a bright block going up and down once every
    ``period`` s for ``active`` s, then still for ``rest`` s, over and over."""

    def __init__(self, cycles: int, fps: float = 10.0, active: float = 30.0,
                 rest: float = 15.0, period: float = 2.0) -> None:
        self.fps, self.cycle = fps, round((active + rest) * fps)
        self.active, self.period = round(active * fps), period * fps
        self.count = cycles * self.cycle
        self.times = np.arange(self.count) / fps
        texture = np.random.default_rng(0).uniform(40, 200, (90, 160)).astype(np.float32)
        self.background = cv2.GaussianBlur(texture, (0, 0), 2).astype(np.uint8)

    def frame(self, i: int) -> np.ndarray:
        out = self.background.copy()
        t = i % self.cycle
        lift = (1 - np.cos(2 * np.pi * t / self.period)) / 2 if t < self.active else 0.0
        top = 30 + round(20 * lift)
        out[top:top + 24, 70:86] = 240
        return out

    def batches(self, size: int) -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, self.count, size):
            yield start, np.stack([self.frame(i)
                                   for i in range(start, min(self.count, start + size))])


def peak_bytes(run: Callable[[], T]) -> tuple[int, T]:
    tracemalloc.start()
    try:
        result = run()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def test_workout_memory_does_not_grow_with_the_video(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # Two chunks of subject pixels kept, of the three and seven the videos have.
    monkeypatch.setattr(signal, "KEPT_CHUNKS", 2)
    peaks = {}
    for cycles in (3, 7):
        source = Exercise(cycles)
        peaks[cycles], result = peak_bytes(lambda s=source: analyze(s, lambda _: None,
                                                                    scratch=tmp_path))
        assert [s.reps for s in result.sets] == [15] * cycles
    frames = Exercise(7).count - Exercise(3).count
    # Holding the stabilised frames would add 3600 bytes a frame, the subject's pixels 1200
    # more; a few floats a frame may grow, and the peak of what a chunk needs jitters.
    assert peaks[7] - peaks[3] < 1000 * frames
    assert list(tmp_path.iterdir()) == []  # the spilled frames are gone


def test_score_memory_does_not_grow_with_the_video(tmp_path: Path) -> None:
    peaks = {}
    for cycles in (1, 4):
        source = Exercise(cycles)
        ws = Workspace(tmp_path / str(cycles))
        with FrameCacheWriter(ws, 90, 160) as writer:
            for _, batch in source.batches(256):
                writer.append(batch)
            writer.close(source.times, source.fps)
        cache = FrameCache.open(ws)
        scorers = make_scorers(DEFAULT_SCORERS, None)
        peaks[cycles], _ = peak_bytes(lambda c=cache, s=scorers: score_frames(c, s,
                                                                              lambda _: None))
    frames = Exercise(4).count - Exercise(1).count
    assert peaks[4] - peaks[1] < 3 * 4 * frames + 100_000  # the three float32 outputs


def test_spilled_frames_read_back_exactly(tmp_path: Path) -> None:
    frames = np.random.default_rng(4).integers(0, 256, (3 * CHUNK + 7, 5, 6), dtype=np.uint8)
    with SpilledFrames(tmp_path) as spilled:
        for start in range(0, len(frames), 300):
            spilled.append(frames[start:start + 300])
        spilled.finish()
        assert (spilled.count, spilled.shape) == (len(frames), (5, 6))
        assert np.array_equal(spilled.read(CHUNK - 5, 2 * CHUNK + 9),
                              frames[CHUNK - 5:2 * CHUNK + 9])
        assert np.array_equal(spilled.read(0, len(frames) + 4), frames)
        with pytest.raises(ValueError):
            spilled.append(frames[:1])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("n", [1, 2, 7, 1000])
def test_the_median_of_a_histogram_is_numpys(n: int) -> None:
    values = np.random.default_rng(n).integers(0, 40, n, dtype=np.uint8)
    assert median_of_counts(np.bincount(values, minlength=256)) == np.median(values)


def test_changes_read_from_disk_are_those_of_the_whole_array(tmp_path: Path) -> None:
    frames = np.random.default_rng(5).integers(0, 256, (2 * CHUNK + 40, 6, 8), dtype=np.uint8)
    whole = frames.reshape(len(frames), -1).astype(np.int16)
    lag, cuts = 6, [CHUNK + 2]
    expected = np.abs(whole - whole[np.maximum(np.arange(len(frames)) - lag, 0)])
    expected[:lag] = 0
    expected[cuts[0]:cuts[0] + lag] = 0
    with SpilledFrames(tmp_path) as spilled:
        spilled.append(frames)
        spilled.finish()
        got = np.concatenate([c for _, c in lagged_changes(spilled, lag, cuts)])
        assert np.array_equal(got, expected)
        sampled = expected[::5, ::7].ravel()
        assert change_threshold(spilled, lag, cuts) == max(12.0, 4 * float(np.median(sampled)))


def test_the_subject_view_keeps_little_and_gives_what_whole_arrays_gave(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(6)
    frames = rng.integers(0, 128, (3 * CHUNK + 11, 12, 16), dtype=np.uint8)
    frames[CHUNK:CHUNK + 100, 2:8, 3:9] += 100  # the far pose
    weights = rng.uniform(0, 1, (12, 16)).astype(np.float32)
    monkeypatch.setattr(signal, "KEPT_CHUNKS", 1)
    view = SubjectView(ArrayFrames(frames), weights)
    values = blur_stack(frames, view.kernel).reshape(len(frames), -1)[:, view.pixels]
    start, end = CHUNK - 30, 3 * CHUNK + 5
    reference, far = np.r_[5:40, 700:720], np.r_[CHUNK + 3:CHUNK + 90]
    pose = np.median(values[reference], axis=0)
    diff = (values[start:end] - pose) * view.weights
    assert np.array_equal(view.distance(start, end, reference),
                          np.sqrt((diff ** 2).sum(axis=1) / len(view.pixels)))
    begin, change = pose, np.median(values[far], axis=0) - pose
    telling = np.argsort(-np.abs(change) * view.weights)[:signal.TELLING_PIXELS]
    telling = telling[np.abs(change[telling]) >= 0.3 * np.abs(change[telling[0]])]
    ratios = (values[start:end, telling] - begin[telling]) / change[telling]
    progress = view.progress(start, end, reference, far)
    assert np.array_equal(progress, np.median(np.clip(ratios, -1.0, 2.0), axis=1))
    assert progress.max() > 0.5  # the far pose is there
    assert view.change(reference, far) == float(np.sqrt(((change * view.weights) ** 2).mean()))
    assert len(view._chunks) == 1
