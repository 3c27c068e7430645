"""The highlights record: the segments the select stage chose, or why there are none."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from stages.records.jsonfile import load_json, save_json
from stages.workspace import HIGHLIGHTS, Workspace


@dataclass(frozen=True)
class Segment:
    """One highlight, aligned to source frames."""

    start: float  # seconds: the first frame's time
    end: float  # seconds: the time after the last frame (exclusive)
    score: float  # mean highlight score inside, in [0, 1]
    start_frame: int  # first source frame
    end_frame: int  # source frame after the last one

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Segment:
        return cls(float(data["start"]), float(data["end"]), float(data["score"]),
                   int(data["start_frame"]), int(data["end_frame"]))


@dataclass(frozen=True)
class Selection:
    """Written by the select stage (HIGHLIGHTS, JSON ``{"segments": [...], "reason": ...}``,
    a segment as the fields of :class:`Segment`); read by render (which cuts the segments
    into the reel) and results (which lists them, and the reason, in the results body)."""

    segments: list[Segment]  # sorted by start, non-overlapping
    reason: str | None = None  # why there are no segments (a still, silent video...)

    def to_dict(self) -> dict[str, Any]:
        return {"segments": [asdict(s) for s in self.segments], "reason": self.reason}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Selection:
        return cls([Segment.from_dict(s) for s in data["segments"]], data["reason"])

    def save(self, workspace: Workspace) -> None:
        save_json(workspace, HIGHLIGHTS, self.to_dict())

    @classmethod
    def load(cls, workspace: Workspace) -> Selection:
        return cls.from_dict(load_json(
            workspace, HIGHLIGHTS, "The highlights are missing: the select stage has not run."))
