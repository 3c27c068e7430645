"""Workout stage: stabilise the frames, find where and when the subject moves, count the reps.

Rest is every second outside a set; a rep's time is when it is back at the start pose.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from stages.context import StageContext
from stages.framecache import FrameCache
from stages.probe import VideoInfo
from stages.records.scores import FrameScores
from stages.records.workout import WorkoutAnalysis, WorkoutSet
from stages.workout.activity import find_activity
from stages.workout.frames import SpilledFrames
from stages.workout.search import sets_in_spans
from stages.workout.sets import RepSet
from stages.workout.signal import SubjectView
from stages.workout.stabilise import stabilise

BATCH = 256  # cache frames per read: one progress report (and cancel check) each
STABILISE_SHARE = 0.8  # of the stage's progress: reading and stabilising the frames

NO_FRAMES = "no activity: the video is too short to analyse"
NO_MOTION = "no activity: nobody moves enough to be exercising"
NO_REPS = "no periodic motion: no movement is repeated alike at an even pace"


class FrameSource(Protocol):
    """The parts of :class:`stages.framecache.FrameCache` this stage reads."""

    @property
    def count(self) -> int: ...

    @property
    def fps(self) -> float: ...

    @property
    def times(self) -> np.ndarray: ...

    def batches(self, size: int) -> Iterator[tuple[int, np.ndarray]]: ...


def analyze(frames: FrameSource, on_progress: Callable[[float], None],
            cuts: Sequence[int] = (), duration: float | None = None,
            scratch: Path | None = None) -> WorkoutAnalysis:
    """The workout analysis of a frame cache; ``cuts`` are frames that start a new shot;
    ``duration``: the video's (default: up to the end of the last cached frame);
    ``scratch``: where the stabilised frames are kept meanwhile (default: the temp dir)."""
    count, fps = int(frames.count), float(frames.fps)
    times = np.asarray(frames.times, dtype=np.float64)[:count]
    if duration is None:
        duration = float(times[-1] + 1.0 / fps) if count and fps > 0 else 0.0
    if count < 2 or fps <= 0 or len(times) < count:
        return summary([], duration, NO_FRAMES)
    # Memory stays flat however long the video: the stabilised frames go to disk, and each
    # pass below reads them back a chunk at a time.
    with SpilledFrames(scratch) as stable:
        stabilise(frames.batches(BATCH), count, lambda done: on_progress(STABILISE_SHARE * done),
                  cuts, stable.append)
        stable.finish()
        activity = find_activity(stable, fps, cuts)
        on_progress(STABILISE_SHARE)
        if not activity.spans:
            return summary([], duration, NO_MOTION)
        view = SubjectView(stable, activity.weights)
        on_progress(STABILISE_SHARE + 0.05)
        found = sets_in_spans(view, activity.still, activity.spans, fps,
                              lambda done: on_progress(STABILISE_SHARE + 0.05
                                                       + (0.95 - STABILISE_SHARE) * done),
                              activity.reaches)
    sets = [set_entry(times, offset, s) for offset, s in found]
    return summary(sets, duration, None if sets else NO_REPS)


def set_entry(times: np.ndarray, offset: int, found: RepSet) -> WorkoutSet:
    """One set of the analysis; fractional frames become seconds."""
    def at(frame: float) -> float:
        return float(np.interp(offset + frame, np.arange(len(times)), times))

    start, end = at(found.starts[0]), at(found.ends[-1])
    return WorkoutSet(start=round(start, 3), end=round(end, 3), reps=found.reps,
                      rep_times=[round(at(f), 3) for f in found.ends],
                      avg_rep_seconds=round((end - start) / found.reps, 3),
                      confidence=round(found.reported_confidence, 3))


def summary(sets: list[WorkoutSet], duration: float, reason: str | None) -> WorkoutAnalysis:
    active = sum(s.end - s.start for s in sets)
    return WorkoutAnalysis(total_reps=sum(s.reps for s in sets),
                           active_seconds=round(active, 3),
                           rest_seconds=round(max(0.0, duration - active), 3),
                           sets=sets, reason=reason)


def run(ctx: StageContext) -> None:
    """Read the frame cache, the video's duration and the cuts the score stage found, write
    the :class:`WorkoutAnalysis`."""
    ws = ctx.workspace
    cuts = FrameScores.load(ws).cuts
    # Rest counts to the video's end as decode measured it, like the results' duration.
    duration = VideoInfo.load(ws).duration
    frames = FrameCache.open(ws)
    ws.output_dir.mkdir(exist_ok=True)
    analyze(frames, ctx.progress, [int(c) for c in cuts], duration, ws.output_dir).save(ws)
    ctx.progress(1.0)
