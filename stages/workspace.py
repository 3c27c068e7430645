"""Session workspaces: every file of a session lives in one directory under a root.

Paths are built only from validated session ids, attempt tokens we generate and fixed
artifact names, never from anything a user sent. Each attempt of a stage writes into a
directory of its own (named by its token); it reads its inputs from the directories of
the attempts that completed the stages before it. An attempt that was given up on can
go on writing into its own directory, but nobody reads that. When the session ends,
:meth:`Storage.end` removes all but its results and reel. With a blob store that is not
this disk (``Storage(root, store)``), the root is this process's scratch space: a
workspace fetches what it reads from the store on first use and :meth:`Workspace.publish`
puts what it wrote there; :meth:`Storage.discard` then empties the scratch copy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

from stages.blobs import BlobStore, BlobWriter
from stages.remote import RemoteSession, Tee, UploadFile, session_prefix

SESSION_ID_RE = re.compile(r"^[A-Za-z0-9_-]{22,64}$")
TOKEN_RE = re.compile(r"^[a-z]+-[0-9a-f]{16,64}$")  # an attempt token: "<stage>-<hex>"

# Artifact file names, one per stage output.
SOURCE = "source"  # the uploaded video, as received
PROBE = "probe.json"  # stages.probe.VideoInfo
FRAMES = "frames.u8"  # gray analysis frames, zlib chunks of 64 (stages.framecache)
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
                 inputs: tuple[str, ...] = (), remote: RemoteSession | None = None) -> None:
        self.directory = directory
        self.output_dir = directory / check_token(attempt) if attempt else directory
        self._read_dirs = (self.output_dir, *(directory / check_token(t) for t in inputs),
                           directory)
        self.remote = remote
        self._upload: BlobWriter | None = None

    def path(self, artifact: str) -> Path:
        for directory in self._read_dirs:
            candidate = directory / artifact
            if candidate.exists():
                return candidate
        if self.remote is not None:  # not here yet: fetch it from the store
            for directory in self._read_dirs[1:]:
                candidate = directory / artifact
                if self.remote.fetch(self._relative(candidate), candidate):
                    return candidate
        return self.output_dir / artifact

    def exists(self, artifact: str) -> bool:
        if any((directory / artifact).exists() for directory in self._read_dirs):
            return True
        return self.remote is not None and any(
            self.remote.exists(self._relative(directory / artifact))
            for directory in self._read_dirs[1:])

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.directory).as_posix()

    def open_upload(self) -> UploadFile:
        """Where an upload's bytes go as they arrive: SOURCE's temp file (for the probe),
        and with a remote store the store too, a multipart upload running alongside, so the
        store holds the video once it is probed rather than after a second pass."""
        file = open(self.temp_path(SOURCE), "wb")  # noqa: SIM115 (the caller closes it)
        if self.remote is None:
            return file
        self._upload = self.remote.store.writer(self.remote.key(SOURCE))
        return Tee(file, self._upload)

    def publish_upload(self) -> None:
        """The probed upload is kept: finish its upload into the store (if any)."""
        if self._upload is not None:
            self._upload.commit()

    def abort_upload(self) -> None:
        if self._upload is not None:
            self._upload.abort()

    def publish(self) -> None:
        """Put what this attempt wrote into the store (nothing to do on a local store)."""
        if self.remote is None or not self.output_dir.is_dir():
            return
        for entry in sorted(self.output_dir.iterdir()):
            if entry.is_file() and not entry.name.startswith("."):
                self.remote.put(self._relative(entry), entry)

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
        if self.remote is not None:
            self.remote.delete(f"{check_token(token)}/")

    def prune(self, keep: Collection[str] = ()) -> None:
        """Remove every file of the session (the upload included) but ``keep``: paths
        relative to the session directory, e.g. ``results.json``, ``<token>/reel.mp4``."""
        kept_dirs = {k.split("/")[0] for k in keep if "/" in k}
        for entry in self.directory.iterdir() if self.directory.is_dir() else ():
            if entry.is_dir() and entry.name in kept_dirs:
                for inner in entry.iterdir():
                    if f"{entry.name}/{inner.name}" not in keep:
                        _remove(inner)
            elif entry.name not in keep:
                _remove(entry)
        if self.remote is None:
            return
        if SOURCE not in keep:
            self.remote.delete(SOURCE)
        for name in list(self.remote.attempt_dirs()):
            if name not in kept_dirs:
                self.remote.delete(f"{name}/")
                continue
            for artifact in INTERMEDIATES:
                if f"{name}/{artifact}" not in keep:
                    self.remote.delete(f"{name}/{artifact}")


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


class Storage:
    """Where sessions' files live: under ``root`` (a local store, shared by every process
    of one machine or volume), or in ``store`` with ``root`` as this process's scratch."""

    def __init__(self, root: Path, store: BlobStore | None = None, *,
                 keep_intermediates: bool = False) -> None:
        self.root = Path(root)
        self.sessions = self.root / "sessions"
        self.store = store
        self.keep_intermediates = keep_intermediates

    def end(self, session_id: str, keep: Collection[str] = ()) -> None:
        """The session has ended: remove its upload and stage files but ``keep`` (its
        results and reel), unless the store was told to keep them (KEEP_INTERMEDIATES)."""
        if not self.keep_intermediates:
            self.open(session_id).prune(keep)

    def _remote(self, session_id: str) -> RemoteSession | None:
        return RemoteSession(self.store, session_id) if self.store is not None else None

    def create(self, session_id: str) -> Workspace:
        directory = self.sessions / check_session_id(session_id)
        directory.mkdir(parents=True, exist_ok=False)
        return Workspace(directory, remote=self._remote(session_id))

    def open(self, session_id: str, attempt: str | None = None,
             inputs: tuple[str, ...] = ()) -> Workspace:
        return Workspace(self.sessions / check_session_id(session_id), attempt, inputs,
                         self._remote(session_id))

    def save_results(self, session_id: str) -> None:
        remote = self._remote(session_id)
        if remote is not None:
            remote.put(RESULTS, self.sessions / check_session_id(session_id) / RESULTS)

    def read_json(self, session_id: str, artifact: str, inputs: tuple[str, ...] = ()) -> Any:
        """An artifact of a session, read without leaving a copy on this disk. With a
        remote store each call fetches into a directory of its own: two requests reading
        the same session at once must not remove each other's copy."""
        if self.store is None:
            return self.open(session_id, inputs=inputs).read_json(artifact)
        with tempfile.TemporaryDirectory(dir=self._scratch_tmp()) as private:
            workspace = Workspace(Path(private) / check_session_id(session_id), None, inputs,
                                  self._remote(session_id))
            return workspace.read_json(artifact)

    def _scratch_tmp(self) -> Path:
        path = self.root / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def blob_url(self, session_id: str, relative: str, seconds: int) -> str | None:
        """A short-lived URL to fetch a session's object directly (None: a local store)."""
        if self.store is None:
            return None
        key = session_prefix(check_session_id(session_id)) + relative
        return self.store.presigned_url(key, seconds) if self.store.exists(key) else ""

    def scratch_sessions(self) -> list[str]:
        """Sessions with copies in this process's scratch space (a remote store only)."""
        if self.store is None or not self.sessions.is_dir():
            return []
        return [e.name for e in os.scandir(self.sessions) if SESSION_ID_RE.fullmatch(e.name)]

    def discard(self, session_id: str) -> None:
        """Empty this process's scratch copy of the session (a remote store only)."""
        if self.store is not None:
            shutil.rmtree(self.sessions / check_session_id(session_id), ignore_errors=True)

    def abort_stale_uploads(self, seconds: float, live: Callable[[str], bool]) -> int:
        """Abort uploads into the store that a process began and never finished, but those
        of sessions ``live`` names."""
        if self.store is None:
            return 0
        def spare(key: str) -> bool:  # "sessions/<id>/...": spare a live session's uploads
            parts = key.split("/")
            return len(parts) > 2 and parts[0] == "sessions" and live(parts[1])

        return self.store.abort_stale_uploads(seconds, spare)

    def clear_scratch(self) -> None:
        """Empty this process's scratch space (a remote store only: at start-up)."""
        if self.store is not None:
            shutil.rmtree(self.sessions, ignore_errors=True)

    def delete(self, session_id: str) -> None:
        shutil.rmtree(self.sessions / check_session_id(session_id), ignore_errors=True)
        if self.store is not None:
            self.store.delete_prefix(session_prefix(session_id))

    def session_ids(self) -> Iterator[tuple[str, float]]:
        """Yield (session_id, seconds since anything in it was last written) per workspace."""
        if self.store is not None:
            now = time.time()
            for name, newest in self.store.list_children("sessions/"):
                if SESSION_ID_RE.fullmatch(name):
                    yield name, now - newest
            return
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
