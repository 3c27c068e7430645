"""Expiry: removes sessions SESSION_TTL after they end, and workspaces nobody owns.

Runs in a daemon thread of every worker process; a Redis lock lets one sweep at a time.
Redis key TTLs are only the safety net behind it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import redis
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from queues import keys
from queues.cancel import cancel_waiting_jobs, running_jobs
from queues.connection import session_store
from queues.runner import mark_failed
from queues.session import Session
from queues.settings import Settings
from stages.workspace import Storage

log = logging.getLogger(__name__)


@dataclass
class SweepReport:
    expired_sessions: int = 0
    orphan_workspaces: int = 0
    lost_sessions: int = 0


LOST_PROBLEM = {
    "type": "/problems/worker-lost", "title": "Worker lost", "status": 500,
    "code": "worker_lost",
    "detail": "The worker processing this video went away (restart or crash) before the "
              "stage finished. Upload the video again.",
}
# A job in one of these states never runs (again): its session would wait forever.
_DEAD = (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)


def delete_session(connection: redis.Redis, settings: Settings, session_id: str) -> None:
    """Stop whatever still runs for the session, then remove its files and keys."""
    store = session_store(connection, settings)
    session = store.get(session_id)
    if session is not None and not session.status.terminal:
        store.update(session_id, {"cancel": "1"})
        cancel_waiting_jobs(connection, session)
        for job in running_jobs(connection, session):
            try:
                send_stop_job_command(connection, job.id)
            except (InvalidJobOperation, NoSuchJobError):
                continue
    if session is not None:
        delete_job_records(connection, session)
    store.delete(session_id)
    Storage(settings.media_root).delete(session_id)


def delete_job_records(connection: redis.Redis, session: Session) -> None:
    """Drop RQ's job hashes and results too: nothing of a deleted session may stay."""
    for job_id in session.jobs.values():
        try:
            Job.fetch(job_id, connection=connection).delete(remove_from_queue=True)
        except NoSuchJobError:
            continue


def sweep(connection: redis.Redis, settings: Settings, now: float | None = None) -> SweepReport:
    now = time.time() if now is None else now
    store = session_store(connection, settings)
    report = SweepReport()
    for session_id in store.expired(now):
        delete_session(connection, settings, session_id)
        report.expired_sessions += 1
    report.lost_sessions = fail_lost_sessions(connection, settings, now)
    for session_id, idle in Storage(settings.media_root).session_ids():
        if idle < settings.upload_stale_seconds:
            continue
        if connection.exists(keys.session_key(session_id)):
            continue
        Storage(settings.media_root).delete(session_id)
        report.orphan_workspaces += 1
    if report.expired_sessions or report.orphan_workspaces or report.lost_sessions:
        log.info("swept %s", report)
    return report


def fail_lost_sessions(connection: redis.Redis, settings: Settings, now: float,
                       limit: int = 1000) -> int:
    """Fail unfinished sessions whose stage job died with its worker (RQ marks such jobs
    failed when it cleans its started registry; no callback of ours ran)."""
    store = session_store(connection, settings)
    storage = Storage(settings.media_root)
    lost = 0
    for raw_id in connection.zrangebyscore(keys.SESSIONS_BY_EXPIRY, now, "+inf", 0, limit):
        session_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
        session = store.get(session_id)
        if session is None or session.status.terminal or session.cancel_requested:
            continue  # cancellation has its own enforcement (queues.cancel.enforce_cancel)
        for state in session.stages:
            job_id = session.jobs.get(state.name)
            if state.status.done or job_id is None:
                continue
            try:
                dead = Job.fetch(job_id, connection=connection).get_status() in _DEAD
            except NoSuchJobError:
                dead = True
            if dead:
                mark_failed(connection, store, storage, session_id, state.name, LOST_PROBLEM)
                lost += 1
                break
    return lost


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
