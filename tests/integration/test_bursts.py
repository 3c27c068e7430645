"""Many uploads at once, and cancel/cleanup racing a worker that starts the job."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from tests.integration.conftest import Service

API = "/api/v1/video"
BURST = 50


@pytest.fixture(scope="module")
def tiny(video_factory: Callable[..., Path]) -> Path:
    return video_factory("burst", seconds=2, size="160x120", fps=15)


def mentions(conn: redis.Redis, sid: str) -> list[str]:
    """Every key whose name holds ``sid``, and every collection with a member that does."""
    found = []
    for raw in conn.scan_iter(count=1000):
        key = raw.decode()
        if sid in key:
            found.append(key)
            continue
        kind = conn.type(key).decode()
        members: list[bytes] = []
        if kind == "zset":
            members = conn.zrange(key, 0, -1)
        elif kind == "set":
            members = list(conn.smembers(key))
        elif kind == "list":
            members = conn.lrange(key, 0, -1)
        if any(sid in m.decode(errors="replace") for m in members):
            found.append(f"{key} (member)")
    return sorted(found)


def test_cancel_then_cleanup_leaves_only_the_tombstone(service: Service, tiny: Path) -> None:
    sids = []
    for _ in range(8):  # the race with a worker starting the job is won both ways
        reply = service.client.upload(f"{API}/upload", tiny, analysis="all")
        assert reply.status == 202, reply.body
        sid = reply.json()["session_id"]
        assert service.client.post(f"{API}/cancel/{sid}").status in (200, 202)
        assert service.client.delete(f"{API}/cleanup/{sid}").status == 200
        sids.append(sid)
    deadline = time.monotonic() + 15  # a worker's late writes are purged within seconds
    left = {sid: mentions(service.redis, sid) for sid in sids}
    while any(found != [f"vs:tomb:{sid}"] for sid, found in left.items()):
        assert time.monotonic() < deadline, left
        time.sleep(0.5)
        left = {sid: mentions(service.redis, sid) for sid in sids}
    for sid in sids:
        assert not (service.media_root / "sessions" / sid).exists()


def test_a_burst_of_uploads_all_completes(service: Service, tiny: Path) -> None:
    started = time.monotonic()
    single = service.client.upload(f"{API}/upload", tiny, analysis="all").json()["session_id"]
    assert service.client.wait(single)[-1]["status"] == "completed"
    one = time.monotonic() - started

    def upload(_: int) -> str:
        reply = service.client.upload(f"{API}/upload", tiny, analysis="all")
        assert reply.status == 202, reply.body
        return str(reply.json()["session_id"])

    started = time.monotonic()
    with ThreadPoolExecutor(BURST) as pool:
        sids = list(pool.map(upload, range(BURST)))
    pending = set(sids)
    while pending:
        elapsed = time.monotonic() - started
        # two workers: about half of BURST single sessions, plus a repair's worth of slack
        assert elapsed < BURST * one / 2 * 1.5 + 30, (elapsed, len(pending))
        for sid in list(pending):
            body = service.client.get(f"{API}/status/{sid}").json()
            assert body["status"] in ("queued", "processing", "completed"), body
            if body["status"] == "completed":
                pending.discard(sid)
        time.sleep(0.5)
    total = time.monotonic() - started
    print(f"{BURST} uploads at once: all completed in {total:.1f} s "
          f"(one alone: {one:.1f} s)")
