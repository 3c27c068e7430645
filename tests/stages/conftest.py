"""Stage-test fixtures: workspaces holding a source video, clips with known content, bad files,
and blob stores on both backends (a local directory, a real S3 server)."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stages.blobs import BlobStore, LocalBlobStore, S3BlobStore
from stages.blobs.s3writer import MIN_PART_SIZE
from stages.context import NullContext
from stages.errors import StageCancelled
from stages.ffmpeg import ffmpeg_exe
from stages.options import AnalysisOptions
from stages.workspace import SOURCE, Workspace
from tests.media import make_filtergraph_video
from tests.s3server import S3Endpoint, remove_bucket

# A still grey picture with a white box sitting in a corner, except from 4 s to 6 s when
# the box races around while a loud tone plays (quiet hum elsewhere).
BURST_VIDEO = ("color=c=gray:s=320x240:r=25:d=10[bg];color=c=white:s=60x60:r=25:d=10[box];"
               "[bg][box]overlay=x='if(between(t,4,6),mod(t*400,260),0)'"
               ":y='if(between(t,4,6),mod(t*300,180),0)'")
BURST_AUDIO = "sine=f=440:d=10,volume='if(between(t,4,6),1,0.01)':eval=frame"
BURST = (4.0, 6.0)

# Three shots with hard cuts at 3 s and 6 s.
CUTS_VIDEO = ("testsrc2=s=320x240:r=25:d=3[a];smptebars=s=320x240:r=25:d=3[b];"
              "mandelbrot=s=320x240:r=25,trim=duration=3[c];[a][b][c]concat=n=3")
CUT_TIMES = (3.0, 6.0)


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="session")
def burst_video(video_dir: Path) -> Path:
    return make_filtergraph_video(video_dir / "burst.mp4", BURST_VIDEO, seconds=10,
                                  audio_filtergraph=BURST_AUDIO)


@pytest.fixture(scope="session")
def cuts_video(video_dir: Path) -> Path:
    return make_filtergraph_video(video_dir / "cuts.mp4", CUTS_VIDEO, seconds=9)


@pytest.fixture(scope="session")
def av1_video(video_dir: Path) -> Path:
    """AV1 in MP4: decord 0.6 cannot open it, ffmpeg can (the fallback path)."""
    path = video_dir / "av1.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
           "-c:v", "libsvtav1", "-preset", "12", "-svtav1-params", "log-level=0", str(path))
    return path


@pytest.fixture
def workspace_for(tmp_path: Path) -> Callable[[Path], Workspace]:
    """A fresh workspace whose SOURCE is a copy of the given file."""

    def make(source: Path) -> Workspace:
        directory = tmp_path / f"ws{len(list(tmp_path.iterdir()))}"
        directory.mkdir()
        shutil.copy(source, directory / SOURCE)
        return Workspace(directory)

    return make


class CancelAfter(NullContext):
    """A context whose session is cancelled at its n-th progress call."""

    def __init__(self, workspace: Workspace, calls: int,
                 options: AnalysisOptions | None = None) -> None:
        super().__init__(workspace, options)
        self.calls = calls

    def progress(self, fraction: float) -> None:
        super().progress(fraction)
        if len(self.reported) >= self.calls:
            raise StageCancelled()


def leftovers(workspace: Workspace) -> list[str]:
    """Half-written files a stage left behind."""
    return sorted(p.name for p in workspace.directory.glob(".*"))


# --- blob stores: every storage test runs on a local directory and on a real S3 server ---

BLOB_PART_SIZE = MIN_PART_SIZE  # the smallest S3 allows: multipart paths at a few MiB


@pytest.fixture
def local_store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "store")


@pytest.fixture
def s3_store(s3_endpoint: S3Endpoint) -> Iterator[S3BlobStore]:
    """A store under a prefix in a fresh bucket of its own (removed afterwards)."""
    client = s3_endpoint.client()
    bucket = f"test-{secrets.token_hex(8)}"
    s3_endpoint.create_bucket(client, bucket)
    try:
        yield S3BlobStore(bucket, "media", client, part_size=BLOB_PART_SIZE)
    finally:
        remove_bucket(client, bucket)
        client.close()


@pytest.fixture(params=["local", "s3"])
def blob_store(request: pytest.FixtureRequest) -> BlobStore:
    """The same test on both backends."""
    store: BlobStore = request.getfixturevalue(f"{request.param}_store")
    return store
