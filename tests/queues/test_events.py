"""The event stream every session transition writes: type, snapshot, cap, lifetime."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import fakeredis
import pytest

from queues import keys
from queues.events import (
    HASH_FIELD,
    NO_EVENT,
    Event,
    EventType,
    event_order,
    following_id,
    parse_entries,
    read_opening,
    shown,
    snapshot,
    valid_event_id,
)
from queues.session import (
    F_ERROR,
    F_JOBS,
    F_STATUS,
    LossCause,
    SessionStatus,
    StagePart,
    StageStatus,
    new_session_hash,
    stage_field,
)
from queues.store import SessionStore

STAGES = [("decode", 50.0), ("score", 50.0)]
NAMES = [name for name, _ in STAGES]
SID = "E" * 32
TOKEN = "decode-" + "1" * 16


@pytest.fixture
def fake_server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
def redis_conn(fake_server: fakeredis.FakeServer) -> fakeredis.FakeRedis:
    """The store's client, on a server an async client can share."""
    return fakeredis.FakeRedis(server=fake_server)


@pytest.fixture
def sid(store: SessionStore) -> str:
    store.create(SID, new_session_hash("workout", "{}", STAGES, time.time(), 60))
    return SID


def events(redis_conn: fakeredis.FakeRedis, sid: str) -> list[Event]:
    return parse_entries(sid, redis_conn.xrange(keys.events_key(sid)))


def body(store: SessionStore, sid: str) -> dict[str, object]:
    session = store.get(sid)
    assert session is not None
    return session.status_body()


@pytest.fixture
def written(store: SessionStore, redis_conn: fakeredis.FakeRedis,
            sid: str) -> Callable[..., list[Event]]:
    """Run a transition; the events it wrote, each checked to carry the status body after it."""

    def run(transition: Callable[[], object]) -> list[Event]:
        before = len(events(redis_conn, sid))
        transition()
        new = events(redis_conn, sid)[before:]
        for event in new:
            assert event.session.status_body() == body(store, sid)
        return new

    return run


def kinds(new: list[Event]) -> list[EventType]:
    return [e.type for e in new]


def test_creation_writes_the_queued_status_event(store: SessionStore,
                                                 redis_conn: fakeredis.FakeRedis,
                                                 sid: str) -> None:
    [first] = events(redis_conn, sid)
    assert first.type is EventType.STATUS and first.session.status is SessionStatus.QUEUED
    assert first.session.status_body() == body(store, sid)
    assert redis_conn.ttl(keys.events_key(sid)) == redis_conn.ttl(keys.session_key(sid)) > 0


def test_each_transition_writes_its_type(store: SessionStore,
                                         written: Callable[..., list[Event]]) -> None:
    start = written(lambda: store.start_stage(SID, "decode", TOKEN, "w", 10))
    assert kinds(start) == [EventType.STATUS]  # queued -> processing
    assert start[0].session.stage("decode").status is StageStatus.RUNNING
    assert kinds(written(lambda: store.progress(SID, "decode", TOKEN, 40))) == \
        [EventType.PROGRESS]
    assert kinds(written(lambda: store.end_attempt(SID, "decode", TOKEN, StageStatus.COMPLETED,
                                                   NAMES))) == [EventType.STAGE]
    score = "score-" + "2" * 16
    assert kinds(written(lambda: store.start_stage(SID, "score", score, "w", 10,
                                                   ["decode"]))) == [EventType.STAGE]
    assert kinds(written(lambda: store.end_attempt(SID, "score", score, StageStatus.PENDING,
                                                   NAMES))) == [EventType.STAGE]  # handed back
    again = "score-" + "3" * 16
    written(lambda: store.start_stage(SID, "score", again, "w2", 10, ["decode"]))
    assert kinds(written(lambda: store.reclaim(SID, "score", LossCause.KILLED, 3,
                                               owner="w2"))) == [EventType.STAGE]
    assert kinds(written(lambda: store.request_cancel(SID))) == [EventType.STATUS]
    finish = written(lambda: store.finish(SID, SessionStatus.CANCELLED, NAMES))
    assert kinds(finish) == [EventType.STATUS]
    assert finish[0].session.status is SessionStatus.CANCELLED


def test_a_restart_of_a_running_stage_is_a_stage_event(store: SessionStore,
                                                       written: Callable[..., list[Event]],
                                                       redis_conn: fakeredis.FakeRedis) -> None:
    store.start_stage(SID, "decode", TOKEN, "w", 10)
    redis_conn.zadd(keys.LEASES, {f"{SID}:decode": 0})  # its holder went silent
    new = written(lambda: store.start_stage(SID, "decode", "decode-" + "9" * 16, "w2", 10))
    assert kinds(new) == [EventType.STAGE] and new[0].session.stage("decode").attempts == 2


def test_nothing_visible_changed_no_event(store: SessionStore,
                                          written: Callable[..., list[Event]]) -> None:
    store.start_stage(SID, "decode", TOKEN, "w", 10)
    store.progress(SID, "decode", TOKEN, 40)
    assert written(lambda: store.progress(SID, "decode", TOKEN, 40)) == []  # same percent
    assert written(lambda: store.progress(SID, "decode", TOKEN, 10)) == []  # never lowered
    assert written(lambda: store.progress(SID, "decode", "decode-stale", 90)) == []
    assert written(lambda: store.renew(SID, "decode", TOKEN, 10)) == []
    assert written(lambda: store.check(SID, "decode", TOKEN)) == []
    assert written(lambda: store.update(SID, {F_JOBS: json.dumps({"decode": "j"})})) == []
    assert written(lambda: store.start_stage(SID, "score", "s", "w", 10, ["decode"])) == []
    store.request_cancel(SID)
    assert written(lambda: store.request_cancel(SID)) == []  # already cancelling
    store.finish(SID, SessionStatus.CANCELLED, NAMES)
    assert written(lambda: store.finish(SID, SessionStatus.FAILED, NAMES)) == []
    assert written(lambda: store.request_cancel(SID)) == []


def test_update_writes_the_strongest_visible_change(store: SessionStore,
                                                    written: Callable[..., list[Event]]) -> None:
    progress = stage_field("decode", StagePart.PROGRESS)
    status = stage_field("decode", StagePart.STATUS)
    assert kinds(written(lambda: store.update(SID, {progress: "5"}))) == [EventType.PROGRESS]
    assert kinds(written(lambda: store.update(SID, {progress: "6", status: "running"}))) == \
        [EventType.STAGE]
    assert kinds(written(lambda: store.update(SID, {progress: "7", F_STATUS: "processing"}))) \
        == [EventType.STATUS]
    assert kinds(written(lambda: store.update(SID, {F_ERROR: "{}"}))) == [EventType.STATUS]
    assert written(lambda: store.update(SID, {F_STATUS: "processing"})) == []  # unchanged


def test_failure_event_carries_the_problem(store: SessionStore,
                                           written: Callable[..., list[Event]]) -> None:
    store.start_stage(SID, "decode", TOKEN, "w", 10)
    problem = {"type": "/problems/x", "title": "X", "detail": "why"}
    [event] = written(lambda: store.finish(SID, SessionStatus.FAILED, NAMES, "decode",
                                           {F_ERROR: json.dumps(problem)}))
    assert event.type is EventType.STATUS and event.session.error == problem
    assert event.session.stage("decode").status is StageStatus.FAILED


def test_stream_expires_with_the_hash(store: SessionStore, redis_conn: fakeredis.FakeRedis,
                                      sid: str) -> None:
    store.finish(SID, SessionStatus.CANCELLED, NAMES)
    hash_ttl = redis_conn.pttl(keys.session_key(SID))
    assert abs(redis_conn.pttl(keys.events_key(SID)) - hash_ttl) < 1000
    assert hash_ttl <= (store.session_ttl + keys.KEY_TTL_MARGIN) * 1000


def test_stream_is_capped(store: SessionStore, redis_conn: fakeredis.FakeRedis,
                          sid: str) -> None:
    store.start_stage(SID, "decode", TOKEN, "w", 10)
    for percent in range(1, 100):
        store.progress(SID, "decode", TOKEN, percent)
        store.update(SID, {stage_field("decode", StagePart.PROGRESS): "0"})  # progress again
    stored = redis_conn.xlen(keys.events_key(SID))
    assert keys.EVENTS_MAXLEN <= stored <= keys.EVENTS_MAXLEN + 100  # "~": whole nodes
    assert events(redis_conn, SID)[-1].session.stage("decode").progress == 0


def test_an_ended_session_keeps_only_its_last_events(
        store: SessionStore, redis_conn: fakeredis.FakeRedis, sid: str) -> None:
    store.start_stage(SID, "decode", TOKEN, "w", 10)
    for percent in range(1, 100):
        store.progress(SID, "decode", TOKEN, percent)
    before = events(redis_conn, SID)
    assert store.finish(SID, SessionStatus.CANCELLED, NAMES)
    after = events(redis_conn, SID)
    assert len(after) == keys.EVENTS_KEPT_AFTER_END
    assert [e.id for e in after[:-1]] == [e.id for e in before[-len(after) + 1:]]
    assert after[-1].type is EventType.STATUS
    assert after[-1].session.status is SessionStatus.CANCELLED


def test_delete_removes_the_stream(store: SessionStore, redis_conn: fakeredis.FakeRedis,
                                   sid: str) -> None:
    store.delete(SID, NAMES)
    assert not redis_conn.exists(keys.events_key(SID))
    assert sorted(k.decode() for k in redis_conn.keys("*")  # counters are no session's
                  if not k.decode().startswith(keys.METRICS_PREFIX)) == [keys.tombstone_key(SID)]


def test_snapshot_keeps_what_status_shows_as_the_scripts_do(store: SessionStore,
                                                             redis_conn: fakeredis.FakeRedis,
                                                             sid: str) -> None:
    store.update(SID, {F_JOBS: json.dumps({"decode": "vs-decode-x"})})
    store.start_stage(SID, "decode", TOKEN, "worker-1", 10)  # its event comes from Lua
    raw = {k.decode(): v.decode() for k, v in redis_conn.hgetall(keys.session_key(SID)).items()}
    entry = redis_conn.xrevrange(keys.events_key(SID), count=1)[0][1][HASH_FIELD.encode()]
    flat = json.loads(entry)
    assert dict(zip(flat[::2], flat[1::2], strict=True)) == \
        dict(zip(*[iter(json.loads(snapshot(raw)))] * 2, strict=True))
    kept = set(flat[::2])
    assert kept == {f for f in raw if shown(f)}
    assert F_JOBS not in kept and stage_field("decode", StagePart.TOKEN) not in kept
    assert stage_field("decode", StagePart.ATTEMPTS) in kept


@pytest.mark.parametrize("text, ok", [
    ("1764672000000-0", True), ("0-0", True), ("18446744073709551615-0", True),
    ("18446744073709551616-0", False), ("18446744073709551615-18446744073709551615", False),
    ("1764672000000", False), ("-1-0", False), ("1-0 ", False), ("abc", False), ("", False),
    ("١٢-٣", False)])
def test_valid_event_id(text: str, ok: bool) -> None:
    assert valid_event_id(text) is ok


def test_event_order_is_numeric() -> None:
    assert event_order("9-0") < event_order("10-0") < event_order("10-1")
    assert following_id("10-1") == "10-2"
    assert following_id("10-18446744073709551615") == "11-0"


async def test_read_opening(store: SessionStore, redis_conn: fakeredis.FakeRedis,
                            fake_server: fakeredis.FakeServer, sid: str) -> None:
    client = fakeredis.FakeAsyncRedis(server=fake_server)
    store.start_stage(SID, "decode", TOKEN, "w", 10)
    store.progress(SID, "decode", TOKEN, 20)
    stored = events(redis_conn, SID)
    session, [now] = await read_opening(client, SID, None)
    assert now.type is EventType.STATUS and now.id == stored[-1].id
    assert session is not None and now.session.status_body() == session.status_body()
    _, replay = await read_opening(client, SID, stored[0].id)
    assert [e.id for e in replay] == [e.id for e in stored[1:]]
    _, after_all = await read_opening(client, SID, stored[-1].id)
    assert after_all == []
    store.delete(SID)
    assert await read_opening(client, SID, NO_EVENT) == (None, [])
    await client.aclose()
