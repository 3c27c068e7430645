"""Creating a session: an unguessable id, the session hash, and the chained stage jobs."""

from __future__ import annotations

import json
import secrets
import time

import redis

from queues.connection import pipeline_queue, session_store
from queues.graph import enqueue_pipeline, stage_weights
from queues.session import F_CALLBACK, F_JOBS, Session, new_session_hash
from queues.settings import Settings
from stages.options import AnalysisOptions


def new_session_id() -> str:
    """192 random bits, URL-safe (32 characters)."""
    return secrets.token_urlsafe(24)


def submit_session(connection: redis.Redis, settings: Settings, session_id: str,
                   options: AnalysisOptions, callback_url: str = "") -> Session:
    """Write the session hash, then enqueue its stage graph; undo the hash if enqueuing fails.
    With ``callback_url`` (checked by the caller), the session's end is posted there."""
    store = session_store(connection, settings)
    fields = new_session_hash(options.analysis, options.to_json(),
                              stage_weights(options.analysis), time.time(), settings.session_ttl)
    if callback_url:
        fields[F_CALLBACK] = callback_url
    store.create(session_id, fields)
    try:
        jobs = enqueue_pipeline(pipeline_queue(connection, settings), session_id,
                                options.analysis, stage_timeout=settings.stage_timeout,
                                result_ttl=settings.session_ttl,
                                fair=settings.fair_scheduling)
    except Exception:
        store.delete(session_id)
        raise
    store.update(session_id, {F_JOBS: json.dumps(jobs)})
    session = store.get(session_id)
    assert session is not None
    return session
