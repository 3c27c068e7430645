"""Expiry: removes sessions SESSION_TTL after they end and workspaces nobody owns, and
ends cancellations that stalled.

Run by the maintenance thread of every worker process, one sweep at a time (a Redis lock);
Redis key TTLs are only the safety net behind it. Lost and stalled stages are the
repairer's (``queues.repair``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis

from queues import keys
from queues.cancel import enforce_cancel
from queues.connection import open_storage, pipeline_queue, session_store
from queues.endings import delete_session
from queues.session import SessionStatus
from queues.settings import Settings

log = logging.getLogger(__name__)



@dataclass
class SweepReport:
    expired_sessions: int = 0
    orphan_workspaces: int = 0
    stalled_cancels: int = 0
    aborted_uploads: int = 0


def sweep(connection: redis.Redis, settings: Settings, now: float | None = None) -> SweepReport:
    now = time.time() if now is None else now
    store = session_store(connection, settings)
    queue = pipeline_queue(connection, settings)
    storage = open_storage(settings)
    report = SweepReport()
    for session_id in store.expired(now):
        delete_session(connection, store, storage, queue, session_id)
        report.expired_sessions += 1
    for session_id in list(store.active()):
        session = store.get(session_id)
        if session is None:
            connection.srem(keys.ACTIVE_SESSIONS, session_id)  # its hash expired
        elif session.status is SessionStatus.CANCELLING:
            if now - session.updated_at > settings.cancel_grace:
                enforce_cancel(connection, store, storage, session_id)
                report.stalled_cancels += 1
    for session_id, idle in storage.session_ids():
        if idle >= settings.upload_stale_seconds and not connection.exists(
                keys.session_key(session_id)):
            storage.delete(session_id)
            report.orphan_workspaces += 1
    # An upload the web still receives has no session yet: it is in UPLOADS (entries of a
    # web that died go once older than any upload may take).
    connection.zremrangebyscore(keys.UPLOADS, 0, now - settings.upload_deadline - 60)

    def live(session_id: str) -> bool:
        return bool(connection.exists(keys.session_key(session_id))) or \
            connection.zscore(keys.UPLOADS, session_id) is not None

    report.aborted_uploads = storage.abort_stale_uploads(settings.upload_stale_seconds, live)
    if report != SweepReport():
        log.info("swept %s", report)
    return report
