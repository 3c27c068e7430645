"""Redis connections and the RQ queue, built from settings."""

from __future__ import annotations

import redis
import redis.asyncio
from rq import Queue

from queues.session import SessionStore
from queues.settings import Settings


def sync_redis(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url, socket_connect_timeout=5,
                                health_check_interval=30)


def async_redis(settings: Settings) -> redis.asyncio.Redis:
    return redis.asyncio.Redis.from_url(settings.redis_url, socket_connect_timeout=5,
                                        health_check_interval=30)


def pipeline_queue(connection: redis.Redis, settings: Settings) -> Queue:
    return Queue(settings.queue_name, connection=connection)


def session_store(connection: redis.Redis, settings: Settings) -> SessionStore:
    return SessionStore(connection, settings.session_ttl, settings.tombstone_ttl)
