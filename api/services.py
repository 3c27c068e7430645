"""What the routes share: settings, Redis clients, storage; built once by the app factory."""

from __future__ import annotations

from dataclasses import dataclass

import redis
import redis.asyncio
from quart import current_app

from queues.settings import Settings
from queues.store import SessionStore
from stages.workspace import Storage


@dataclass
class Services:
    settings: Settings
    aredis: redis.asyncio.Redis  # event-loop reads (status polling)
    sync_redis: redis.Redis  # blocking calls, only ever inside asyncio.to_thread
    store: SessionStore  # on sync_redis: threads only
    storage: Storage


def services() -> Services:
    return current_app.extensions["video"]  # type: ignore[no-any-return]
