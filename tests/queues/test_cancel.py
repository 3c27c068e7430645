"""Cancellation: waiting jobs are cancelled at once, terminal sessions are left alone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import fakeredis
from rq.job import Job, JobStatus

from queues.cancel import enforce_cancel, request_cancel
from queues.session import F_CANCEL, F_STATUS, Session, SessionStatus
from queues.store import SessionStore
from stages.workspace import Storage


def test_cancelling_a_queued_session_finishes_it(make_session: Callable[..., Session],
                                                 small_video: Path, store: SessionStore,
                                                 storage: Storage,
                                                 redis_conn: fakeredis.FakeRedis) -> None:
    session = make_session(small_video, analysis="all")
    assert request_cancel(redis_conn, store, storage, session.session_id) is \
        SessionStatus.CANCELLED
    for jid in session.jobs.values():
        assert Job.fetch(jid, connection=redis_conn).get_status() == JobStatus.CANCELED
    assert request_cancel(redis_conn, store, storage, session.session_id) is \
        SessionStatus.CANCELLED  # idempotent


def test_terminal_sessions_are_not_cancelled(make_session: Callable[..., Session],
                                             small_video: Path, store: SessionStore,
                                             storage: Storage, run_jobs: Callable[[], None],
                                             redis_conn: fakeredis.FakeRedis) -> None:
    session = make_session(small_video, render=False)
    run_jobs()
    assert request_cancel(redis_conn, store, storage, session.session_id) is \
        SessionStatus.COMPLETED
    assert store.get(session.session_id).status is SessionStatus.COMPLETED  # type: ignore[union-attr]
    assert request_cancel(redis_conn, store, storage, "N" * 32) is None


def test_enforce_finishes_a_session_stuck_in_cancelling(make_session: Callable[..., Session],
                                                        small_video: Path, store: SessionStore,
                                                        storage: Storage,
                                                        redis_conn: fakeredis.FakeRedis) -> None:
    session = make_session(small_video)
    sid = session.session_id
    # as if a stage had been running when the cancel came and never looked at the flag
    store.update(sid, {F_CANCEL: "1", F_STATUS: SessionStatus.CANCELLING.value})
    storage.open(sid).path("frames.u8").write_bytes(b"partial")
    enforce_cancel(redis_conn, store, storage, sid)
    assert store.get(sid).status is SessionStatus.CANCELLED  # type: ignore[union-attr]
    assert list(storage.open(sid).directory.iterdir()) == []  # upload and partial files
