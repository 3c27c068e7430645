"""The session hash and its atomic transitions (the races a web and a worker can run)."""

from __future__ import annotations

import time

import fakeredis
import pytest

from queues import keys
from queues.session import Session, SessionStatus, StageStatus, new_session_hash
from queues.store import SessionStore

STAGES = [("decode", 45.0), ("score", 10.0), ("select", 5.0), ("render", 40.0)]
NAMES = [name for name, _ in STAGES]
SID = "A" * 32


@pytest.fixture
def sid(store: SessionStore) -> str:
    store.create(SID, new_session_hash("highlights", "{}", STAGES, time.time(), 60))
    return SID


def get(store: SessionStore, sid: str) -> Session:
    session = store.get(sid)
    assert session is not None
    return session


def test_round_trip(store: SessionStore, sid: str) -> None:
    body = get(store, sid).status_body()
    assert body["status"] == "queued" and body["progress"] == 0 and body["stage"] is None
    assert [s["name"] for s in body["stages"]] == NAMES
    assert all(s["status"] == "pending" for s in body["stages"])
    assert body["created_at"].endswith("Z")


def test_progress_is_monotonic_and_100_only_when_completed(store: SessionStore,
                                                           sid: str) -> None:
    seen = []
    for stage in NAMES:
        assert store.start_stage(sid, stage) == "ok"
        for pct in (0, 30, 99):
            store.set_stage(sid, stage, StageStatus.RUNNING, pct)
            seen.append(get(store, sid).progress)
        store.set_stage(sid, stage, StageStatus.COMPLETED, 100)
        seen.append(get(store, sid).progress)
    assert seen == sorted(seen)
    assert seen[-1] == 99  # every stage done, but not yet marked completed
    assert get(store, sid).status is SessionStatus.PROCESSING
    assert store.finish(sid, SessionStatus.COMPLETED, NAMES)
    assert get(store, sid).progress == 100


def test_finish_happens_once_and_nothing_is_written_after(store: SessionStore,
                                                          sid: str) -> None:
    store.start_stage(sid, "decode")
    assert store.finish(sid, SessionStatus.CANCELLED, NAMES)
    assert not store.finish(sid, SessionStatus.COMPLETED, NAMES)
    assert not store.set_stage(sid, "decode", StageStatus.RUNNING, 50)  # a late progress write
    assert store.start_stage(sid, "score") == "gone"
    session = get(store, sid)
    assert session.status is SessionStatus.CANCELLED
    assert [s.status for s in session.stages] == [StageStatus.CANCELLED] * 4


def test_failure_marks_its_stage_and_cancels_the_rest(store: SessionStore, sid: str) -> None:
    store.start_stage(sid, "decode")
    store.set_stage(sid, "decode", StageStatus.COMPLETED, 100)
    store.start_stage(sid, "score")
    assert store.finish(sid, SessionStatus.FAILED, NAMES, failed_stage="score")
    assert [s.status.value for s in get(store, sid).stages] == [
        "completed", "failed", "cancelled", "cancelled"]


def test_cancel_requested_before_completion_wins(store: SessionStore, sid: str) -> None:
    assert store.request_cancel(sid) is SessionStatus.CANCELLING
    assert not store.finish(sid, SessionStatus.COMPLETED, NAMES)
    assert store.start_stage(sid, "decode") == "cancel"
    assert store.finish(sid, SessionStatus.CANCELLED, NAMES)


def test_cancel_after_the_end_reports_the_end(store: SessionStore, sid: str) -> None:
    assert store.finish(sid, SessionStatus.COMPLETED, NAMES)
    assert store.request_cancel(sid) is SessionStatus.COMPLETED
    assert get(store, sid).status is SessionStatus.COMPLETED  # not overwritten
    assert store.request_cancel("B" * 32) is None


def test_an_ended_session_stops_running_siblings(store: SessionStore, sid: str) -> None:
    assert not store.cancel_requested(sid)
    store.finish(sid, SessionStatus.FAILED, NAMES, failed_stage="decode")
    assert store.cancel_requested(sid)


def test_finish_moves_expiry_to_end_plus_ttl(store: SessionStore, sid: str,
                                             redis_conn: fakeredis.FakeRedis) -> None:
    assert list(store.active()) == [sid]
    before = time.time()
    store.finish(sid, SessionStatus.COMPLETED, NAMES)
    session = get(store, sid)
    assert before + store.session_ttl - 1 <= session.expires_at <= time.time() + store.session_ttl
    assert redis_conn.zscore(keys.SESSIONS_BY_EXPIRY, sid) == session.expires_at
    assert 0 < redis_conn.ttl(keys.session_key(sid)) <= store.session_ttl + keys.KEY_TTL_MARGIN
    assert list(store.active()) == []


def test_writes_never_resurrect_a_deleted_session(store: SessionStore, sid: str,
                                                  redis_conn: fakeredis.FakeRedis) -> None:
    store.delete(sid)
    assert not store.set_stage(sid, "decode", StageStatus.RUNNING, 50)
    assert store.start_stage(sid, "decode") == "gone"
    assert not store.finish(sid, SessionStatus.COMPLETED, NAMES)
    assert store.request_cancel(sid) is None
    assert sorted(k.decode() for k in redis_conn.keys("*")) == [keys.tombstone_key(sid)]
    assert store.cancel_requested(sid)  # a running stage of a deleted session must stop


def test_partial_hash_is_not_a_session() -> None:
    assert Session.from_hash(SID, {b"stage:decode:progress": b"5"}) is None
    assert Session.from_hash(SID, {}) is None
