"""Turns the upload's form fields into validated analysis options (400 on anything off)."""

from __future__ import annotations

import math

from api.errors import BadRequest
from queues.settings import Settings
from stages.options import ANALYSES, AnalysisOptions


def parse_options(fields: dict[str, str], settings: Settings,
                  analysis: str | None = None) -> AnalysisOptions:
    overrides: dict[str, object] = {}
    chosen = analysis or fields.get("analysis") or "highlights"
    if chosen not in ANALYSES:
        raise BadRequest(f"'analysis' must be one of {', '.join(ANALYSES)}, not {chosen!r}.")
    overrides["analysis"] = chosen
    if fields.get("target_duration"):
        overrides["target_duration"] = _number("target_duration", fields["target_duration"],
                                               1.0, settings.max_video_seconds)
    if fields.get("max_highlights"):
        overrides["max_highlights"] = int(_number("max_highlights", fields["max_highlights"],
                                                  1, 50, integer=True))
    # Optional steering of the selection (beyond the contract's fields; all in seconds).
    for name, low, high in (("min_clip", 0.5, 60.0), ("max_clip", 0.5, 120.0),
                            ("padding", 0.0, 10.0)):
        if fields.get(name):
            overrides[name] = _number(name, fields[name], low, high)
    if "min_clip" in overrides and "max_clip" in overrides and \
            float(overrides["min_clip"]) > float(overrides["max_clip"]):  # type: ignore[arg-type]
        raise BadRequest("'min_clip' must not exceed 'max_clip'.")
    if fields.get("render"):
        value = fields["render"].lower()
        if value not in ("true", "false", "1", "0"):
            raise BadRequest("'render' must be true or false.")
        overrides["render"] = value in ("true", "1")
    return settings.analysis_options(**overrides)


def _number(name: str, raw: str, low: float, high: float, integer: bool = False) -> float:
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise BadRequest(f"'{name}' must be a {'whole ' if integer else ''}number.") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise BadRequest(f"'{name}' must be between {low:g} and {high:g}.")
    return value
