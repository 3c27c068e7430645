"""Results stage: gather the stage outputs of one session into the API's results body.

The API adds what only it knows (session id, status, the reel's URL).
"""

from __future__ import annotations

from typing import Any

from stages.errors import MissingInput
from stages.options import AnalysisOptions
from stages.workspace import HIGHLIGHTS, PROBE, REEL, REEL_META, WORKOUT, Workspace

SCHEMA_VERSION = 1


def assemble(workspace: Workspace, options: AnalysisOptions) -> dict[str, Any]:
    """The results body for the analysis ``options`` asked for, from the workspace files."""
    wants_highlights = options.analysis in ("highlights", "all")
    wants_workout = options.analysis in ("workout", "all")
    selection = _read(workspace, HIGHLIGHTS) if wants_highlights else {}
    return {
        "schema_version": SCHEMA_VERSION,
        "analysis": options.analysis,
        "video": video_summary(_read(workspace, PROBE)),
        "highlights": highlight_list(selection) if wants_highlights else [],
        # why the list is empty (a still, silent video...), else null; an additive field
        "highlights_reason": selection.get("reason"),
        "reel": _reel(workspace) if wants_highlights else None,
        "workout": _read(workspace, WORKOUT) if wants_workout else None,
    }


def video_summary(probe: dict[str, Any]) -> dict[str, Any]:
    """The video as a player shows it: upright, with non-square pixels stretched to square."""
    return {"duration": round(float(probe["duration"]), 3),
            "fps": round(float(probe["fps"]), 3),
            "width": round(int(probe["width"]) * float(probe.get("sample_aspect") or 1.0)),
            "height": int(probe["height"]),
            "has_audio": bool(probe["has_audio"])}


def highlight_list(highlights: dict[str, Any]) -> list[dict[str, float]]:
    """Segments as the API shows them: sorted by start, 3 decimals, score within [0, 1]."""
    segments = sorted(highlights.get("segments", []), key=lambda s: (s["start"], s["end"]))
    return [{"start": round(float(s["start"]), 3),
             "end": round(float(s["end"]), 3),
             "score": round(min(1.0, max(0.0, float(s["score"]))), 3)}
            for s in segments]


def _reel(workspace: Workspace) -> dict[str, Any] | None:
    # Both files or none: a meta file without its video is a render that did not finish.
    if not (workspace.exists(REEL) and workspace.exists(REEL_META)):
        return None
    meta = workspace.read_json(REEL_META)
    return {"duration": round(float(meta["duration"]), 3),
            "width": int(meta["width"]),
            "height": int(meta["height"])}


def _read(workspace: Workspace, artifact: str) -> Any:
    if not workspace.exists(artifact):
        raise MissingInput(f"the results need {artifact}, which no stage wrote")
    return workspace.read_json(artifact)
