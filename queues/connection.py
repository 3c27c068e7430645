"""Redis connections and the RQ queue, built from settings."""

from __future__ import annotations

import redis
import redis.asyncio
from rq import Queue

from queues.settings import Settings
from queues.store import SessionStore

SOCKET_TIMEOUT = 10.0  # a Redis that stops answering must not hang a request or the sweeper


def sync_redis(settings: Settings, socket_timeout: float | None = SOCKET_TIMEOUT) -> redis.Redis:
    """``socket_timeout=None`` for RQ workers: their dequeue blocks longer than any timeout."""
    return redis.Redis.from_url(settings.redis_url, socket_connect_timeout=5,
                                socket_timeout=socket_timeout, health_check_interval=30)


def async_redis(settings: Settings) -> redis.asyncio.Redis:
    return redis.asyncio.Redis.from_url(settings.redis_url, socket_connect_timeout=5,
                                        socket_timeout=SOCKET_TIMEOUT, health_check_interval=30)


def pipeline_queue(connection: redis.Redis, settings: Settings) -> Queue:
    return Queue(settings.queue_name, connection=connection)


def session_store(connection: redis.Redis, settings: Settings) -> SessionStore:
    return SessionStore(connection, settings.session_ttl, settings.tombstone_ttl)
