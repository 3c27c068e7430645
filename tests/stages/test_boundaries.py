"""stages/ stays free of the queue and web layers (dependencies point api -> queues -> stages)."""

from __future__ import annotations

import ast
from pathlib import Path

import stages

FORBIDDEN = {"redis", "rq", "quart", "queues", "api", "flask", "rq_dashboard"}


def test_stages_never_import_queue_or_web_packages() -> None:
    root = Path(stages.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(root)}: {n}" for n in names
                          if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
