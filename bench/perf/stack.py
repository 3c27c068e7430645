"""The service as production runs it, for benchmarks: redis-server, the Procfile's web and
worker commands (one process each), a client; plus clips and process-tree memory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from queues.embedded import free_port, start_embedded_redis
from stages.ffmpeg import ffmpeg_exe
from tests.integration.http import WEB_ARGS, Client

ROOT = Path(__file__).resolve().parents[2]

CLIPS = Path(tempfile.gettempdir()) / "video-bench-clips"


def clip(seconds: int, mbit: float, height: int = 720) -> Path:
    """A testsrc2 + varying tone H.264/AAC clip at a set bitrate, cached between runs."""
    width = height * 16 // 9
    path = CLIPS / f"testsrc2-{seconds}s-{height}p-{mbit}M.mp4"
    if path.exists():
        return path
    CLIPS.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part.mp4")
    subprocess.run([
        ffmpeg_exe(), "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=30:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=48000:duration={seconds},"
                             "volume='0.2+0.8*gt(mod(t,10),7)':eval=frame",
        "-c:v", "libx264", "-preset", "veryfast", "-b:v", f"{mbit}M",
        "-maxrate", f"{mbit * 1.5}M", "-bufsize", f"{mbit * 2}M", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-shortest", "-movflags", "+faststart", str(partial)], check=True)
    partial.rename(path)
    return path


def tree(pid: int) -> list[int]:
    """pid and all its descendants, alive now."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            pending += [int(c) for c in
                        Path(f"/proc/{current}/task/{current}/children").read_text().split()]
        except OSError:
            continue
    return found


def pss_kib(pid: int) -> int:
    """Proportional set size: shared pages split between their users, so a forked work horse
    and its parent are not counted twice (RSS would)."""
    return _proc_kib(pid, "smaps_rollup", "Pss:")


def rss_kib(pid: int) -> int:
    return _proc_kib(pid, "status", "VmRSS:")


def _proc_kib(pid: int, name: str, field: str) -> int:
    """A kiB figure of /proc/<pid>/<name>; 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeMemory(threading.Thread):
    """Samples a process tree every 50 ms: the peak of its summed PSS and of its summed RSS."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids, self.peak_pss_kib, self.peak_rss_kib = pids, 0, 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.05):
            procs = [p for root in self.pids for p in tree(root)]
            self.peak_pss_kib = max(self.peak_pss_kib, sum(pss_kib(p) for p in procs))
            self.peak_rss_kib = max(self.peak_rss_kib, sum(rss_kib(p) for p in procs))

    def stop(self) -> None:
        self._halt.set()
        self.join()


class Stack:
    """redis-server + ``workers`` worker processes + one web process, on a fresh MEDIA_ROOT."""

    def __init__(self, workers: int = 1, **env: str) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="bench-stack-"))
        self.redis, self.redis_url = start_embedded_redis(self.work / "redis")
        self.port = free_port()
        self.env = {**os.environ, "REDIS_URL": self.redis_url, "PYTHONPATH": str(ROOT),
                    "MEDIA_ROOT": str(self.work / "media"), **env}
        self.workers = [self._spawn(["-m", "queues.worker"], f"worker-{i}")
                        for i in range(workers)]
        self.web = self.start_web()
        self.client = Client(f"http://127.0.0.1:{self.port}")
        self.client.wait_ready(self.web, self.work / "web.log")

    def _spawn(self, args: list[str], name: str, **env: str) -> subprocess.Popen[bytes]:
        log = open(self.work / f"{name}.log", "ab")  # noqa: SIM115 - the process keeps it
        return subprocess.Popen([sys.executable, *args], env={**self.env, **env}, cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT)

    def start_web(self, **env: str) -> subprocess.Popen[bytes]:
        return self._spawn([*WEB_ARGS, "--bind", f"127.0.0.1:{self.port}",
                            "--access-logfile", "-"], "web", **env)

    def restart_web(self, **env: str) -> None:
        self.web.terminate()
        self.web.wait(10)
        self.web = self.start_web(**env)
        self.client.wait_ready(self.web, self.work / "web.log")

    def upload(self, video: Path, **fields: str) -> str:
        reply = self.client.upload("/api/v1/video/upload", video, **fields)
        assert reply.status == 202, reply.body
        return str(reply.json()["session_id"])

    def status(self, sid: str) -> dict:
        """The status body; a 503 (Redis slow to answer on a loaded machine) is asked again."""
        while (reply := self.client.get(f"/api/v1/video/status/{sid}")).status == 503:
            time.sleep(0.1)
        assert reply.status == 200, reply.body
        return dict(reply.json())

    def wait(self, sid: str, timeout: float = 1800) -> dict:
        deadline = time.monotonic() + timeout
        while (body := self.status(sid))["status"] in ("queued", "processing"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{sid} still {body['status']}")
            time.sleep(0.1)
        assert body["status"] == "completed", body
        return body

    def session_bytes(self, sid: str) -> int:
        directory = self.work / "media" / "sessions" / sid
        return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())

    def close(self) -> None:
        for proc in (self.web, *self.workers):
            proc.terminate()
        for proc in (self.web, *self.workers):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.redis.terminate()
        self.redis.wait(10)
        shutil.rmtree(self.work, ignore_errors=True)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

