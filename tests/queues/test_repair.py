"""The repairer: lost attempts are requeued (then failed), stalled stages requeued,
sessions whose last step died completed. Real processes: tests/faults/."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import fakeredis
import pytest
from rq.job import Job, JobStatus

from queues import keys
from queues.repair import STALL_GRACE, Repairer
from queues.session import Session, SessionStatus, StageStatus, lease_member
from queues.settings import Settings
from queues.store import SessionStore


def lose(store: SessionStore, redis_conn: fakeredis.FakeRedis, sid: str, n: int) -> None:
    """A worker starts decode, then vanishes: its lease is left to run out."""
    assert store.start_stage(sid, "decode", f"decode-{n:016x}", f"gone-{n}", 10)[0] == "ok"
    redis_conn.zadd(keys.LEASES, {lease_member(sid, "decode"): time.time() - 1})


def test_lost_attempt_is_requeued_then_failed(make_session: Callable[..., Session],
                                              small_video: Path, store: SessionStore,
                                              redis_conn: fakeredis.FakeRedis,
                                              settings: Settings) -> None:
    session = make_session(small_video)
    sid = session.session_id
    repairer = Repairer(redis_conn, settings)
    job = Job.fetch(session.jobs["decode"], connection=redis_conn)
    for n in range(1, settings.max_attempts):
        job.set_status(JobStatus.STARTED)
        redis_conn.lrem(f"rq:queue:{settings.queue_name}", 0, job.id)
        lose(store, redis_conn, sid, n)
        assert repairer.run().requeued_lost == 1
        assert job.get_status(refresh=True) == JobStatus.QUEUED
        assert redis_conn.lindex(f"rq:queue:{settings.queue_name}", 0) == job.id.encode()
        assert store.get(sid).stage("decode").status is StageStatus.PENDING  # type: ignore[union-attr]
    lose(store, redis_conn, sid, settings.max_attempts)
    assert repairer.run().failed_lost == 1
    failed = store.get(sid)
    assert failed is not None and failed.status is SessionStatus.FAILED
    assert failed.error is not None and failed.error["code"] == "worker_lost"


def test_stalled_stage_is_requeued_after_the_grace(make_session: Callable[..., Session],
                                                   small_video: Path, store: SessionStore,
                                                   redis_conn: fakeredis.FakeRedis,
                                                   settings: Settings) -> None:
    session = make_session(small_video, analysis="workout")
    sid = session.session_id
    decode = Job.fetch(session.jobs["decode"], connection=redis_conn)
    score = Job.fetch(session.jobs["score"], connection=redis_conn)
    repairer = Repairer(redis_conn, settings)
    assert repairer.run() == repairer.run().__class__()  # queued and deferred: fine
    # decode completed per the session, but RQ never enqueued score (left deferred)
    store.start_stage(sid, "decode", "decode-" + "1" * 16, "w", 10)
    store.end_attempt(sid, "decode", "decode-" + "1" * 16, StageStatus.COMPLETED,
                      ["decode", "score", "workout"])
    decode.set_status(JobStatus.FINISHED)
    redis_conn.lrem(f"rq:queue:{settings.queue_name}", 0, decode.id)
    now = time.time()
    assert repairer.run(now).requeued_stalled == 0  # might be passing: wait
    assert repairer.run(now + STALL_GRACE + 0.1).requeued_stalled == 1
    assert score.get_status(refresh=True) == JobStatus.QUEUED


# The stage files stay: this test rewinds a completed session to before its results.
@pytest.mark.parametrize("settings", [{"keep_intermediates": True}], indirect=True)
def test_session_whose_last_step_died_is_completed(make_session: Callable[..., Session],
                                                   small_video: Path,
                                                   run_jobs: Callable[[], None],
                                                   store: SessionStore,
                                                   redis_conn: fakeredis.FakeRedis,
                                                   settings: Settings) -> None:
    session = make_session(small_video, render=False)
    sid = session.session_id
    run_jobs()
    # as if the last attempt died between ending its stage and writing the results
    redis_conn.hdel(keys.session_key(sid), "final")
    redis_conn.hset(keys.session_key(sid), "status", "processing")
    redis_conn.sadd(keys.ACTIVE_SESSIONS, sid)
    repairer = Repairer(redis_conn, settings)
    now = time.time()
    assert repairer.run(now).completed == 0
    assert repairer.run(now + STALL_GRACE + 0.1).completed == 1
    assert store.get(sid).status is SessionStatus.COMPLETED  # type: ignore[union-attr]
