"""Cancellation: a flag in the session hash that stages poll, and a hard stop as fallback."""

from __future__ import annotations

import logging

import redis
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from queues.session import F_CANCEL, F_STATUS, Session, SessionStatus, SessionStore, StageStatus
from stages.workspace import Storage

log = logging.getLogger(__name__)

_WAITING = (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED)


def _jobs(connection: redis.Redis, session: Session) -> list[Job]:
    found = []
    for job_id in session.jobs.values():
        try:
            found.append(Job.fetch(job_id, connection=connection))
        except NoSuchJobError:
            continue
    return found


def cancel_waiting_jobs(connection: redis.Redis, session: Session) -> None:
    """Cancel the session's jobs that have not started (RQ would leave them deferred forever)."""
    for job in _jobs(connection, session):
        try:
            if job.get_status(refresh=True) in _WAITING:
                job.cancel()
        except (InvalidJobOperation, NoSuchJobError):
            continue


def running_jobs(connection: redis.Redis, session: Session) -> list[Job]:
    return [j for j in _jobs(connection, session)
            if j.get_status(refresh=False) == JobStatus.STARTED]


def finalize_cancelled(connection: redis.Redis, store: SessionStore, storage: Storage,
                       session_id: str) -> bool:
    """Mark the session cancelled (once), drop its partial outputs and waiting jobs."""
    session = store.get(session_id)
    if session is None or not store.finish(session_id, SessionStatus.CANCELLED):
        return False
    for stage in session.stages:
        if not stage.status.done:
            store.set_stage(session_id, stage.name, StageStatus.CANCELLED)
    storage.open(session_id).remove_outputs()
    cancel_waiting_jobs(connection, session)
    return True


def request_cancel(connection: redis.Redis, store: SessionStore, storage: Storage,
                   session_id: str) -> SessionStatus | None:
    """Ask for cancellation; returns the status to report (None if the session is gone)."""
    session = store.get(session_id)
    if session is None:
        return None
    if session.status.terminal:
        return session.status
    store.update(session_id, {F_CANCEL: "1", F_STATUS: SessionStatus.CANCELLING.value})
    cancel_waiting_jobs(connection, session)
    if running_jobs(connection, session):
        return SessionStatus.CANCELLING
    finalize_cancelled(connection, store, storage, session_id)
    final = store.get(session_id)
    return final.status if final else None


def enforce_cancel(connection: redis.Redis, store: SessionStore, storage: Storage,
                   session_id: str) -> None:
    """Called after the grace period: hard-stop a stage that ignored the flag."""
    session = store.get(session_id)
    if session is None or session.status is not SessionStatus.CANCELLING:
        return
    for job in running_jobs(connection, session):
        log.warning("stage job %s ignored cancellation; stopping its work horse", job.id)
        try:
            send_stop_job_command(connection, job.id)
        except (InvalidJobOperation, NoSuchJobError):
            continue
    finalize_cancelled(connection, store, storage, session_id)
