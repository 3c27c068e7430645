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
from rq.job import Job

from queues import keys
from queues.cancel import cancel_waiting_jobs, running_jobs
from queues.connection import session_store
from queues.session import Session
from queues.settings import Settings
from stages.workspace import Storage

log = logging.getLogger(__name__)


@dataclass
class SweepReport:
    expired_sessions: int = 0
    orphan_workspaces: int = 0


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
    for session_id, idle in Storage(settings.media_root).session_ids():
        if idle < settings.upload_stale_seconds:
            continue
        if connection.exists(keys.session_key(session_id)):
            continue
        Storage(settings.media_root).delete(session_id)
        report.orphan_workspaces += 1
    if report.expired_sessions or report.orphan_workspaces:
        log.info("swept %s", report)
    return report


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
