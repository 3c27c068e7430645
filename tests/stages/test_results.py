"""Results assembly: the API's results body from the stage outputs, per kind of analysis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stages.errors import MissingInput
from stages.options import AnalysisOptions
from stages.probe import VideoInfo
from stages.records.highlights import Segment, Selection
from stages.results import assemble
from stages.workspace import HIGHLIGHTS, PROBE, REEL, REEL_META, WORKOUT, Workspace

INFO = VideoInfo(duration=61.23456, fps=29.97002997, width=1280, height=720, coded_width=1280,
                 coded_height=720, rotation=0, sample_aspect=1.0, has_audio=True,
                 audio_channels=2, audio_rate=48000, video_codec="h264", frame_count=1835)
WORKOUT_DOC = {"total_reps": 3, "active_seconds": 6.0, "rest_seconds": 55.2,
               "sets": [{"start": 1.0, "end": 7.0, "reps": 3, "rep_times": [3.0, 5.0, 7.0],
                         "avg_rep_seconds": 2.0, "confidence": 0.9}],
               "reason": None}


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """Every stage output present, as after an "all" analysis with a reel."""
    ws = Workspace(tmp_path)
    ws.write_json(PROBE, INFO.to_dict())
    ws.write_json(HIGHLIGHTS, {"segments": [
        {"start": 40.00004, "end": 45.5, "score": 0.61234, "start_frame": 1199,
         "end_frame": 1364},
        {"start": 12.0, "end": 17.4999, "score": 0.9123456, "start_frame": 360,
         "end_frame": 525},
    ], "reason": None})
    ws.path(REEL).write_bytes(b"\0")
    ws.write_json(REEL_META, {"duration": 10.99999, "width": 1280, "height": 720})
    ws.write_json(WORKOUT, WORKOUT_DOC)
    return ws


def test_highlights_body(ws: Workspace) -> None:
    body = assemble(ws, AnalysisOptions(analysis="highlights"))
    assert body == {
        "schema_version": 1,
        "analysis": "highlights",
        "video": {"duration": 61.235, "fps": 29.97, "width": 1280, "height": 720,
                  "has_audio": True},
        "highlights": [{"start": 12.0, "end": 17.5, "score": 0.912},
                       {"start": 40.0, "end": 45.5, "score": 0.612}],
        "highlights_reason": None,
        "reel": {"duration": 11.0, "width": 1280, "height": 720},
        "workout": None,
    }


def test_workout_body_has_no_highlights_or_reel(ws: Workspace) -> None:
    body = assemble(ws, AnalysisOptions(analysis="workout"))
    assert body["highlights"] == [] and body["reel"] is None
    assert body["workout"] == WORKOUT_DOC


def test_all_body_has_both(ws: Workspace) -> None:
    body = assemble(ws, AnalysisOptions(analysis="all"))
    assert len(body["highlights"]) == 2 and body["reel"] is not None
    assert body["workout"] == WORKOUT_DOC


@pytest.mark.parametrize("removed", [(REEL, REEL_META), (REEL,), (REEL_META,)],
                         ids=["not-rendered", "meta-only", "video-only"])
def test_reel_is_null_unless_both_files_exist(ws: Workspace, removed: tuple[str, ...]) -> None:
    for name in removed:
        ws.path(name).unlink()
    assert assemble(ws, AnalysisOptions(analysis="highlights", render=False))["reel"] is None


def test_no_highlights_found_is_an_empty_list(ws: Workspace) -> None:
    ws.write_json(HIGHLIGHTS, {"segments": [], "reason": "nothing happens"})
    body = assemble(ws, AnalysisOptions())
    assert body["highlights"] == [] and body["highlights_reason"] == "nothing happens"


def test_scores_are_kept_within_zero_and_one(ws: Workspace) -> None:
    Selection([Segment(1.0, 2.0, 1.0000001, 30, 60)]).save(ws)
    assert assemble(ws, AnalysisOptions())["highlights"][0]["score"] == 1.0


@pytest.mark.parametrize(("analysis", "missing"), [
    ("highlights", PROBE), ("highlights", HIGHLIGHTS), ("workout", WORKOUT),
])
def test_missing_stage_output_is_missing_input(ws: Workspace, analysis: str,
                                               missing: str) -> None:
    ws.path(missing).unlink()
    with pytest.raises(MissingInput):
        assemble(ws, AnalysisOptions(analysis=analysis))


def test_assembly_is_deterministic(ws: Workspace) -> None:
    options = AnalysisOptions(analysis="all")
    first = json.dumps(assemble(ws, options), sort_keys=True)
    assert json.dumps(assemble(ws, options), sort_keys=True) == first


def test_video_size_is_the_displayed_size() -> None:
    from dataclasses import replace

    from stages.results import video_summary

    anamorphic = replace(INFO, width=176, height=144, coded_width=176, coded_height=144,
                         sample_aspect=128 / 117)
    assert (video_summary(anamorphic)["width"],
            video_summary(anamorphic)["height"]) == (193, 144)
