"""How a JSON stage record meets the workspace: the one place that writes and reads them."""

from __future__ import annotations

import json
from typing import Any

from stages.errors import MissingInput
from stages.workspace import Workspace


def save_json(workspace: Workspace, artifact: str, data: Any) -> None:
    """Publish ``data`` under ``artifact`` at once (readers never see half a file)."""
    workspace.write_json(artifact, data)


def load_json(workspace: Workspace, artifact: str, missing: str) -> Any:
    """The document under ``artifact``; MissingInput(``missing``) when no stage wrote it."""
    if not workspace.exists(artifact):
        raise MissingInput(missing)
    with open(workspace.path(artifact)) as f:
        return json.load(f)
