"""Server-Sent Events through real processes: workers write, a second web process streams."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from queues import keys
from queues.embedded import free_port
from queues.session import new_session_hash
from queues.store import SessionStore
from tests.integration.conftest import ROOT, Service
from tests.integration.http import WEB_ARGS, Client
from tests.integration.sse import EventStream

API = "/api/v1/video"
HEARTBEAT = 0.3


@pytest.fixture(scope="module")
def clips(video_factory: Callable[..., Path]) -> dict[str, Path]:
    """The clips of test_service (made once per test session)."""
    return {"short": video_factory("int-audio", seconds=12, size="320x240", fps=25),
            "long": video_factory("int-long", seconds=90, size="640x360", fps=30)}


@pytest.fixture(scope="module")
def sse_web(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    """A second web process on the same Redis, with a short heartbeat: the events the
    workers write reach every web process."""
    log = tmp_path_factory.mktemp("sse-web") / "web.log"
    port = free_port()
    url = service.redis.connection_pool.connection_kwargs
    env = {**os.environ, "REDIS_URL": f"redis://{url['host']}:{url['port']}/{url['db']}",
           "MEDIA_ROOT": str(service.media_root), "SSE_HEARTBEAT": str(HEARTBEAT),
           "PYTHONPATH": str(ROOT)}
    with open(log, "wb") as out:
        web = subprocess.Popen([sys.executable, *WEB_ARGS, "--bind", f"127.0.0.1:{port}"],
                               env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    client = Client(f"http://127.0.0.1:{port}")
    try:
        client.wait_ready(web, log)
        yield client
    finally:
        web.terminate()
        web.wait(15)


def upload(service: Service, video: Path) -> str:
    reply = service.client.upload(f"{API}/upload", video, analysis="all",
                                  target_duration="4")
    assert reply.status == 202, reply.body
    return str(reply.json()["session_id"])


def stream(web: Client, sid: str, last_id: str | None = None) -> EventStream:
    headers = {} if last_id is None else {"Last-Event-ID": last_id}
    return EventStream(web.base_url, f"{API}/events/{sid}", headers)


def stored_ids(service: Service, sid: str) -> list[str]:
    return [i.decode() for i, _ in service.redis.xrange(keys.events_key(sid))]


def test_an_upload_streams_to_completed(service: Service, sse_web: Client,
                                        clips: dict[str, Path]) -> None:
    sid = upload(service, clips["short"])
    with stream(sse_web, sid) as live:
        assert live.status == 200 and live.headers["content-type"] == "text/event-stream"
        assert live.block() == {"retry": "2000"}
        seen = live.events()  # up to the end of the stream
    assert seen[0]["event"] == "status"
    assert seen[-1]["event"] == "status" and seen[-1]["data"]["status"] == "completed"
    assert seen[-1]["data"]["progress"] == 100
    kinds = {e["event"] for e in seen[1:]}
    assert {"progress", "stage", "status"} <= kinds, kinds
    progress = [e["data"]["progress"] for e in seen]
    assert progress == sorted(progress)
    # What came live is exactly what was stored after the first event's id.
    with stream(sse_web, sid, "0-0") as replay:
        history = replay.events()
    ids = [e["id"] for e in history]
    assert ids == stored_ids(service, sid)
    start = ids.index(seen[0]["id"])
    assert [(e["id"], e["event"], e["data"]) for e in seen[1:]] == \
        [(e["id"], e["event"], e["data"]) for e in history[start + 1:]]
    assert history[-1]["data"] == service.client.get(f"{API}/status/{sid}").json()
    with stream(sse_web, sid, ids[-1]) as after_end:
        assert after_end.status == 204  # EventSource stops reconnecting


def test_a_reconnect_replays_exactly_what_was_missed(service: Service, sse_web: Client,
                                                     clips: dict[str, Path]) -> None:
    sid = upload(service, clips["short"])
    with stream(sse_web, sid) as first:
        before = [first.event()]
        while (event := first.event()) is not None and event["event"] != "progress":
            before.append(event)
        assert event is not None
        before.append(event)
    time.sleep(1.0)  # the workers go on meanwhile
    with stream(sse_web, sid, before[-1]["id"]) as again:
        after = again.events()
    ids = stored_ids(service, sid)
    assert after[-1]["data"]["status"] == "completed"
    assert [e["id"] for e in after] == ids[ids.index(before[-1]["id"]) + 1:]


def test_cancel_streams_cancelling_then_cancelled(service: Service, sse_web: Client,
                                                  clips: dict[str, Path]) -> None:
    sid = upload(service, clips["long"])
    with stream(sse_web, sid) as live:
        while (event := live.event()) is not None and event["event"] != "progress":
            pass
        assert service.client.post(f"{API}/cancel/{sid}").status in (200, 202)
        rest = live.events()
    statuses = [e["data"]["status"] for e in rest if e["event"] == "status"]
    assert statuses[0] == "cancelling" and statuses[-1] == "cancelled", statuses
    assert rest[-1]["event"] == "status"  # the terminal event ends the stream


def test_deleting_a_watched_session_sends_deleted(service: Service, sse_web: Client,
                                                  clips: dict[str, Path]) -> None:
    sid = upload(service, clips["long"])
    with stream(sse_web, sid) as live:
        while (event := live.event()) is not None and event["event"] != "progress":
            pass
        assert service.client.delete(f"{API}/cleanup/{sid}").status == 200
        rest = live.events()
    assert rest[-1] == {"event": "deleted", "data": {"session_id": sid, "status": "deleted"}}
    assert sse_web.get(f"{API}/events/{sid}").status == 410
    assert not service.redis.exists(keys.events_key(sid))


def test_heartbeats_on_a_quiet_stream(service: Service, sse_web: Client) -> None:
    # A session no worker will pick up: created by hand and left out of the active set.
    sid = "H" * 32
    store = SessionStore(service.redis, 60, 60)
    store.create(sid, new_session_hash("workout", "{}", [("decode", 50.0), ("score", 50.0)],
                                       time.time(), 60))
    service.redis.srem(keys.ACTIVE_SESSIONS, sid)
    try:
        with stream(sse_web, sid) as quiet:
            assert quiet.block() == {"retry": "2000"}
            assert quiet.block()["event"] == "status"  # type: ignore[index]
            started = time.monotonic()
            assert quiet.block() == {":": "keep-alive"}
            assert quiet.block() == {":": "keep-alive"}
            assert HEARTBEAT * 1.5 < time.monotonic() - started < HEARTBEAT * 2 + 1.0
    finally:
        store.delete(sid)
