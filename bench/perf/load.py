"""A small HTTP/1.1 load generator for the status figures: open-loop latency and capacity.

Raw keep-alive connections on asyncio, no HTTP library: at a few thousand requests a second
the client must cost far less than the server it measures (it runs on the same machine).

- :func:`open_loop`: requests fired on a fixed schedule (``rate`` per second) whatever the
  answers do; each latency is counted from the request's *scheduled* time, so a stalled
  server shows up in the figures instead of slowing the client down (no coordinated
  omission).
- :func:`capacity`: ``connections`` clients each sending the next request as soon as the
  answer arrives; the completed requests per second.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class LoadFigures:
    requests: int
    errors: int  # answers other than 200, and broken connections
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
        return cls(*await asyncio.open_connection(host, port))

    async def get(self, request: bytes) -> int:
        """Send one request, read the whole answer; its status code."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


def _request(host: str, port: int, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()


def _figures(latencies: list[float], errors: int, seconds: float) -> LoadFigures:
    ordered = sorted(latencies) or [0.0]
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return LoadFigures(len(latencies), errors, seconds, 1000 * statistics.median(ordered),
                       1000 * p99, 1000 * ordered[-1])


async def open_loop(host: str, port: int, path: str, rate: float, seconds: float,
                    connections: int = 32) -> LoadFigures:
    request = _request(host, port, path)
    idle: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(await _Connection.open(host, port))
    latencies: list[float] = []
    errors = 0

    async def one(due: float) -> None:
        nonlocal errors
        conn = await idle.get()
        try:
            if await conn.get(request) != 200:
                errors += 1
        except (OSError, asyncio.IncompleteReadError):
            errors += 1
            conn = await _Connection.open(host, port)
        latencies.append(time.perf_counter() - due)
        idle.put_nowait(conn)

    start = time.perf_counter()
    tasks = []
    for i in range(int(rate * seconds)):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    while not idle.empty():
        idle.get_nowait().close()
    return _figures(latencies, errors, elapsed)


async def capacity(host: str, port: int, path: str, seconds: float,
                   connections: int = 16) -> LoadFigures:
    request = _request(host, port, path)
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors
        conn = await _Connection.open(host, port)
        while (sent := time.perf_counter()) < stop_at:
            if await conn.get(request) != 200:
                errors += 1
            latencies.append(time.perf_counter() - sent)
        conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    return _figures(latencies, errors, time.perf_counter() - start)
