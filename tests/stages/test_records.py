"""Stage records: what a writer saves its reader loads back equal, the files keep their
format, and a record no stage wrote is a MissingInput (or None where absence is normal)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from stages.audio import AudioEnvelope, load_envelope, save_envelope
from stages.errors import MissingInput
from stages.probe import VideoInfo
from stages.records.highlights import Segment, Selection
from stages.records.reel import Reel
from stages.records.scores import FrameScores
from stages.records.workout import WorkoutAnalysis, WorkoutSet
from stages.workspace import (
    AUDIO,
    HIGHLIGHTS,
    PROBE,
    REEL,
    REEL_META,
    SCORES,
    WORKOUT,
    Workspace,
)

INFO = VideoInfo(duration=12.5, fps=29.97, width=720, height=1280, coded_width=1280,
                 coded_height=720, rotation=90, sample_aspect=1.0, has_audio=True,
                 audio_channels=2, audio_rate=48000, video_codec="h264", frame_count=375)
SELECTION = Selection([Segment(1.0, 4.5, 0.8125, 30, 135),
                       Segment(7.25, 9.0, 0.5, 217, 270)])
WORKOUT_ANALYSIS = WorkoutAnalysis(
    total_reps=3, active_seconds=6.0, rest_seconds=6.5,
    sets=[WorkoutSet(start=1.0, end=7.0, reps=3, rep_times=[3.0, 5.0, 7.0],
                     avg_rep_seconds=2.0, confidence=0.9)],
    reason=None)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


def _scores() -> FrameScores:
    rng = np.random.default_rng(0)
    return FrameScores(times=np.arange(50) / 25.0,
                       components={"motion": rng.random(50, dtype=np.float32),
                                   "loudness": rng.random(50, dtype=np.float32)},
                       highlight=rng.random(50, dtype=np.float32),
                       cuts=np.array([12, 40], dtype=np.int64))


def _same_scores(a: FrameScores, b: FrameScores) -> bool:
    arrays = [(a.times, b.times), (a.highlight, b.highlight), (a.cuts, b.cuts),
              *((a.components[k], b.components[k]) for k in a.components)]
    return set(a.components) == set(b.components) and all(
        x.dtype == y.dtype and np.array_equal(x, y) for x, y in arrays)


def test_probe_round_trip_and_format(ws: Workspace) -> None:
    INFO.save(ws)
    assert VideoInfo.load(ws) == INFO
    assert json.loads(ws.path(PROBE).read_text()) == INFO.to_dict()


def test_scores_round_trip_and_format(ws: Workspace) -> None:
    scores = _scores()
    scores.save(ws)
    assert _same_scores(FrameScores.load(ws), scores)
    with np.load(ws.path(SCORES)) as data:
        assert sorted(data.files) == ["cuts", "highlight", "loudness", "motion", "times"]


def test_scores_name_a_scorer_that_did_not_run_empty(ws: Workspace) -> None:
    _scores().save(ws)
    assert len(FrameScores.load(ws).component("scene")) == 0


def test_selection_round_trip_and_format(ws: Workspace) -> None:
    SELECTION.save(ws)
    assert Selection.load(ws) == SELECTION
    assert json.loads(ws.path(HIGHLIGHTS).read_text()) == {
        "segments": [{"start": 1.0, "end": 4.5, "score": 0.8125, "start_frame": 30,
                      "end_frame": 135},
                     {"start": 7.25, "end": 9.0, "score": 0.5, "start_frame": 217,
                      "end_frame": 270}],
        "reason": None}
    Selection([], "nothing happens").save(ws)
    assert Selection.load(ws) == Selection([], "nothing happens")


def test_workout_round_trip_and_format(ws: Workspace) -> None:
    WORKOUT_ANALYSIS.save(ws)
    assert WorkoutAnalysis.load(ws) == WORKOUT_ANALYSIS
    stored = json.loads(ws.path(WORKOUT).read_text())
    assert stored == WORKOUT_ANALYSIS.to_dict()
    assert set(stored) == {"total_reps", "active_seconds", "rest_seconds", "sets", "reason"}


def test_workout_document_passes_through_unchanged(ws: Workspace) -> None:
    # Results embed the document as stored: an integer 0 must not come back as 0.0.
    doc = {"total_reps": 0, "active_seconds": 0, "rest_seconds": 4.0, "sets": [],
           "reason": "no activity"}
    ws.write_json(WORKOUT, doc)
    assert json.dumps(WorkoutAnalysis.load(ws).to_dict(), sort_keys=True) == json.dumps(
        doc, sort_keys=True)


def test_reel_round_trip_needs_the_video_too(ws: Workspace) -> None:
    reel = Reel(duration=10.48, width=1280, height=720)
    reel.save(ws)
    assert Reel.load(ws) is None  # a meta file without its video: an unfinished render
    ws.path(REEL).write_bytes(b"\0")
    assert Reel.load(ws) == reel
    assert json.loads(ws.path(REEL_META).read_text()) == {"duration": 10.48, "width": 1280,
                                                          "height": 720}


def test_envelope_round_trip(ws: Workspace) -> None:
    envelope = AudioEnvelope(np.linspace(-100, 0, 30, dtype=np.float32), 0.01)
    save_envelope(ws, envelope)
    loaded = load_envelope(ws)
    assert loaded is not None and loaded.hop == envelope.hop
    assert loaded.rms_db.dtype == np.float32 and np.array_equal(loaded.rms_db, envelope.rms_db)
    with np.load(ws.path(AUDIO)) as data:
        assert sorted(data.files) == ["hop", "rms_db"]


@pytest.mark.parametrize("load", [VideoInfo.load, FrameScores.load, Selection.load,
                                  WorkoutAnalysis.load],
                         ids=["probe", "scores", "highlights", "workout"])
def test_missing_record_is_missing_input(ws: Workspace,
                                        load: Callable[[Workspace], object]) -> None:
    with pytest.raises(MissingInput):
        load(ws)


@pytest.mark.parametrize("load", [Reel.load, load_envelope], ids=["reel", "envelope"])
def test_optional_record_that_was_not_written_is_none(
        ws: Workspace, load: Callable[[Workspace], object]) -> None:
    assert load(ws) is None
