"""How a session ends: cancelled, failed or deleted, and what goes with it (waiting jobs,
running work horses, partial outputs, RQ's job records)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from queues.graph import PIPELINES, job_id
from queues.session import F_ERROR, SessionStatus
from queues.store import SessionStore
from stages.workspace import Storage

log = logging.getLogger(__name__)

_WAITING = (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED)
STOP_WAIT_SECONDS = 1.0  # how long a hard stop may take before we clean up anyway


def session_jobs(connection: redis.Redis, session_id: str) -> list[Job]:
    """Every RQ job of the session that still exists (ids are derived, not looked up)."""
    ids = {job_id(session_id, spec.name) for specs in PIPELINES.values() for spec in specs}
    return [job for job in Job.fetch_many(sorted(ids), connection=connection) if job is not None]


def cancel_waiting_jobs(connection: redis.Redis, session_id: str, ttl: int) -> None:
    """Cancel jobs that have not started (RQ would leave them deferred forever); RQ keeps
    cancelled jobs without a TTL, so give them one."""
    for job in session_jobs(connection, session_id):
        try:
            if job.get_status(refresh=True) in _WAITING:
                job.cancel()
                connection.expire(job.key, ttl)
        except (InvalidJobOperation, NoSuchJobError):
            continue


def running_jobs(connection: redis.Redis, session_id: str) -> list[Job]:
    return [j for j in session_jobs(connection, session_id)
            if j.get_status(refresh=False) == JobStatus.STARTED]


def stop_running_jobs(connection: redis.Redis, session_id: str) -> None:
    """Hard-stop the session's running work horses and wait (briefly) until they are dead,
    so nothing they do afterwards can write into a cleaned-up session."""
    jobs = running_jobs(connection, session_id)
    for job in jobs:
        log.warning("hard-stopping job %s", job.id)
        try:
            send_stop_job_command(connection, job.id)
        except (InvalidJobOperation, NoSuchJobError):
            continue
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while jobs and time.monotonic() < deadline:
        time.sleep(0.02)
        jobs = [j for j in jobs if _still_started(j)]


def _still_started(job: Job) -> bool:
    try:
        return job.get_status(refresh=True) == JobStatus.STARTED
    except NoSuchJobError:
        return False


def finalize_cancelled(connection: redis.Redis, store: SessionStore, storage: Storage,
                       session_id: str) -> bool:
    """End the session as cancelled (once), drop partial outputs and waiting jobs."""
    session = store.get(session_id)
    if session is None or not store.finish(session_id, SessionStatus.CANCELLED,
                                           [s.name for s in session.stages]):
        return False
    storage.open(session_id).remove_outputs()
    cancel_waiting_jobs(connection, session_id, store.session_ttl)
    return True


def mark_failed(connection: redis.Redis, store: SessionStore, storage: Storage, session_id: str,
                stage: str, problem: dict[str, Any]) -> None:
    """End the session as failed (once): stage failed, the rest cancelled, outputs dropped.
    A session whose cancellation was asked ends cancelled instead."""
    session = store.get(session_id)
    if session is None:
        return
    if session.cancel_requested:
        finalize_cancelled(connection, store, storage, session_id)
        return
    if not store.finish(session_id, SessionStatus.FAILED, [s.name for s in session.stages],
                        failed_stage=stage, extra={F_ERROR: json.dumps(problem)}):
        return
    storage.open(session_id).remove_outputs()
    cancel_waiting_jobs(connection, session_id, store.session_ttl)


def delete_session(connection: redis.Redis, store: SessionStore, storage: Storage,
                   session_id: str) -> None:
    """Stop whatever still runs for the session, then remove its files and every key but
    the tombstone (RQ's job records included)."""
    store.request_cancel(session_id)
    cancel_waiting_jobs(connection, session_id, store.session_ttl)
    stop_running_jobs(connection, session_id)
    for job in session_jobs(connection, session_id):
        job.delete(remove_from_queue=True)
    store.delete(session_id)
    storage.delete(session_id)
