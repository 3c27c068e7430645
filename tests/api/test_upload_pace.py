"""An upload must arrive within a deadline and at a minimum rate (no slowloris trickle)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from quart import Quart

from api.errors import UploadTooSlow
from api.pace import UploadLimits, UploadPace
from api.upload import receive_upload
from queues.settings import Settings
from stages.workspace import Storage
from tests.api.test_upload import assert_problem, workspaces

HEAD = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n\r\n'
TAIL = b"\r\n--b--\r\n"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def pace(clock: FakeClock, **limits: float) -> UploadPace:
    defaults = dict(max_bytes=10**9, idle_timeout=60, deadline=3600, min_rate=8192)
    return UploadPace(UploadLimits(**{**defaults, **limits}), clock)  # type: ignore[arg-type]


def test_steady_phone_upload_passes() -> None:
    clock = FakeClock()
    watched = pace(clock)
    for _ in range(3000):  # 50 min at 64 KiB/s: slow 3G, well inside the limits
        clock.now += 1
        watched.received(64 * 1024)


def test_one_byte_a_second_is_stopped_after_one_window() -> None:
    clock = FakeClock()
    watched = pace(clock)
    with pytest.raises(UploadTooSlow, match="bytes/s"):
        for _ in range(120):
            clock.now += 1
            watched.received(1)
    assert clock.now == 60


def test_a_fast_start_does_not_buy_a_long_trickle() -> None:
    clock = FakeClock()
    watched = pace(clock)
    watched.received(100 * 1024 * 1024)  # 100 MiB at once, then a byte a second
    with pytest.raises(UploadTooSlow):
        for _ in range(300):
            clock.now += 1
            watched.received(1)
    assert clock.now <= 62  # judged on the last window, not the average since the start


def test_deadline_stops_an_upload_that_keeps_the_rate() -> None:
    clock = FakeClock()
    watched = pace(clock, deadline=600)
    with pytest.raises(UploadTooSlow, match="600 s"):
        for _ in range(1000):
            clock.now += 1
            watched.received(1024 * 1024)
    assert clock.now == 600


def test_waiting_never_outlasts_the_deadline() -> None:
    clock = FakeClock()
    watched = pace(clock, idle_timeout=60, deadline=100)
    assert watched.wait_budget() == 60
    clock.now = 90
    assert watched.wait_budget() == 10
    assert watched.nothing_arrived().code == "upload_stalled"
    clock.now = 100
    assert watched.wait_budget() == 0 and watched.nothing_arrived().code == "upload_too_slow"


async def trickle(seconds: float) -> AsyncIterator[bytes]:
    """A multipart body whose video part arrives at 200 bytes/s, then ends properly."""
    yield HEAD
    for _ in range(int(seconds / 0.05)):
        await asyncio.sleep(0.05)
        yield b"\0" * 10
    yield TAIL


async def test_trickling_body_is_refused_while_streaming(tmp_path: Path) -> None:
    workspace = Storage(tmp_path).create("S" * 32)
    limits = UploadLimits(10**6, idle_timeout=0.5, deadline=30, min_rate=1000)
    with pytest.raises(UploadTooSlow):
        await receive_upload("multipart/form-data; boundary=b", trickle(2), workspace, limits,
                             check_fields=lambda fields: None)


@pytest.mark.parametrize("route", ["/api/v1/video/upload", "/analyze/highlights"])
async def test_slow_upload_is_408_and_leaves_nothing(make_app: Callable[..., Quart],
                                                     settings: Settings, route: str) -> None:
    app = make_app(upload_idle_timeout=0.5, upload_min_rate=1000)
    async with app.test_app():
        async with app.test_client().request(route, method="POST", headers={
                "Content-Type": "multipart/form-data; boundary=b"}) as connection:
            async for chunk in trickle(1.0):
                await connection.send(chunk)
            await connection.send_complete()
        body = await assert_problem(await connection.as_response(), 408)
    assert body["code"] == "upload_too_slow"
    assert workspaces(settings) == []  # the session directory and its temp file are gone
