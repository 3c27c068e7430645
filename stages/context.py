"""The one object a stage sees of the world around it."""

from __future__ import annotations

from typing import Protocol

from stages.options import AnalysisOptions
from stages.workspace import Workspace


class StageContext(Protocol):
    """Given to every ``run(ctx)``; implemented by the queue runner and the local CLI."""

    session_id: str
    workspace: Workspace
    options: AnalysisOptions

    def progress(self, fraction: float) -> None:
        """Report progress in [0, 1]; cheap to call per batch.

        Raises a :class:`stages.errors.StageStopped` when the stage must stop (the session
        was cancelled, the process is shutting down, or this attempt was superseded), so
        calling it inside a loop is also the stop check.
        """
        ...


class NullContext:
    """A context that reports nowhere and is never cancelled (tests, scripts)."""

    def __init__(self, workspace: Workspace, options: AnalysisOptions | None = None,
                 session_id: str = "local") -> None:
        self.session_id = session_id
        self.workspace = workspace
        self.options = options or AnalysisOptions()
        self.reported: list[float] = []

    def progress(self, fraction: float) -> None:
        self.reported.append(fraction)
