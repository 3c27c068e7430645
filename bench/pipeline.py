"""Issue-2 figures: upload→completed against a plain ffmpeg decode of the same clip.

Generates a 60 s 1280x720 30 fps H.264+AAC clip, then, three times each (median quoted):
`ffmpeg -i clip -f null -`, upload→completed for analysis=highlights (reel included) and
for analysis=workout, through the real service (embedded redis-server, one worker,
hypercorn). Also prints the peak RSS of the worker and its work horses.

    .venv/bin/python bench/pipeline.py [--runs 3] [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.baseline import ffmpeg_null_seconds  # noqa: E402
from queues.embedded import free_port, start_embedded_redis  # noqa: E402
from stages.ffmpeg import ffmpeg_exe  # noqa: E402
from tests.integration.http import Client  # noqa: E402


def make_clip(path: Path, seconds: int) -> None:
    # Moving content with some structure, and a tone whose loudness varies.
    subprocess.run([
        ffmpeg_exe(), "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=30:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=48000:duration={seconds},"
                             "volume='0.2+0.8*gt(mod(t,10),7)':eval=frame",
        "-c:v", "libx264", "-preset", "veryfast", "-b:v", "8M", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-shortest", str(path)], check=True)


def tree_peak_rss_kib(pid: int) -> int:
    """Largest VmHWM (peak RSS) among pid and its descendants right now."""
    peak = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
        pending += [int(c) for c in children]
    return peak


class RssWatcher(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kib, self.running = pid, 0, True

    def run(self) -> None:
        while self.running:
            self.peak_kib = max(self.peak_kib, tree_peak_rss_kib(self.pid))
            time.sleep(0.05)


def upload_to_completed(client: Client, clip: Path, analysis: str) -> float:
    started = time.perf_counter()
    reply = client.upload("/api/v1/video/upload", clip, analysis=analysis)
    assert reply.status == 202, reply.body
    sid = reply.json()["session_id"]
    final = client.wait(sid, timeout=600)[-1]
    elapsed = time.perf_counter() - started
    assert final["status"] == "completed", final
    client.delete(f"/api/v1/video/cleanup/{sid}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    clip = work / "clip.mp4"
    make_clip(clip, args.seconds)
    redis_proc, url = start_embedded_redis(work / "redis")
    port = free_port()
    env = {**os.environ, "REDIS_URL": url, "MEDIA_ROOT": str(work / "media"),
           "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen([sys.executable, "-m", "queues.worker"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    web = subprocess.Popen([sys.executable, "-m", "hypercorn", "api:create_app()", "--bind",
                            f"127.0.0.1:{port}"], env=env, cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = Client(f"http://127.0.0.1:{port}")
    watcher = RssWatcher(worker.pid)
    try:
        client.wait_ready(web, Path(os.devnull))
        watcher.start()
        rows: dict[str, list[float]] = {"ffmpeg -f null": [], "highlights": [], "workout": []}
        for _ in range(args.runs):  # interleaved, so machine noise hits all three alike
            rows["ffmpeg -f null"].append(ffmpeg_null_seconds(clip))
            rows["highlights"].append(upload_to_completed(client, clip, "highlights"))
            rows["workout"].append(upload_to_completed(client, clip, "workout"))
        baseline = statistics.median(rows["ffmpeg -f null"])
        print(f"clip: {args.seconds} s 1280x720 30 fps H.264+AAC, {clip.stat().st_size >> 20} MiB;"
              f" median of {args.runs}")
        for name, values in rows.items():
            med = statistics.median(values)
            print(f"{name:>16}: median {med:6.2f} s  ({med / baseline:4.2f}x ffmpeg)  runs "
                  + " ".join(f"{v:.2f}" for v in values))
        watcher.running = False
        watcher.join()
        print(f"worker peak RSS (largest process of the worker tree): "
              f"{watcher.peak_kib / 1024:.0f} MiB")
    finally:
        for proc in (web, worker, redis_proc):
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
