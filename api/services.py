"""What the routes share: settings, Redis clients, storage; built once by the app factory."""

from __future__ import annotations

from dataclasses import dataclass

import redis
import redis.asyncio
from quart import current_app

from queues.session import Session, SessionStore
from queues.settings import Settings
from stages.workspace import Storage


@dataclass
class Services:
    settings: Settings
    aredis: redis.asyncio.Redis  # event-loop reads (status polling)
    sync_redis: redis.Redis  # blocking calls, only ever inside asyncio.to_thread
    storage: Storage

    @property
    def store(self) -> SessionStore:
        return SessionStore(self.sync_redis, self.settings.session_ttl,
                            self.settings.tombstone_ttl)


def services() -> Services:
    return current_app.extensions["video"]  # type: ignore[no-any-return]


__all__ = ["Services", "Session", "services"]
