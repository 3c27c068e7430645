"""The workout record: reps, sets and rest the workout stage counted in a video."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from stages.records.jsonfile import load_json, save_json
from stages.workspace import WORKOUT, Workspace


@dataclass(frozen=True)
class WorkoutSet:
    """One set: a run of reps alike in shape at an even pace. Times in seconds from the
    video's start, rounded to 3 decimals."""

    start: float  # when the first rep leaves the start pose
    end: float  # when the last rep is back at the start pose
    reps: int
    rep_times: list[float]  # when each rep is back at the start pose
    avg_rep_seconds: float  # (end - start) / reps
    confidence: float  # in [0, 1]: how believable the count is (1: a textbook set)


@dataclass(frozen=True)
class WorkoutAnalysis:
    """Written by the workout stage (WORKOUT, JSON: these fields, a set as the fields of
    :class:`WorkoutSet`); read by results, whose ``workout`` is :meth:`to_dict` as is.
    Seconds rounded to 3 decimals; rest is every second of the video outside a set."""

    total_reps: int  # over every set
    active_seconds: float  # inside sets
    rest_seconds: float  # the video's duration minus ``active_seconds``
    sets: list[WorkoutSet]  # in time order
    reason: str | None  # why there is no set, else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkoutAnalysis:
        # Values are kept as stored (no float()): results pass them on unchanged.
        return cls(**{**data, "sets": [WorkoutSet(**s) for s in data["sets"]]})

    def save(self, workspace: Workspace) -> None:
        save_json(workspace, WORKOUT, self.to_dict())

    @classmethod
    def load(cls, workspace: Workspace) -> WorkoutAnalysis:
        return cls.from_dict(load_json(
            workspace, WORKOUT, "The workout analysis is missing: the workout stage has not run."))
