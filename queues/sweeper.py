"""Expiry and repair: removes sessions SESSION_TTL after they end and workspaces nobody
owns, ends sessions whose worker died or whose cancellation stalled.

Runs in a daemon thread of every worker process; a Redis lock lets one sweep at a time.
Redis key TTLs are only the safety net behind it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from queues import keys
from queues.cancel import enforce_cancel
from queues.connection import session_store
from queues.endings import delete_session, mark_failed
from queues.session import Session, SessionStatus
from queues.settings import Settings
from queues.store import SessionStore
from stages.workspace import Storage

log = logging.getLogger(__name__)

LOST_PROBLEM = {
    "type": "/problems/worker-lost", "title": "Worker lost", "status": 500,
    "code": "worker_lost",
    "detail": "The worker processing this video went away (restart or crash) before the "
              "stage finished. Upload the video again.",
}
LOST_GRACE = 60.0  # seconds a session may sit with every stage done before it counts as lost
# A job in one of these states never runs (again): its session would wait forever.
_DEAD = (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)


@dataclass
class SweepReport:
    expired_sessions: int = 0
    orphan_workspaces: int = 0
    lost_sessions: int = 0
    stalled_cancels: int = 0


def sweep(connection: redis.Redis, settings: Settings, now: float | None = None) -> SweepReport:
    now = time.time() if now is None else now
    store = session_store(connection, settings)
    storage = Storage(settings.media_root)
    report = SweepReport()
    for session_id in store.expired(now):
        delete_session(connection, store, storage, session_id)
        report.expired_sessions += 1
    for session_id in list(store.active()):
        session = store.get(session_id)
        if session is None:
            connection.srem(keys.ACTIVE_SESSIONS, session_id)  # its hash expired
        elif session.status is SessionStatus.CANCELLING:
            if now - session.updated_at > settings.cancel_grace:
                enforce_cancel(connection, store, storage, session_id)
                report.stalled_cancels += 1
        elif _fail_if_lost(connection, store, storage, session, now):
            report.lost_sessions += 1
    for session_id, idle in storage.session_ids():
        if idle >= settings.upload_stale_seconds and not connection.exists(
                keys.session_key(session_id)):
            storage.delete(session_id)
            report.orphan_workspaces += 1
    if report != SweepReport():
        log.info("swept %s", report)
    return report


def _fail_if_lost(connection: redis.Redis, store: SessionStore, storage: Storage,
                  session: Session, now: float) -> bool:
    """Fail a session whose stage job died with its worker (RQ marks such jobs failed when
    it cleans its started registry; no callback of ours ran), or that can never finish."""
    unfinished = [s for s in session.stages if not s.status.done]
    if not unfinished:
        if now - session.updated_at < LOST_GRACE:
            return False  # the last stage is writing the results right now
        # every stage done but the session never completed: the final step crashed
        mark_failed(connection, store, storage, session.session_id, session.stages[-1].name,
                    LOST_PROBLEM)
        return True
    for state in unfinished:
        job_id = session.jobs.get(state.name)
        if job_id is None:
            continue  # still being enqueued
        try:
            dead = Job.fetch(job_id, connection=connection).get_status() in _DEAD
        except NoSuchJobError:
            dead = True
        if dead:
            mark_failed(connection, store, storage, session.session_id, state.name,
                        LOST_PROBLEM)
            return True
    return False


def sweep_once_if_leader(connection: redis.Redis, settings: Settings) -> SweepReport | None:
    """Sweep unless another process holds the lock for this interval."""
    lock_seconds = max(1, int(settings.sweep_interval))
    if not connection.set(keys.SWEEP_LOCK, "1", nx=True, ex=lock_seconds):
        return None
    return sweep(connection, settings)


def start_sweeper_thread(connection: redis.Redis, settings: Settings) -> threading.Thread:
    def loop() -> None:
        while True:
            try:
                sweep_once_if_leader(connection, settings)
            except Exception:  # keep sweeping after a transient Redis or disk error
                log.exception("sweep failed")
            time.sleep(settings.sweep_interval)

    thread = threading.Thread(target=loop, name="sweeper", daemon=True)
    thread.start()
    return thread
