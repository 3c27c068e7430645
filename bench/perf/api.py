"""Figures of the API under load: status polling while workers are busy, idle capacity, and
the web's memory and liveness during a 2 GiB upload sent as fast as loopback allows."""

from __future__ import annotations

import asyncio
import http.client
import os
import secrets
import statistics
import threading
import time
from pathlib import Path

from bench.perf.load import LoadFigures, capacity, open_loop
from bench.perf.stack import Stack, rss_kib, tree

MIB = 1 << 20


def status_path(sid: str) -> str:
    return f"/api/v1/video/status/{sid}"


def idle_capacity(stack: Stack, sid: str, seconds: float = 5) -> LoadFigures:
    """Requests per second one web process answers with nothing else running."""
    asyncio.run(capacity("127.0.0.1", stack.port, status_path(sid), 1))  # warm-up
    return asyncio.run(capacity("127.0.0.1", stack.port, status_path(sid), seconds))


def busy_latency(stack: Stack, video: Path, rate: float = 200, seconds: float = 10
                 ) -> LoadFigures:
    """Status polls at ``rate`` per second while two sessions run on the stack's workers;
    measured once both are well into their decode."""
    sids = [stack.upload(video, analysis="all") for _ in range(2)]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        bodies = [stack.status(s) for s in sids]
        if all(b["status"] == "processing" and b["progress"] >= 2 for b in bodies):
            break
        time.sleep(0.1)
    figures = asyncio.run(open_loop("127.0.0.1", stack.port, status_path(sids[0]), rate,
                                    seconds))
    still = [stack.status(s)["status"] for s in sids]
    assert still == ["processing", "processing"], f"work ended during the measurement: {still}"
    for sid in sids:
        stack.wait(sid)
        stack.client.delete(f"/api/v1/video/cleanup/{sid}")
    return figures


def big_upload(stack: Stack, path: str, mb: int = 2048) -> dict[str, float]:
    """Send ``mb`` MiB of random bytes (refused as not a video once stored) in 1 MiB sends;
    the web tree's RSS growth and the slowest /healthz answer meanwhile."""
    web = tree(stack.web.pid)
    rss, health, stop = [sum(rss_kib(p) for p in web)], [0.0], threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            rss.append(sum(rss_kib(p) for p in web))

    def ping() -> None:
        while not stop.wait(0.1):
            started = time.perf_counter()
            assert stack.client.get("/healthz").status == 200
            health.append(time.perf_counter() - started)

    threads = [threading.Thread(target=t, daemon=True) for t in (sample, ping)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    boundary = secrets.token_hex(12)
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"'
            f'\r\nContent-Type: video/mp4\r\n\r\n').encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=900)
    conn.putrequest("POST", path)
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(head) + mb * MIB + len(tail)))
    conn.endheaders()
    conn.send(head)
    block = bytearray(os.urandom(MIB))
    started = time.perf_counter()
    for i in range(mb):
        block[:8] = i.to_bytes(8, "little")
        conn.send(block)
    conn.send(tail)
    sent = time.perf_counter() - started
    status = conn.getresponse().status
    conn.close()
    stop.set()
    for thread in threads:
        thread.join()
    return {"status": status, "mib_per_s": mb / sent, "rss_growth_mb": (max(rss) - rss[0]) / 1024,
            "healthz_worst_ms": 1000 * max(health),
            "healthz_median_ms": 1000 * statistics.median(health[1:] or [0.0])}
