"""The session hash schema: round trip, monotonic progress, terminal status set once."""

from __future__ import annotations

import time

import fakeredis

from queues import keys
from queues.session import (
    Session,
    SessionStatus,
    SessionStore,
    StageStatus,
    new_session_hash,
)

STAGES = [("decode", 45.0), ("score", 10.0), ("select", 5.0), ("render", 40.0)]
SID = "A" * 32


def create(store: SessionStore, sid: str = SID) -> None:
    store.create(sid, new_session_hash("highlights", "{}", STAGES, time.time(), 60))


def test_round_trip(store: SessionStore) -> None:
    create(store)
    session = store.get(SID)
    assert session is not None
    body = session.status_body()
    assert body["status"] == "queued" and body["progress"] == 0 and body["stage"] is None
    assert [s["name"] for s in body["stages"]] == ["decode", "score", "select", "render"]
    assert all(s["status"] == "pending" for s in body["stages"])
    assert body["created_at"].endswith("Z")


def test_progress_is_monotonic_and_100_only_when_completed(store: SessionStore) -> None:
    create(store)
    seen = []
    for stage, _ in STAGES:
        for pct in (0, 30, 99):
            store.set_stage(SID, stage, StageStatus.RUNNING, pct)
            seen.append(store.get(SID).progress)  # type: ignore[union-attr]
        store.set_stage(SID, stage, StageStatus.COMPLETED, 100)
        seen.append(store.get(SID).progress)  # type: ignore[union-attr]
    assert seen == sorted(seen)
    assert seen[-1] == 99  # every stage done, but not yet marked completed
    assert store.finish(SID, SessionStatus.COMPLETED)
    assert store.get(SID).progress == 100  # type: ignore[union-attr]


def test_finish_happens_once(store: SessionStore) -> None:
    create(store)
    assert store.finish(SID, SessionStatus.CANCELLED)
    assert not store.finish(SID, SessionStatus.COMPLETED)
    assert store.get(SID).status is SessionStatus.CANCELLED  # type: ignore[union-attr]


def test_finish_moves_expiry_to_end_plus_ttl(store: SessionStore,
                                             redis_conn: fakeredis.FakeRedis) -> None:
    create(store)
    before = time.time()
    store.finish(SID, SessionStatus.COMPLETED)
    session = store.get(SID)
    assert session is not None
    assert before + store.session_ttl - 1 <= session.expires_at <= time.time() + store.session_ttl
    assert redis_conn.zscore(keys.SESSIONS_BY_EXPIRY, SID) == session.expires_at
    assert 0 < redis_conn.ttl(keys.session_key(SID)) <= store.session_ttl + keys.KEY_TTL_MARGIN


def test_writes_never_resurrect_a_deleted_session(store: SessionStore,
                                                  redis_conn: fakeredis.FakeRedis) -> None:
    create(store)
    store.delete(SID)
    assert not store.set_stage(SID, "decode", StageStatus.RUNNING, 50)
    assert not store.finish(SID, SessionStatus.COMPLETED)
    assert not redis_conn.exists(keys.session_key(SID))
    assert redis_conn.exists(keys.tombstone_key(SID))
    assert store.cancel_requested(SID)  # a running stage of a deleted session must stop


def test_partial_hash_is_not_a_session() -> None:
    assert Session.from_hash(SID, {b"stage:decode:progress": b"5"}) is None
    assert Session.from_hash(SID, {}) is None
