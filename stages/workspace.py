"""Session workspaces: every file of a session lives in one directory under a root.

Paths are built only from validated session ids and fixed artifact names, never from
anything a user sent. An object store can replace this class without touching stages.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SESSION_ID_RE = re.compile(r"^[A-Za-z0-9_-]{22,64}$")

# Artifact file names, one per stage output.
SOURCE = "source"  # the uploaded video, as received
PROBE = "probe.json"  # stages.probe.VideoInfo
FRAMES = "frames.u8"  # raw gray analysis frames, (count, height, width) uint8
FRAMES_META = "frames.json"  # frame cache shape, timestamps file, rates
FRAME_TIMES = "frame_times.npy"  # float64 seconds, one per cached frame
AUDIO = "audio.npz"  # loudness envelope (rms_db per hop)
SCORES = "scores.npz"  # per-frame scorer outputs and the combined highlight score
HIGHLIGHTS = "highlights.json"  # selected segments
REEL = "reel.mp4"  # rendered highlight reel
REEL_META = "reel.json"  # reel duration and size
WORKOUT = "workout.json"  # workout analysis
RESULTS = "results.json"  # the assembled results body

INTERMEDIATES = (PROBE, FRAMES, FRAMES_META, FRAME_TIMES, AUDIO, SCORES, HIGHLIGHTS,
                 REEL, REEL_META, WORKOUT, RESULTS)


class InvalidSessionId(ValueError):
    """The id does not have the shape of one we issue."""


def check_session_id(session_id: str) -> str:
    if not SESSION_ID_RE.fullmatch(session_id):
        raise InvalidSessionId(session_id)
    return session_id


class Workspace:
    """One session's directory and its named artifacts."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, artifact: str) -> Path:
        return self.directory / artifact

    def exists(self, artifact: str) -> bool:
        return self.path(artifact).exists()

    def temp_path(self, artifact: str) -> Path:
        """Where to write before :meth:`commit`, so readers never see half a file."""
        return self.directory / f".{artifact}.part"

    def commit(self, artifact: str) -> Path:
        final = self.path(artifact)
        os.replace(self.temp_path(artifact), final)
        return final

    def write_json(self, artifact: str, data: Any) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{artifact}.")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, sort_keys=True)
            os.replace(tmp, self.path(artifact))
        except BaseException:
            os.unlink(tmp)
            raise

    def read_json(self, artifact: str) -> Any:
        with open(self.path(artifact)) as f:
            return json.load(f)

    def remove(self, *artifacts: str) -> None:
        for name in artifacts:
            self.path(name).unlink(missing_ok=True)
        for stray in self.directory.glob(".*.part"):
            stray.unlink(missing_ok=True)

    def remove_outputs(self) -> None:
        """Drop everything but the upload (used when a session is cancelled)."""
        self.remove(*INTERMEDIATES)
        for stray in self.directory.glob(".*"):
            if stray.is_file():
                stray.unlink(missing_ok=True)


class Storage:
    """The root under which web and worker processes share session workspaces."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.sessions = self.root / "sessions"

    def create(self, session_id: str) -> Workspace:
        directory = self.sessions / check_session_id(session_id)
        directory.mkdir(parents=True, exist_ok=False)
        return Workspace(directory)

    def open(self, session_id: str) -> Workspace:
        return Workspace(self.sessions / check_session_id(session_id))

    def delete(self, session_id: str) -> None:
        shutil.rmtree(self.sessions / check_session_id(session_id), ignore_errors=True)

    def session_ids(self) -> Iterator[tuple[str, float]]:
        """Yield (session_id, seconds since anything in it was last written) per workspace."""
        if not self.sessions.is_dir():
            return
        now = time.time()
        for entry in os.scandir(self.sessions):
            if entry.is_dir() and SESSION_ID_RE.fullmatch(entry.name):
                try:
                    newest = max([entry.stat().st_mtime,
                                  *(f.stat().st_mtime for f in os.scandir(entry.path))])
                except FileNotFoundError:
                    continue  # removed while we looked
                yield entry.name, now - newest
