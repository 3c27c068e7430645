"""Redis connections and the RQ queue, built from settings.

Three kinds of client, by how long a call may wait:
- the web's: a call not answered within ``redis_timeout`` fails (the route answers 503),
  with one immediate reconnect for a connection that broke (a fail-over), but no second
  wait on a Redis that does not answer;
- workers' own calls (stage transitions, leases, the sweeper): a few seconds, retried
  with backoff, so a blip or a restart of Redis costs a pause, not a session;
- the RQ worker's: no read timeout, since its dequeue blocks for minutes.
"""

from __future__ import annotations

from pathlib import Path

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry
from rq import Queue

from queues import webhooks
from queues.settings import Settings
from queues.store import SessionStore
from stages.blobs import open_store
from stages.workspace import Storage

WORKER_SOCKET_TIMEOUT = 5.0  # worker-side calls: long enough for a busy Redis, not forever
WORKER_RETRIES = 6  # with backoff up to 2 s: rides out a restart of Redis of ~10 s


def sync_redis(settings: Settings, socket_timeout: float | None = WORKER_SOCKET_TIMEOUT,
               ) -> redis.Redis:
    """Worker-side client; ``socket_timeout=None`` for the RQ worker's own connection."""
    return redis.Redis.from_url(settings.redis_url, socket_connect_timeout=5,
                                socket_timeout=socket_timeout, health_check_interval=30,
                                retry=Retry(ExponentialBackoff(cap=2, base=0.1),
                                            WORKER_RETRIES))


def web_redis(settings: Settings) -> redis.Redis:
    """The web's blocking client (used in threads): fails fast, so routes answer 503."""
    return redis.Redis.from_url(settings.redis_url, socket_connect_timeout=settings.redis_timeout,
                                socket_timeout=settings.redis_timeout, health_check_interval=30,
                                retry=Retry(NoBackoff(), 1, (redis.ConnectionError,)))


def async_redis(settings: Settings) -> redis.asyncio.Redis:
    """The web's event-loop client, with the same fail-fast timeouts."""
    return redis.asyncio.Redis.from_url(
        settings.redis_url, socket_connect_timeout=settings.redis_timeout,
        socket_timeout=settings.redis_timeout, health_check_interval=30,
        retry=AsyncRetry(NoBackoff(), 1, (redis.ConnectionError,)))


def pipeline_queue(connection: redis.Redis, settings: Settings) -> Queue:
    return Queue(settings.queue_name, connection=connection)


def session_store(connection: redis.Redis, settings: Settings) -> SessionStore:
    """A store that queues an ended session's webhook at once (queues.webhooks)."""
    return SessionStore(connection, settings.session_ttl, settings.tombstone_ttl,
                        on_finish=webhooks.on_finish(connection, settings))


def open_storage(settings: Settings) -> Storage:
    """Sessions' files: a local directory (STORAGE_URL unset or a path: MEDIA_ROOT by
    default), or an object store with MEDIA_ROOT as this process's scratch space."""
    keep = settings.keep_intermediates
    if settings.storage_url.startswith("s3://"):
        return Storage(settings.media_root, open_store(settings.storage_url, settings.media_root),
                       keep_intermediates=keep)
    return Storage(Path(settings.storage_url) if settings.storage_url else settings.media_root,
                   keep_intermediates=keep)
