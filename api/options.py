"""Turns the upload's form fields into validated analysis options (400 on anything off).

Values are taken verbatim: no whitespace is trimmed anywhere (" 12 " is refused, not
guessed at). Numbers are plain ASCII decimals: digits only for whole numbers; one leading
sign and one decimal point allowed where a fraction makes sense. ``int()``/``float()``
alone would also take "1_0", "١٢", " 12 ", "1e3", "inf" and 400-digit numbers.
"""

from __future__ import annotations

import re

from api.errors import BadRequest
from queues.settings import Settings
from stages.options import ANALYSES, AnalysisOptions

WHOLE_NUMBER = re.compile(r"[0-9]+")
DECIMAL_NUMBER = re.compile(r"[+-]?[0-9]*\.?[0-9]+")
MAX_NUMBER_CHARS = 32  # beyond what JavaScript's String(number) writes in decimal form


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
    grammar = WHOLE_NUMBER if integer else DECIMAL_NUMBER
    if len(raw) > MAX_NUMBER_CHARS or not grammar.fullmatch(raw):
        kind = "a whole number in plain digits" if integer else \
            "a number in plain digits (e.g. 2.5)"
        raise BadRequest(f"'{name}' must be {kind} between {low:g} and {high:g}.")
    value = int(raw) if integer else float(raw)
    if not low <= value <= high:
        raise BadRequest(f"'{name}' must be between {low:g} and {high:g}.")
    return value
