"""Object-store figures: upload→completed on the local store against an S3 store, the bytes
a session moves through the store, and the web's memory during a large upload.

A 60 s 1280x720 30 fps 8 Mbit/s H.264+AAC clip; N times, interleaved (medians quoted):
`ffmpeg -i clip -f null -`, then upload→completed (analysis=highlights, reel included) on
two stacks (redis-server + hypercorn + ONE worker each, started once; a new session per
run): "local" (STORAGE_URL unset, one shared MEDIA_ROOT) and "s3" (a fresh bucket on a
moto_server, or the server S3_TEST_ENDPOINT names; web and worker on separate scratch
MEDIA_ROOTs). Store bytes per session: the worker's `store: put|fetched` log lines plus the
web's put of the upload. Last, --big-upload-mb MiB go to the s3 web in 1 MiB sends while its
RSS is sampled (50 ms) and GET /healthz timed (100 ms): random bytes (refused as not a video:
the store step is not reached) or, with --big-video, a real video (probed and put).

    .venv/bin/python bench/storage.py [--runs 3] [--big-upload-mb 2048] [--big-video]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.baseline import ffmpeg_null_seconds  # noqa: E402
from bench.pipeline import make_clip  # noqa: E402
from queues.embedded import free_port, start_embedded_redis  # noqa: E402
from stages.ffmpeg import ffmpeg_exe  # noqa: E402
from tests.integration.http import Client  # noqa: E402
from tests.s3server import S3Endpoint, remove_bucket, s3_test_endpoint  # noqa: E402

API = "/api/v1/video"
MIB = 1024 * 1024
Run = tuple[str, float, dict[str, float]]  # session id, upload→completed, s per step
STORE_LINE = re.compile(r"store: (put|fetched) sessions/([^/\s]+)/(\S+) \((\d+) bytes\)")


class Stack:
    """redis-server + web + one worker on one store; logs in <work>/<mode>/."""

    def __init__(self, work: Path, mode: str, s3: S3Endpoint | None, bucket: str,
                 max_upload: int) -> None:
        self.dir = work / mode
        self.redis, url = start_embedded_redis(self.dir / "redis")
        env = {k: v for k, v in os.environ.items() if k != "STORAGE_URL"}
        env.update(REDIS_URL=url, MEDIA_ROOT=str(self.dir / "media"), PYTHONPATH=str(ROOT),
                   MAX_UPLOAD_BYTES=str(max_upload))
        if s3 is not None:
            env.update(STORAGE_URL=f"s3://{bucket}/media", AWS_ENDPOINT_URL=s3.url,
                       AWS_ACCESS_KEY_ID=s3.access_key, AWS_SECRET_ACCESS_KEY=s3.secret_key,
                       AWS_DEFAULT_REGION=s3.region)
        self.port = free_port()
        self.client = Client(f"http://127.0.0.1:{self.port}")
        self.procs = [self.redis]
        try:
            self.worker = self._spawn("worker", ["-m", "queues.worker"], env)
            self.web = self._spawn("web", ["-m", "hypercorn", "api:create_app()", "--bind",
                                           f"127.0.0.1:{self.port}"], env)
            self.client.wait_ready(self.web, self.dir / "web.log")
        except BaseException:
            self.close()
            raise

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        if "STORAGE_URL" in env:  # each process on a scratch space of its own
            env = {**env, "MEDIA_ROOT": str(self.dir / f"scratch-{name}")}
        with open(self.dir / f"{name}.log", "wb") as log:
            proc = subprocess.Popen([sys.executable, *args], env=env, cwd=ROOT, stdout=log,
                                    stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def session(self, video: bytes) -> Run:
        """Upload, poll status every 0.1 s; (id, upload→completed, when each step ended)."""
        started = time.perf_counter()
        reply = self.client.upload(f"{API}/upload", video, analysis="highlights")
        assert reply.status == 202, reply.body
        sid, marks = reply.json()["session_id"], {"upload": time.perf_counter() - started}
        while True:
            body = self.client.get(f"{API}/status/{sid}").json()
            now = time.perf_counter() - started
            for stage in body["stages"]:
                if stage["status"] == "completed":
                    marks.setdefault(stage["name"], now)
            if body["status"] in ("completed", "failed", "cancelled") or now > 600:
                break
            time.sleep(0.1)
        assert body["status"] == "completed", body
        marks["end"] = now
        self.client.delete(f"{API}/cleanup/{sid}")
        times = list(marks.values())  # in the order seen: upload, stages, end
        return sid, now, {k: b - a for k, a, b in zip(marks, [0.0, *times], times, strict=False)}

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def store_traffic(*logs: Path) -> dict[str, dict[str, list[int]]]:
    """session id → artifact → [put bytes, puts, fetched bytes, fetches], from logs."""
    per: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0] * 4))
    for line in (ln for log in logs for ln in log.read_text(errors="replace").splitlines()):
        if m := STORE_LINE.search(line):
            row = per[m[2]][m[3].rsplit("/", 1)[-1]]
            col = 0 if m[1] == "put" else 2
            row[col] += int(m[4])
            row[col + 1] += 1
    return per


def make_big_video(path: Path, mb: int) -> None:
    """A real ~mb MiB video: 2 s of noisy 720p (~170 Mbit/s) looped by stream copy."""
    short = path.with_name("short.mp4")
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=1280x720:rate=30:duration=2", "-vf", "noise=alls=40:allf=t",
                    "-c:v", "libx264", "-preset", "ultrafast", "-crf", "14", "-pix_fmt",
                    "yuv420p", "-an", str(short)], check=True)
    loops = -(-mb * MIB // short.stat().st_size)  # rounded up
    assert loops * 2 <= 900, f"{loops * 2} s of video: over MAX_VIDEO_SECONDS"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i",
                    str(short), "-c", "copy", str(path)], check=True)
    short.unlink()


def big_upload(stack: Stack, mb: int, video: Path | None) -> None:
    root = psutil.Process(stack.web.pid)
    web = [root, *root.children(recursive=True)]  # hypercorn and its serving process
    rss, health, stop = [0], [0.0], threading.Event()

    def sample_rss() -> None:
        while not stop.wait(0.05):
            rss.append(sum(p.memory_info().rss for p in web))

    def ping() -> None:
        while not stop.wait(0.1):
            t = time.perf_counter()
            assert stack.client.get("/healthz", timeout=60).status == 200
            health.append(time.perf_counter() - t)

    size = video.stat().st_size if video else mb * MIB
    boundary = secrets.token_hex(12)
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="analysis"\r\n\r\n'
            f'highlights\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="big.mp4"\r\nContent-Type: video/mp4\r\n\r\n').encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    before = sum(p.memory_info().rss for p in web)
    for target in (sample_rss, ping):
        threading.Thread(target=target, daemon=True).start()
    time.sleep(0.5)
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=900)
    conn.putrequest("POST", f"{API}/upload")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(head) + size + len(tail)))
    conn.endheaders()
    conn.send(head)
    if video is None:
        block = bytearray(os.urandom(MIB))
        for i in range(mb):
            block[:8] = i.to_bytes(8, "little")  # no two sends alike
            conn.send(block)
    else:
        with open(video, "rb") as f:
            while chunk := f.read(MIB):
                conn.send(chunk)
    conn.send(tail)
    sent, rss_sent = time.perf_counter() - started, rss[-1]
    resp = conn.getresponse()
    answer, elapsed = resp.read(), time.perf_counter() - started
    conn.close()
    stop.set()
    if resp.status == 202:  # a real video: do not let the worker chew on it
        stack.client.delete(f"{API}/cleanup/{json.loads(answer)['session_id']}")
    what = ("a real video (probed, then put into the store)" if video else
            "random bytes (refused as not a video: the store step is not reached)")
    print(f"big upload into the s3 web: {size / MIB:.0f} MiB of {what}")
    print(f"  answer {resp.status} after {elapsed:.1f} s; the client had sent it all after "
          f"{sent:.1f} s ({size / MIB / sent:.0f} MiB/s)")
    print(f"  web RSS (hypercorn + its serving process): before {before / MIB:.0f} MiB, "
          f"peak {max(rss) / MIB:.0f} MiB, growth {(max(rss) - before) / MIB:.0f} MiB "
          f"(when the client had sent it all: {rss_sent / MIB:.0f} MiB)")
    print(f"  GET /healthz every 100 ms: {len(health) - 1} answered, worst "
          f"{max(health) * 1000:.0f} ms, median {statistics.median(health[1:]) * 1000:.0f} ms")


def report(args: argparse.Namespace, size: int, null: list[float], runs: dict[str, list[Run]],
           traffic: dict[str, dict[str, list[int]]], s3: S3Endpoint) -> None:
    base = statistics.median(null)
    med = {mode: statistics.median(r[1] for r in rows) for mode, rows in runs.items()}
    print(f"clip: {args.seconds} s 1280x720 30 fps 8 Mbit/s H.264+AAC, {size / MIB:.1f} MiB; "
          f"analysis=highlights with reel; median of {args.runs}; S3 = "
          f"{'moto_server' if s3.is_moto else s3.url}")
    print(f"ffmpeg -f null: median {base:6.2f} s  runs " + " ".join(f"{v:.2f}" for v in null))
    for mode, rows in runs.items():
        print(f"{mode:>14}: median {med[mode]:6.2f} s  ({med[mode] / base:4.2f}x ffmpeg)  runs "
              + " ".join(f"{r[1]:.2f}" for r in rows))
    ratio = med["s3"] / med["local"]
    print(f"S3 / local: {ratio:.3f}  (target <= 1.10: {'met' if ratio <= 1.10 else 'MISSED'})")
    for mode, rows in runs.items():  # when each step was seen done, polling every 0.1 s
        print(f"{mode:>6} steps, median s: " + "  ".join(
            f"{name} {statistics.median(r[2][name] for r in rows):.2f}" for name in rows[0][2]))
    print("store traffic per session (worker's log + the web's put of the upload):")
    print(f"  local: {sum(sid in traffic for sid, _, _ in runs['local'])} of "
          f"{len(runs['local'])} sessions logged a transfer (one shared directory)")
    for sid, _, _ in runs["s3"]:
        per = traffic[sid]
        per["source"][:2] = [per["source"][0] + size, per["source"][1] + 1]
        put, got = sum(v[0] for v in per.values()), sum(v[2] for v in per.values())
        print(f"  s3 {sid}: put {put / MIB:.1f} MiB, fetched {got / MIB:.1f} MiB, total "
              f"{(put + got) / MIB:.1f} MiB = {(put + got) / MIB / (args.seconds / 60):.1f} "
              "MiB per minute of video")
    print(f"    {'artifact':<18}{'put MiB':>10}{'puts':>6}{'fetched MiB':>13}{'fetches':>9}"
          "   (last s3 session)")
    for name, (pb, pn, fb, fn) in sorted(per.items(), key=lambda kv: -kv[1][0] - kv[1][2]):
        print(f"    {name:<18}{pb / MIB:>10.2f}{pn:>6}{fb / MIB:>13.2f}{fn:>9}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--big-upload-mb", type=int, default=2048)
    parser.add_argument("--big-video", action="store_true",
                        help="upload a real video of that size, so the store step is measured")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-storage-"))
    clip = work / "clip.mp4"
    make_clip(clip, args.seconds)
    video = clip.read_bytes()
    with ExitStack() as cleanup:
        s3 = cleanup.enter_context(s3_test_endpoint(work))
        s3_client, bucket = s3.client(), f"bench-{secrets.token_hex(6)}"
        s3.create_bucket(s3_client, bucket)
        cleanup.callback(remove_bucket, s3_client, bucket)
        limit = (args.big_upload_mb + 512) * MIB
        stacks: dict[str, Stack] = {}
        for mode in ("local", "s3"):
            stacks[mode] = Stack(work, mode, s3 if mode == "s3" else None, bucket, limit)
            cleanup.callback(stacks[mode].close)
        null: list[float] = []
        runs: dict[str, list[Run]] = {"local": [], "s3": []}
        for i in range(args.runs):  # interleaved; which mode goes first alternates
            null.append(ffmpeg_null_seconds(clip))
            for mode in ("local", "s3")[::1 if i % 2 == 0 else -1]:
                runs[mode].append(stacks[mode].session(video))
        traffic = store_traffic(*(stack.dir / "worker.log" for stack in stacks.values()))
        report(args, len(video), null, runs, traffic, s3)
        big = work / "big.mp4" if args.big_video else None
        if big is not None:
            make_big_video(big, args.big_upload_mb)
        big_upload(stacks["s3"], args.big_upload_mb, big)
        if big is not None:
            big.unlink()
        print(f"logs: {work}")


if __name__ == "__main__":
    main()
