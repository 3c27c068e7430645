"""Session workspaces: every file of a session lives in one directory under a root.

Paths are built only from validated session ids, attempt tokens we generate and fixed
artifact names, never from anything a user sent. Each attempt of a stage writes into a
directory of its own (named by its token); it reads its inputs from the directories of
the attempts that completed the stages before it. An attempt that was given up on can
go on writing into its own directory, but nobody reads that.
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
TOKEN_RE = re.compile(r"^[a-z]+-[0-9a-f]{16,64}$")  # an attempt token: "<stage>-<hex>"

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


def check_token(token: str) -> str:
    if not TOKEN_RE.fullmatch(token):
        raise ValueError(f"not an attempt token: {token!r}")
    return token


class Workspace:
    """One session's directory and its named artifacts, as one attempt sees them.

    ``attempt`` names the directory this attempt writes to (None: the session directory
    itself, for local runs); ``inputs`` the directories of completed attempts it reads.
    A path for reading is the first that exists of: its own, its inputs', the session's.
    """

    def __init__(self, directory: Path, attempt: str | None = None,
                 inputs: tuple[str, ...] = ()) -> None:
        self.directory = directory
        self.output_dir = directory / check_token(attempt) if attempt else directory
        self._read_dirs = (self.output_dir, *(directory / check_token(t) for t in inputs),
                           directory)

    def path(self, artifact: str) -> Path:
        for directory in self._read_dirs:
            candidate = directory / artifact
            if candidate.exists():
                return candidate
        return self.output_dir / artifact

    def exists(self, artifact: str) -> bool:
        return self.path(artifact).exists()

    def temp_path(self, artifact: str) -> Path:
        """Where to write before :meth:`commit`, so readers never see half a file."""
        self.output_dir.mkdir(exist_ok=True)
        return self.output_dir / f".{artifact}.part"

    def commit(self, artifact: str) -> Path:
        final = self.output_dir / artifact
        os.replace(self.temp_path(artifact), final)
        return final

    def write_json(self, artifact: str, data: Any) -> None:
        self.output_dir.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.output_dir, prefix=f".{artifact}.")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, sort_keys=True)
            os.replace(tmp, self.output_dir / artifact)
        except BaseException:
            os.unlink(tmp)
            raise

    def read_json(self, artifact: str) -> Any:
        with open(self.path(artifact)) as f:
            return json.load(f)

    def remove_attempt(self, token: str) -> None:
        """Drop the directory of an earlier attempt (superseded, or handed back)."""
        shutil.rmtree(self.directory / check_token(token), ignore_errors=True)

    def remove_outputs(self) -> None:
        """Drop everything but the upload (used when a session is cancelled or failed)."""
        for entry in self.directory.iterdir() if self.directory.is_dir() else ():
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.name in INTERMEDIATES or entry.name.startswith("."):
                entry.unlink(missing_ok=True)


class Storage:
    """The root under which web and worker processes share session workspaces."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.sessions = self.root / "sessions"

    def create(self, session_id: str) -> Workspace:
        directory = self.sessions / check_session_id(session_id)
        directory.mkdir(parents=True, exist_ok=False)
        return Workspace(directory)

    def open(self, session_id: str, attempt: str | None = None,
             inputs: tuple[str, ...] = ()) -> Workspace:
        return Workspace(self.sessions / check_session_id(session_id), attempt, inputs)

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
                                  *(f.stat().st_mtime for f in os.scandir(entry.path)
                                    if not f.is_dir())])
                except FileNotFoundError:
                    continue  # removed while we looked
                yield entry.name, now - newest
