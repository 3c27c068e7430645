"""The reel record: what the rendered highlight reel measures."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from stages.records.jsonfile import load_json, save_json
from stages.workspace import REEL, REEL_META, Workspace


@dataclass(frozen=True)
class Reel:
    """Written by the render stage (REEL_META, JSON) once the reel video (REEL) is
    committed; read by results, for the results body's ``reel``. Measured on the written
    file, not assumed: ``duration`` in seconds (3 decimals), ``width`` and ``height`` the
    coded picture size in pixels (square pixels, upright)."""

    duration: float
    width: int
    height: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reel:
        return cls(float(data["duration"]), int(data["width"]), int(data["height"]))

    def save(self, workspace: Workspace) -> None:
        save_json(workspace, REEL_META, self.to_dict())

    @classmethod
    def load(cls, workspace: Workspace) -> Reel | None:
        """The reel, or None when there is none: not rendered (render off, nothing
        selected), or a render that did not finish (a meta file without its video)."""
        if not (workspace.exists(REEL) and workspace.exists(REEL_META)):
            return None
        return cls.from_dict(load_json(workspace, REEL_META, "The reel's measures are missing."))
