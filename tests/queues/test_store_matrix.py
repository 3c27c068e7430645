"""Every transition script against every session status and every stage status.

The state is written straight into the hash, so each script is judged on its own; the
expected verdicts are the rules of ``queues.store`` written out as a table.
"""

from __future__ import annotations

import time

import fakeredis
import pytest

from queues import keys
from queues.session import (
    CANCEL_FLAG,
    F_CANCEL,
    F_FINAL,
    F_STATUS,
    LossCause,
    SessionStatus,
    StagePart,
    StageStatus,
    lease_member,
    new_session_hash,
    stage_field,
)
from queues.store import SessionStore

SID = "M" * 32
NAMES = ["decode", "score"]
TOKEN = "decode-" + "a" * 16


def make(store: SessionStore, redis_conn: fakeredis.FakeRedis, session: SessionStatus,
         stage: StageStatus) -> None:
    store.create(SID, new_session_hash("workout", "{}", [(n, 1.0) for n in NAMES],
                                       time.time(), 60))
    key = keys.session_key(SID)
    fields = {F_STATUS: session.value, stage_field("decode", StagePart.STATUS): stage.value,
              stage_field("decode", StagePart.TOKEN): TOKEN,
              stage_field("decode", StagePart.OWNER): "w"}
    if session.terminal:
        fields[F_FINAL] = session.value
    if session is SessionStatus.CANCELLING:
        fields[F_CANCEL] = CANCEL_FLAG
    redis_conn.hset(key, mapping=fields)
    if stage is StageStatus.RUNNING:
        redis_conn.zadd(keys.LEASES, {lease_member(SID, "decode"): time.time() + 60})


SESSIONS = list(SessionStatus)
STAGE_STATES = list(StageStatus)
CASES = [(s, t) for s in SESSIONS for t in STAGE_STATES]


def ids(case: tuple[SessionStatus, StageStatus]) -> str:
    return f"{case[0].value}-{case[1].value}"


@pytest.fixture(params=CASES, ids=[ids(c) for c in CASES])
def state(request: pytest.FixtureRequest, store: SessionStore,
          redis_conn: fakeredis.FakeRedis) -> tuple[SessionStatus, StageStatus]:
    session, stage = request.param
    make(store, redis_conn, session, stage)
    return session, stage


def live(session: SessionStatus) -> bool:
    return not session.terminal


def test_start(store: SessionStore, state: tuple[SessionStatus, StageStatus]) -> None:
    session, stage = state
    verdict = store.start_stage(SID, "decode", "decode-" + "b" * 16, "x", 10)[0]
    expected = ("gone" if session.terminal else "cancel" if session is SessionStatus.CANCELLING
                else "done" if stage.done else "busy" if stage is StageStatus.RUNNING else "ok")
    assert verdict == expected


def test_check_progress_renew(store: SessionStore,
                              state: tuple[SessionStatus, StageStatus]) -> None:
    session, stage = state
    writable = live(session) and stage is StageStatus.RUNNING
    expected = ("cancel" if session.terminal else "stale" if stage is not StageStatus.RUNNING
                else "cancel" if session is SessionStatus.CANCELLING else "ok")
    assert store.check(SID, "decode", TOKEN) == expected
    assert store.check(SID, "decode", "decode-" + "c" * 16) in ("cancel", "stale")
    assert store.progress(SID, "decode", TOKEN, 50) is writable
    assert store.renew(SID, "decode", TOKEN, 10) is writable
    assert not store.progress(SID, "decode", "decode-" + "c" * 16, 60)  # another token


def test_end_attempt(store: SessionStore, state: tuple[SessionStatus, StageStatus]) -> None:
    session, stage = state
    verdict = store.end_attempt(SID, "decode", TOKEN, StageStatus.COMPLETED, NAMES)
    expected = ("gone" if session.terminal else "ok" if stage is StageStatus.RUNNING
                else "stale")
    assert verdict == expected


def test_reclaim(store: SessionStore, state: tuple[SessionStatus, StageStatus]) -> None:
    session, stage = state
    verdict = store.reclaim(SID, "decode", LossCause.KILLED, 3, owner="w")
    expected = ("gone" if session.terminal else "retry" if stage is StageStatus.RUNNING
                else "idle")
    assert verdict == expected


def test_cancel_and_finish(store: SessionStore, state: tuple[SessionStatus, StageStatus]) -> None:
    session, _ = state
    reported = store.request_cancel(SID)
    assert reported is (session if session.terminal else SessionStatus.CANCELLING)
    assert store.finish(SID, SessionStatus.CANCELLED, NAMES) is live(session)
    assert store.update(SID, {"x": "1"}) is False  # ended now, whatever it was


def test_completion_loses_to_a_cancel(store: SessionStore,
                                      state: tuple[SessionStatus, StageStatus]) -> None:
    session, _ = state
    won = store.finish(SID, SessionStatus.COMPLETED, NAMES)
    assert won is (session in (SessionStatus.QUEUED, SessionStatus.PROCESSING))
