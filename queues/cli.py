"""``python -m queues.cli VIDEO``: run a whole analysis in-process, no Redis, no server.

Prints the results JSON (the results endpoint's schema) and writes the reel next to it.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from queues.graph import PIPELINES
from queues.settings import Settings
from stages import results
from stages.errors import StageError
from stages.limits import MediaLimits
from stages.options import ANALYSES, AnalysisOptions
from stages.probe import probe
from stages.workspace import REEL, SOURCE, Storage, Workspace


class ConsoleContext:
    """Reports progress on stderr; never cancelled (Ctrl-C stops the process)."""

    def __init__(self, workspace: Workspace, options: AnalysisOptions, stage: str) -> None:
        self.session_id = "local"
        self.workspace = workspace
        self.options = options
        self.stage = stage
        self._shown = -1.0

    def progress(self, fraction: float) -> None:
        if fraction - self._shown >= 0.1:
            self._shown = fraction
            print(f"  {self.stage}: {fraction:4.0%}", file=sys.stderr)


def analyse_file(video: Path, options: AnalysisOptions, workdir: Path) -> dict[str, Any]:
    """Run every stage of ``options.analysis`` on ``video``; return the results body."""
    session_id = secrets.token_urlsafe(24)
    workspace = Storage(workdir).create(session_id)
    workspace.path(SOURCE).symlink_to(video.resolve())
    # fail fast with a clear message
    probe(workspace.path(SOURCE), options.max_video_seconds, MediaLimits.of(options))
    for spec in PIPELINES[options.analysis]:
        if spec.skip_if is not None and spec.skip_if(options):
            continue
        started = time.monotonic()
        spec.run(ConsoleContext(workspace, options, spec.name))
        print(f"{spec.name} done in {time.monotonic() - started:.2f} s", file=sys.stderr)
    body = results.assemble(workspace, options)
    return {"session_id": session_id, "status": "completed", **body}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("video", type=Path)
    parser.add_argument("--analysis", choices=ANALYSES, default="highlights")
    parser.add_argument("--target-duration", type=float)
    parser.add_argument("--max-highlights", type=int)
    parser.add_argument("--no-render", action="store_true")
    parser.add_argument("--reel", type=Path, default=Path("reel.mp4"),
                        help="where to write the highlight reel (default ./reel.mp4)")
    args = parser.parse_args(argv)
    overrides: dict[str, object] = {"analysis": args.analysis, "render": not args.no_render}
    if args.target_duration:
        overrides["target_duration"] = args.target_duration
    if args.max_highlights:
        overrides["max_highlights"] = args.max_highlights
    options = Settings.from_env().analysis_options(**overrides)
    workdir = Path(tempfile.mkdtemp(prefix="video-analysis-"))
    try:
        body = analyse_file(args.video, options, workdir)
        if body.get("reel"):
            workspace = Storage(workdir).open(body["session_id"])
            shutil.move(workspace.path(REEL), args.reel)
            body["reel"] = {"url": str(args.reel.resolve()), **body["reel"]}
    except StageError as error:
        print(f"error: {error.title}: {error.detail}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(body, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
