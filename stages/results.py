"""Results stage: gather the stage outputs of one session into the API's results body.

The API adds what only it knows (session id, status, the reel's URL).
"""

from __future__ import annotations

from typing import Any

from stages.options import AnalysisOptions
from stages.probe import VideoInfo
from stages.records.highlights import Selection
from stages.records.reel import Reel
from stages.records.workout import WorkoutAnalysis
from stages.workspace import Workspace

SCHEMA_VERSION = 1


def assemble(workspace: Workspace, options: AnalysisOptions) -> dict[str, Any]:
    """The results body for the analysis ``options`` asked for, from the stage records."""
    wants_highlights = options.analysis in ("highlights", "all")
    wants_workout = options.analysis in ("workout", "all")
    selection = Selection.load(workspace) if wants_highlights else None
    reel = Reel.load(workspace) if wants_highlights else None
    return {
        "schema_version": SCHEMA_VERSION,
        "analysis": options.analysis,
        "video": video_summary(VideoInfo.load(workspace)),
        "highlights": highlight_list(selection) if selection is not None else [],
        # why the list is empty (a still, silent video...), else null; an additive field
        "highlights_reason": selection.reason if selection is not None else None,
        "reel": reel_summary(reel) if reel is not None else None,
        "workout": WorkoutAnalysis.load(workspace).to_dict() if wants_workout else None,
    }


def video_summary(info: VideoInfo) -> dict[str, Any]:
    """The video as a player shows it: upright, with non-square pixels stretched to square."""
    return {"duration": round(float(info.duration), 3),
            "fps": round(float(info.fps), 3),
            "width": round(int(info.width) * float(info.sample_aspect or 1.0)),
            "height": int(info.height),
            "has_audio": bool(info.has_audio)}


def highlight_list(selection: Selection) -> list[dict[str, float]]:
    """Segments as the API shows them: sorted by start, 3 decimals, score within [0, 1]."""
    segments = sorted(selection.segments, key=lambda s: (s.start, s.end))
    return [{"start": round(s.start, 3),
             "end": round(s.end, 3),
             "score": round(min(1.0, max(0.0, s.score)), 3)}
            for s in segments]


def reel_summary(reel: Reel) -> dict[str, Any]:
    """The reel as the API shows it (the API adds its URL)."""
    return {"duration": round(reel.duration, 3), "width": reel.width, "height": reel.height}
