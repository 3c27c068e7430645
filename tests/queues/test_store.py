"""The session hash and its atomic transitions (the races a web and a worker can run)."""

from __future__ import annotations

import time

import fakeredis
import pytest

from queues import keys
from queues.session import LossCause, Session, SessionStatus, StageStatus, new_session_hash
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


def token(stage: str, n: int = 1) -> str:
    return f"{stage}-{n:016x}"


def run_stage(store: SessionStore, sid: str, stage: str, percents: tuple[int, ...] = ()) -> str:
    """One whole attempt: start, report, end completed; the end's verdict."""
    assert store.start_stage(sid, stage, token(stage), "w", 10) == ("ok", "")
    for pct in percents:
        assert store.progress(sid, stage, token(stage), pct)
    return store.end_attempt(sid, stage, token(stage), StageStatus.COMPLETED, NAMES)


def test_progress_is_monotonic_and_100_only_when_completed(store: SessionStore,
                                                           sid: str) -> None:
    seen = []
    for stage in NAMES:
        verdict = run_stage(store, sid, stage, (0, 30, 99))
        seen.append(get(store, sid).progress)
        assert verdict == ("last" if stage == NAMES[-1] else "ok")
    assert seen == sorted(seen)
    assert seen[-1] == 99  # every stage done, but not yet marked completed
    assert get(store, sid).status is SessionStatus.PROCESSING
    assert store.finish(sid, SessionStatus.COMPLETED, NAMES)
    assert get(store, sid).progress == 100


def test_a_retry_never_lowers_progress(store: SessionStore, sid: str) -> None:
    store.start_stage(sid, "decode", token("decode", 1), "w1", 10)
    store.progress(sid, "decode", token("decode", 1), 60)
    assert store.reclaim(sid, "decode", LossCause.KILLED, 3, owner="w1") == "retry"
    assert store.start_stage(sid, "decode", token("decode", 2), "w2", 10) == \
        ("ok", token("decode", 1))
    assert store.progress(sid, "decode", token("decode", 2), 10)
    state = get(store, sid).stage("decode")
    assert state.progress == 60 and state.attempts == 2 and state.losses == 1
    assert state.loss == LossCause.KILLED


def test_lost_attempts_are_bounded(store: SessionStore, sid: str) -> None:
    verdicts = []
    for n in range(1, 4):
        store.start_stage(sid, "decode", token("decode", n), "w", 10)
        verdicts.append(store.reclaim(sid, "decode", LossCause.OUT_OF_MEMORY, 3, owner="w"))
    assert verdicts == ["retry", "retry", "exhausted"]
    # a graceful interruption hands the stage back without counting it
    store.start_stage(sid, "score", token("score"), "w", 10)
    assert store.reclaim(sid, "score", LossCause.INTERRUPTED, 1, owner="w") == "retry"


def test_only_an_expired_lease_is_reclaimed_without_an_owner(store: SessionStore,
                                                             sid: str) -> None:
    store.start_stage(sid, "decode", token("decode"), "w", 0.2)
    assert store.expired_leases(time.time()) == []
    assert store.reclaim(sid, "decode", LossCause.LOST, 3) == "alive"
    assert store.reclaim(sid, "decode", LossCause.LOST, 3, owner="other") == "alive"
    time.sleep(0.25)
    assert store.expired_leases(time.time()) == [(sid, "decode")]
    assert store.reclaim(sid, "decode", LossCause.LOST, 3) == "retry"
    assert store.expired_leases(time.time() + 100) == []


def test_a_live_attempt_keeps_its_stage(store: SessionStore, sid: str) -> None:
    store.start_stage(sid, "decode", token("decode", 1), "w1", 10)
    assert store.start_stage(sid, "decode", token("decode", 2), "w2", 10)[0] == "busy"
    assert store.start_stage(sid, "score", token("score"), "w2", 10, after=["decode"])[0] == \
        "blocked"
    assert store.renew(sid, "decode", token("decode", 1), 10)
    assert not store.renew(sid, "decode", token("decode", 2), 10)


def test_finish_happens_once_and_nothing_is_written_after(store: SessionStore,
                                                          sid: str) -> None:
    store.start_stage(sid, "decode", token("decode"), "w", 10)
    assert store.finish(sid, SessionStatus.CANCELLED, NAMES)
    assert not store.finish(sid, SessionStatus.COMPLETED, NAMES)
    assert not store.progress(sid, "decode", token("decode"), 50)  # a late progress write
    assert store.start_stage(sid, "score", token("score"), "w", 10)[0] == "gone"
    session = get(store, sid)
    assert session.status is SessionStatus.CANCELLED
    assert [s.status for s in session.stages] == [StageStatus.CANCELLED] * 4
    assert store.expired_leases(time.time() + 100) == []  # the lease went with the end


def test_failure_marks_its_stage_and_cancels_the_rest(store: SessionStore, sid: str) -> None:
    run_stage(store, sid, "decode")
    store.start_stage(sid, "score", token("score"), "w", 10)
    assert store.finish(sid, SessionStatus.FAILED, NAMES, failed_stage="score")
    assert [s.status.value for s in get(store, sid).stages] == [
        "completed", "failed", "cancelled", "cancelled"]


def test_cancel_requested_before_completion_wins(store: SessionStore, sid: str) -> None:
    assert store.request_cancel(sid) is SessionStatus.CANCELLING
    assert not store.finish(sid, SessionStatus.COMPLETED, NAMES)
    assert store.start_stage(sid, "decode", token("decode"), "w", 10)[0] == "cancel"
    assert store.finish(sid, SessionStatus.CANCELLED, NAMES)


def test_cancel_after_the_end_reports_the_end(store: SessionStore, sid: str) -> None:
    assert store.finish(sid, SessionStatus.COMPLETED, NAMES)
    assert store.request_cancel(sid) is SessionStatus.COMPLETED
    assert get(store, sid).status is SessionStatus.COMPLETED  # not overwritten
    assert store.request_cancel("B" * 32) is None


def test_an_ended_session_stops_running_siblings(store: SessionStore, sid: str) -> None:
    store.start_stage(sid, "decode", token("decode"), "w", 10)
    assert store.check(sid, "decode", token("decode")) == "ok"
    store.finish(sid, SessionStatus.FAILED, NAMES, failed_stage="score")
    assert store.check(sid, "decode", token("decode")) == "cancel"


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
    store.start_stage(sid, "decode", token("decode"), "w", 10)
    store.delete(sid, NAMES)
    assert not store.progress(sid, "decode", token("decode"), 50)
    assert store.start_stage(sid, "decode", token("decode", 2), "w", 10)[0] == "gone"
    assert not store.finish(sid, SessionStatus.COMPLETED, NAMES)
    assert store.request_cancel(sid) is None
    assert sorted(k.decode() for k in redis_conn.keys("*")  # counters are no session's
                  if not k.decode().startswith(keys.METRICS_PREFIX)) == [keys.tombstone_key(sid)]
    # a running stage of a deleted session must stop
    assert store.check(sid, "decode", token("decode")) == "cancel"


def test_partial_hash_is_not_a_session() -> None:
    assert Session.from_hash(SID, {b"stage:decode:progress": b"5"}) is None
    assert Session.from_hash(SID, {}) is None
