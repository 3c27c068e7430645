"""One reader of session event streams per web process: a single dedicated Redis connection
runs one XREAD BLOCK over the streams of every open SSE client and fans each entry out to
the clients' bounded queues. No thread and no Redis connection per client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

import redis
import redis.asyncio
from quart import Quart, current_app

from api.services import Services
from queues import keys
from queues.events import NO_EVENT, Event, newest_id, parse_entries

log = logging.getLogger(__name__)

BLOCK_SECONDS = 1.0  # the longest one XREAD waits: also how late a deletion is noticed
SOCKET_MARGIN = 5.0  # the reader's socket timeout is the block plus this (a busy Redis)
QUEUE_SIZE = 64  # events a client may lag behind; then it is dropped and reconnects
READ_COUNT = 100  # entries read per stream per XREAD
WAKE_TTL = 3600  # seconds a web process's wake stream outlives its last use (a crash)
RETRY_SECONDS = 1.0  # pause after a failed read (Redis down or failing over)
EXTENSION = "event_hub"


def frame(event: Event) -> bytes:
    """An event as sent on the wire: its data is the GET /status body as of the event."""
    body = json.dumps(event.session.status_body())
    return f"id: {event.id}\nevent: {event.type.value}\ndata: {body}\n\n".encode()


@dataclass(frozen=True)
class Delivery:
    """One event, encoded once for every client of its session."""

    id: str
    frame: bytes
    terminal: bool


class End(Enum):
    """Why a subscription stopped receiving events."""

    DELETED = "deleted"  # the session's hash went away (deleted or expired)
    DROPPED = "dropped"  # the client fell QUEUE_SIZE events behind, or the hub closed


class Subscription:
    """One open stream's view of the hub: its session's events in order, then an End."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.ended: End | None = None
        self._queue: asyncio.Queue[Delivery | End] = asyncio.Queue(QUEUE_SIZE)

    async def next(self, timeout: float) -> Delivery | End | None:
        """The next delivery or End; None when nothing came within ``timeout`` seconds."""
        if self.ended is not None and self._queue.empty():
            return self.ended
        try:
            async with asyncio.timeout(timeout):
                return await self._queue.get()
        except TimeoutError:
            return None

    def offer(self, delivery: Delivery) -> bool:
        """Queue a delivery; False (and DROPPED) when the client is too far behind."""
        try:
            self._queue.put_nowait(delivery)
        except asyncio.QueueFull:
            self.ended = End.DROPPED
            return False
        return True

    def end(self, why: End) -> None:
        self.ended = why
        with contextlib.suppress(asyncio.QueueFull):  # full: next() sees ``ended`` after it
            self._queue.put_nowait(why)


class EventHub:
    def __init__(self, reader: redis.asyncio.Redis, client: redis.asyncio.Redis) -> None:
        self._reader = reader  # dedicated: blocking reads and the deletion checks
        self._client = client  # the app's: newest ids and wake-ups, never blocking
        self._wake = keys.wake_key(secrets.token_hex(8))
        self._wake_cursor = NO_EVENT
        self._cursors: dict[str, str] = {}  # session id -> the last entry id read
        self._subs: dict[str, set[Subscription]] = {}
        self._watching = asyncio.Event()  # set while anyone is subscribed
        self._task: asyncio.Task[None] | None = None
        self._checked = 0.0
        self._failing = False  # the last read failed (logged once per outage)

    @property
    def subscribers(self) -> int:
        return sum(len(subs) for subs in self._subs.values())

    async def subscribe(self, session_id: str) -> Subscription:
        """Deliver the session's events stored after this call to a new subscription
        (those stored before are the caller's to read)."""
        sub = Subscription(session_id)
        self._subs.setdefault(session_id, set()).add(sub)
        self._watching.set()
        try:
            if session_id not in self._cursors:
                cursor = await newest_id(self._client, session_id)
                self._cursors.setdefault(session_id, cursor)
                await self._wake_reader()  # it may be blocked on the streams it had
        except BaseException:
            self.unsubscribe(sub)
            raise
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="event-hub")
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.session_id)
        if subs is None:
            return
        subs.discard(sub)
        if not subs:
            del self._subs[sub.session_id]
            self._cursors.pop(sub.session_id, None)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for subs in list(self._subs.values()):
            for sub in subs:
                sub.end(End.DROPPED)  # their clients reconnect to another process
        with contextlib.suppress(redis.RedisError, OSError, TimeoutError):
            async with asyncio.timeout(1):
                await self._reader.delete(self._wake)
        await self._reader.aclose(close_connection_pool=True)

    async def _wake_reader(self) -> None:
        if self._task is None:
            return
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.xadd(self._wake, {"wake": "1"}, maxlen=1)
            pipe.expire(self._wake, WAKE_TTL)
            await pipe.execute()

    async def _run(self) -> None:
        while True:
            if not self._subs:
                self._watching.clear()
                await self._watching.wait()
            try:
                await self._read_once()
                if self._failing:
                    log.info("event reader: Redis answers again")
                    self._failing = False
                if time.monotonic() - self._checked >= BLOCK_SECONDS:
                    await self._end_deleted()
            except redis.RedisError as error:
                # Once per outage: clients keep their heartbeats and get what they missed
                # when Redis is back (the cursors stay).
                if not self._failing:
                    log.warning("event reader: %r; retrying every %s s", error, RETRY_SECONDS)
                self._failing = True
                await asyncio.sleep(RETRY_SECONDS)
            except Exception:
                log.exception("event reader failed; retrying in %s s", RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)

    async def _read_once(self) -> None:
        names = {keys.events_key(sid): sid for sid in self._cursors}
        streams: dict[Any, Any] = {self._wake: self._wake_cursor,
                                   **{key: self._cursors[sid] for key, sid in names.items()}}
        reply: list[Any] | None = await self._reader.xread(
            streams, count=READ_COUNT, block=int(BLOCK_SECONDS * 1000))  # type: ignore[assignment]
        # No await from here on: a subscribe cannot slip between reading and dispatching.
        for raw_key, entries in reply or []:
            key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
            last = entries[-1][0]
            last = last.decode() if isinstance(last, bytes) else str(last)
            if key == self._wake:
                self._wake_cursor = last
            elif (sid := names.get(key)) is not None and sid in self._cursors:
                self._cursors[sid] = last
                self._dispatch(sid, entries)

    def _dispatch(self, session_id: str, entries: list[Any]) -> None:
        deliveries = [Delivery(e.id, frame(e), e.session.status.terminal)
                      for e in parse_entries(session_id, entries)]
        for sub in list(self._subs.get(session_id, ())):
            if not all(sub.offer(d) for d in deliveries):
                log.info("dropping a slow event stream of %s", session_id)
                self.unsubscribe(sub)

    async def _end_deleted(self) -> None:
        """End the subscriptions of sessions whose hash is gone (deleted or expired)."""
        self._checked = time.monotonic()
        watched = list(self._cursors)
        if not watched:
            return
        async with self._reader.pipeline(transaction=False) as pipe:
            for sid in watched:
                pipe.exists(keys.session_key(sid))
            found = await pipe.execute()
        for sid, exists in zip(watched, found, strict=True):
            if not exists:
                for sub in list(self._subs.get(sid, ())):
                    sub.end(End.DELETED)
                    self.unsubscribe(sub)


def dedicated_reader(client: redis.asyncio.Redis) -> redis.asyncio.Redis:
    """A one-connection client to the server of ``client`` whose reads may outlast a block
    (the app's client gives up after REDIS_TIMEOUT)."""
    pool = client.connection_pool
    kwargs = {**pool.connection_kwargs, "socket_timeout": BLOCK_SECONDS + SOCKET_MARGIN}
    return redis.asyncio.Redis(connection_pool=redis.asyncio.ConnectionPool(
        connection_class=pool.connection_class, max_connections=1, **kwargs))


def install_event_hub(app: Quart) -> None:
    """Open the hub once the app's clients exist (its reader starts with the first stream);
    close it at shutdown. Register after the services' own before_serving."""

    @app.before_serving
    async def open_hub() -> None:
        svc: Services = app.extensions["video"]
        app.extensions[EXTENSION] = EventHub(dedicated_reader(svc.aredis), svc.aredis)

    @app.after_serving
    async def close_hub() -> None:
        hub: EventHub | None = app.extensions.pop(EXTENSION, None)
        if hub is not None:
            await hub.close()


def event_hub() -> EventHub:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]
