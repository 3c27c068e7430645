"""GET /api/v1/video/events/<id> through the real app on fakeredis (streamed responses)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import fakeredis
import pytest
from quart import Quart
from quart.testing.connections import TestHTTPConnection as Connection

from api.event_hub import QUEUE_SIZE, End, EventHub, dedicated_reader
from queues import keys
from queues.connection import session_store
from queues.session import SessionStatus, StageStatus, new_session_hash
from queues.settings import Settings
from queues.store import SessionStore

API = "/api/v1/video"
SID = "S" * 32
NAMES = ["decode", "score"]
TOKEN = "decode-" + "1" * 16


@pytest.fixture
def store(sync_client: fakeredis.FakeRedis, settings: Settings) -> SessionStore:
    return session_store(sync_client, settings)


@pytest.fixture
def sid(store: SessionStore) -> str:
    store.create(SID, new_session_hash("workout", "{}", [(n, 50.0) for n in NAMES],
                                       time.time(), 60))
    return SID


class Stream:
    """An open event stream: its status, headers, and its SSE blocks one by one."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.buffer = b""
        self.ended = False

    async def block(self, timeout: float = 5.0) -> dict[str, str] | None:
        """The next SSE block as {field: value} (":" for a comment); None at the end."""
        while b"\n\n" not in self.buffer:
            chunk = await asyncio.wait_for(self.conn.receive(), timeout)
            if chunk == b"":
                self.ended = True
                assert self.buffer == b""
                return None
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\n\n", 1)
        fields: dict[str, str] = {}
        for line in raw.decode().split("\n"):
            name, _, value = line.partition(":")
            fields[name or ":"] = value.removeprefix(" ")
        return fields

    async def event(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next event (comments skipped), its data decoded."""
        while (block := await self.block(timeout)) is not None:
            if ":" not in block:
                return {**block, "data": json.loads(block["data"])}
        raise AssertionError("the stream ended")

    async def rest(self) -> list[dict[str, str]]:
        blocks = []
        while (block := await self.block()) is not None:
            blocks.append(block)
        return blocks


@pytest.fixture
async def open_stream(app: Quart) -> AsyncIterator[Callable[..., Any]]:
    opened: list[Connection] = []

    async def connect(sid: str, headers: dict[str, str] | None = None,
                      query: str = "") -> Stream:
        conn = await app.test_client().request(f"{API}/events/{sid}{query}",
                                               headers=headers).__aenter__()
        opened.append(conn)
        await conn.send_complete()
        stream = Stream(conn)
        first = await stream.block()
        if conn.status_code == 200:
            assert first == {"retry": "2000"}
        return stream

    yield connect
    for conn in opened:
        await conn.disconnect()
        await asyncio.wait_for(conn.__aexit__(None, None, None), 5)  # the handler ends


async def status_body(app: Quart, sid: str) -> Any:
    return await (await app.test_client().get(f"{API}/status/{sid}")).get_json()


def hub(app: Quart) -> EventHub:
    return app.extensions["event_hub"]  # type: ignore[no-any-return]


async def test_live_events_until_completed(app: Quart, store: SessionStore, sid: str,
                                           open_stream: Callable[..., Any],
                                           sync_client: fakeredis.FakeRedis) -> None:
    stream = await open_stream(sid, headers={"Origin": "https://app.example"})
    assert stream.conn.status_code == 200
    headers = stream.conn.headers
    assert headers["Content-Type"].startswith("text/event-stream")
    assert headers["Cache-Control"] == "no-cache" and headers["X-Accel-Buffering"] == "no"
    assert headers["Access-Control-Allow-Origin"] == "https://app.example"
    first = await stream.event()
    newest = sync_client.xrevrange(keys.events_key(sid), count=1)[0][0].decode()
    assert first["event"] == "status" and first["id"] == newest
    assert first["data"] == await status_body(app, sid)

    async def expect(kind: str) -> None:
        event = await stream.event()
        assert event["event"] == kind
        assert event["data"] == await status_body(app, sid)

    store.start_stage(sid, "decode", TOKEN, "w", 10)
    await expect("status")
    store.progress(sid, "decode", TOKEN, 30)
    await expect("progress")
    store.end_attempt(sid, "decode", TOKEN, StageStatus.COMPLETED, NAMES)
    await expect("stage")
    score = "score-" + "2" * 16
    store.start_stage(sid, "score", score, "w", 10, ["decode"])
    await expect("stage")
    store.end_attempt(sid, "score", score, StageStatus.COMPLETED, NAMES)
    await expect("stage")
    store.finish(sid, SessionStatus.COMPLETED, NAMES)
    await expect("status")
    assert await stream.block() is None  # the stream ends after the terminal event
    await asyncio.sleep(0)
    assert hub(app).subscribers == 0


async def test_reconnect_replays_exactly_what_was_missed(store: SessionStore, sid: str,
                                                         open_stream: Callable[..., Any],
                                                         sync_client: fakeredis.FakeRedis,
                                                         ) -> None:
    stream = await open_stream(sid)
    seen = (await stream.event())["id"]
    store.start_stage(sid, "decode", TOKEN, "w", 10)
    for percent in (10, 20, 30):
        store.progress(sid, "decode", TOKEN, percent)
    stored = [i.decode() for i, _ in sync_client.xrange(keys.events_key(sid))]
    missed = stored[stored.index(seen) + 1:]
    assert len(missed) == 4
    again = await open_stream(sid, headers={"Last-Event-ID": seen})
    assert [(await again.event())["id"] for _ in missed] == missed
    store.progress(sid, "decode", TOKEN, 40)
    live = await again.event()
    assert live["event"] == "progress" and live["data"]["stages"][0]["progress"] == 40
    by_query = await open_stream(sid, query=f"?last_event_id={missed[-1]}")
    assert (await by_query.event())["id"] == live["id"]


async def test_finished_session(store: SessionStore, sid: str, open_stream: Callable[..., Any],
                                sync_client: fakeredis.FakeRedis) -> None:
    store.request_cancel(sid)
    store.finish(sid, SessionStatus.CANCELLED, NAMES)
    stored = [i.decode() for i, _ in sync_client.xrange(keys.events_key(sid))]
    after_end = await open_stream(sid, headers={"Last-Event-ID": stored[-1]})
    assert after_end.conn.status_code == 204
    snapshot = await open_stream(sid)
    blocks = await snapshot.rest()
    assert [(b["event"], b["id"]) for b in blocks] == [("status", stored[-1])]
    assert json.loads(blocks[0]["data"])["status"] == "cancelled"
    replay = await open_stream(sid, headers={"Last-Event-ID": stored[0]})
    assert [b["id"] for b in await replay.rest()] == stored[1:]  # cancelling, cancelled


async def test_heartbeat(make_app: Callable[..., Quart], store: SessionStore, sid: str) -> None:
    app = make_app(sse_heartbeat=0.1)
    async with app.test_app():
        async with app.test_client().request(f"{API}/events/{sid}") as conn:
            await conn.send_complete()
            stream = Stream(conn)
            assert await stream.block() == {"retry": "2000"}
            assert (await stream.block())["event"] == "status"
            started = time.monotonic()
            assert await stream.block() == {":": "keep-alive"}
            assert await stream.block() == {":": "keep-alive"}
            assert 0.15 < time.monotonic() - started < 2
            await conn.disconnect()
        await asyncio.sleep(0)
        assert hub(app).subscribers == 0  # unsubscribed when the client went


async def test_deleted_while_streaming(app: Quart, store: SessionStore, sid: str,
                                       open_stream: Callable[..., Any]) -> None:
    stream = await open_stream(sid)
    await stream.event()
    store.delete(sid, NAMES)
    assert await stream.block() == {"event": "deleted", "data": json.dumps(
        {"session_id": sid, "status": "deleted"})}
    assert await stream.block() is None
    gone = await app.test_client().get(f"{API}/events/{sid}")
    assert gone.status_code == 410


async def test_errors_before_any_stream(app: Quart, sid: str) -> None:
    client = app.test_client()
    unknown = await client.get(f"{API}/events/{'U' * 32}")
    assert unknown.status_code == 404 and unknown.content_type == "application/problem+json"
    for headers, query in (({"Last-Event-ID": "12"}, ""), ({}, "?last_event_id=1-x")):
        bad = await client.get(f"{API}/events/{sid}{query}", headers=headers)
        assert bad.status_code == 400 and (await bad.get_json())["code"] == "bad_event_id"


async def test_cors_preflight_allows_last_event_id(app: Quart, sid: str) -> None:
    reply = await app.test_client().options(f"{API}/events/{sid}", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "last-event-id"})
    assert reply.status_code == 200
    assert reply.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "last-event-id" in reply.headers["Access-Control-Allow-Headers"].lower()


async def test_nothing_at_or_before_last_event_id_is_sent(store: SessionStore, sid: str,
                                                          open_stream: Callable[..., Any],
                                                          ) -> None:
    ahead = f"{int(time.time() * 1000) + 60_000}-0"  # a client that claims the future
    stream = await open_stream(sid, headers={"Last-Event-ID": ahead})
    store.start_stage(sid, "decode", TOKEN, "w", 10)
    with pytest.raises(TimeoutError):
        await stream.event(timeout=0.3)


async def test_a_slow_subscriber_is_dropped(store: SessionStore, sid: str,
                                            server: fakeredis.FakeServer) -> None:
    client = fakeredis.FakeAsyncRedis(server=server)
    events = EventHub(dedicated_reader(client), client)
    slow = await events.subscribe(sid)
    store.start_stage(sid, "decode", TOKEN, "w", 10)
    for percent in range(1, QUEUE_SIZE + 5):
        store.progress(sid, "decode", TOKEN, percent)
    for _ in range(50):
        await asyncio.sleep(0.02)
        if events.subscribers == 0:
            break
    received = []
    while not isinstance(item := await slow.next(1.0), End):
        assert item is not None
        received.append(item.id)
    assert item is End.DROPPED and len(received) == QUEUE_SIZE
    assert events.subscribers == 0
    await events.close()
    await client.aclose()


async def test_the_reader_rides_out_a_redis_outage(app: Quart, store: SessionStore, sid: str,
                                                   open_stream: Callable[..., Any],
                                                   server: fakeredis.FakeServer,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "api.event_hub")
    stream = await open_stream(sid)
    await stream.event()
    server.connected = False  # every client's calls fail, the hub's reader's too
    await asyncio.sleep(1.5)
    server.connected = True
    store.start_stage(sid, "decode", TOKEN, "w", 10)
    event = await stream.event(timeout=5)
    assert event["event"] == "status" and event["data"]["status"] == "processing"
    messages = [r.getMessage() for r in caplog.records if r.name == "api.event_hub"]
    assert len(messages) == 2 and "answers again" in messages[1], messages
