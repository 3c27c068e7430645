"""What Server-Sent Events cost one web process: memory, CPU and event latency with 200
concurrent streams (``python bench/sse.py [--streams 200] [--events 100]``).

Runs redis-server and the Procfile's web command (``bench.perf.stack``, no worker), makes
one session, opens the streams with a raw asyncio client (one task per stream, no thread),
then writes events the way a worker does (``SessionStore.progress``, then ``end_attempt``),
stamping each write, and takes the time each stream receives it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.perf.stack import Stack, rss_kib, tree  # noqa: E402
from queues.session import StageStatus, new_session_hash  # noqa: E402
from queues.store import SessionStore  # noqa: E402

SID = "B" * 32
STAGES = ["decode", "score"]
TOKEN = "decode-" + "b" * 16
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """user + system CPU time of processes (their own, not their children's)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


class Client:
    """One event stream over a raw HTTP/1.1 connection (chunked body decoded by hand)."""

    def __init__(self) -> None:
        self.received: list[float] = []  # perf_counter of each live event, in order
        self.heartbeats = 0
        self.ready = asyncio.Event()  # the opening status event arrived

    async def run(self, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /api/v1/video/events/{SID} HTTP/1.1\r\nHost: bench\r\n"
                     "Accept: text/event-stream\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        buffer = b""
        try:
            while True:
                size = int((await reader.readline()).strip(), 16)
                if size == 0:
                    return
                buffer += await reader.readexactly(size + 2)
                buffer = buffer[:-2]
                while b"\n\n" in buffer:
                    block, buffer = buffer.split(b"\n\n", 1)
                    self._on_block(block)
        finally:
            writer.close()

    def _on_block(self, block: bytes) -> None:
        if block.startswith(b": keep-alive"):
            self.heartbeats += 1
        elif b"\nevent: " in block:
            if self.ready.is_set():
                self.received.append(time.perf_counter())
            self.ready.set()


def write_events(store: SessionStore, count: int, gap: float) -> list[float]:
    """``count`` events as a worker writes them; the perf_counter just before each write."""
    stamps = []
    for percent in range(1, count):
        stamps.append(time.perf_counter())
        assert store.progress(SID, "decode", TOKEN, percent)
        time.sleep(gap)
    stamps.append(time.perf_counter())
    store.end_attempt(SID, "decode", TOKEN, StageStatus.COMPLETED, STAGES)
    return stamps


def sample(pids: list[int], seconds: float) -> tuple[float, int]:
    """CPU share (% of one core) over ``seconds``, and RSS (KiB) at the end."""
    start = cpu_seconds(pids)
    time.sleep(seconds)
    return 100 * (cpu_seconds(pids) - start) / seconds, sum(rss_kib(p) for p in pids)


def redis_clients(conn: redis.Redis) -> tuple[int, int]:
    """Connections of others than ``conn`` (the web's: no worker runs), and how many of
    them are blocked in XREAD (the web's event reader)."""
    me = conn.client_id()
    others = [c for c in conn.client_list() if int(c["id"]) != me]
    return len(others), sum(c["cmd"] == "xread" for c in others)


async def measure(stack: Stack, store: SessionStore, conn: redis.Redis, streams: int,
                  events: int, gap: float, idle: float) -> dict[str, str]:
    pids = tree(stack.web.pid)
    cpu0, rss0 = await asyncio.to_thread(sample, pids, idle)
    clients0 = redis_clients(conn)
    opened = time.perf_counter()
    clients = [Client() for _ in range(streams)]
    tasks = []
    for batch in range(0, streams, 50):  # within hypercorn's listen backlog (100)
        tasks += [asyncio.create_task(c.run(stack.port)) for c in clients[batch:batch + 50]]
        await asyncio.gather(*(c.ready.wait() for c in clients[batch:batch + 50]))
    open_seconds = time.perf_counter() - opened
    clients1 = redis_clients(conn)
    cpu1, rss1 = await asyncio.to_thread(sample, pids, idle)
    cpu_start = cpu_seconds(pids)
    stamps = await asyncio.to_thread(write_events, store, events, gap)
    deadline = time.monotonic() + 30
    while any(len(c.received) < events for c in clients) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    busy = cpu_seconds(pids) - cpu_start
    latencies = sorted((c.received[i] - stamps[i]) * 1000 for c in clients
                       for i in range(min(events, len(c.received))))
    complete = sum(len(c.received) == events for c in clients)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    return {
        "streams open (all got every event)": f"{streams} ({complete})",
        "time to open them all (connect + first event)": f"{open_seconds:.2f} s",
        "web's Redis connections: no stream / streams open (in XREAD)":
            f"{clients0[0]} / {clients1[0]} ({clients1[1]})",
        "web RSS: no stream / streams open": f"{rss0 / 1024:.1f} / {rss1 / 1024:.1f} MiB "
                                             f"(+{(rss1 - rss0) / streams:.1f} KiB per stream)",
        f"web CPU idle ({idle:.0f} s): no stream / streams open":
            f"{cpu0:.2f} % / {cpu1:.2f} % of a core",
        "web CPU per event fanned out to every stream": f"{1000 * busy / events:.2f} ms",
        f"latency write -> receipt ({events} events x {streams})":
            f"p50 {statistics.median(latencies):.2f} ms, p99 {p99:.2f} ms, "
            f"max {latencies[-1]:.2f} ms",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between events")
    parser.add_argument("--idle", type=float, default=15.0, help="CPU sampling window, s")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with Stack(workers=0) as stack:
        conn = redis.Redis.from_url(stack.redis_url)
        store = SessionStore(conn, 3600, 3600)
        store.create(SID, new_session_hash("workout", "{}", [(s, 50.0) for s in STAGES],
                                           time.time(), 3600))
        assert store.start_stage(SID, "decode", TOKEN, "bench", 3600)[0] == "ok"
        stack.status(SID)  # warm the web up
        figures = asyncio.run(measure(stack, store, conn, args.streams, args.events,
                                      args.gap, args.idle))
        conn.close()
    width = max(map(len, figures))
    print(f"{'figure':<{width}} | value")
    print(f"{'-' * width}-|-{'-' * 40}")
    for name, value in figures.items():
        print(f"{name:<{width}} | {value}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
