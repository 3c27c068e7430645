"""Cancellation: a flag in the session hash that stages poll, and a hard stop as fallback."""

from __future__ import annotations

import redis

from queues.endings import finalize_cancelled, running_jobs, stop_running_jobs
from queues.session import SessionStatus
from queues.store import SessionStore
from stages.workspace import Storage


def request_cancel(connection: redis.Redis, store: SessionStore, storage: Storage,
                   session_id: str) -> SessionStatus | None:
    """Ask for cancellation; returns the status to report (None if the session is gone).

    CANCELLING means a stage is running and will stop at its next frame batch; call
    :func:`enforce_cancel` after the grace period in case it does not.
    """
    status = store.request_cancel(session_id)
    if status is not SessionStatus.CANCELLING:
        return status  # None, or already ended
    if running_jobs(connection, session_id):
        return SessionStatus.CANCELLING
    finalize_cancelled(connection, store, storage, session_id)
    final = store.get(session_id)
    return final.status if final else None


def enforce_cancel(connection: redis.Redis, store: SessionStore, storage: Storage,
                   session_id: str) -> None:
    """After the grace period: hard-stop a stage that ignored the flag, then end the session."""
    session = store.get(session_id)
    if session is None or session.status is not SessionStatus.CANCELLING:
        return
    stop_running_jobs(connection, session_id)
    finalize_cancelled(connection, store, storage, session_id)
