"""GET /api/v1/video/events/<id>: a session's status as Server-Sent Events (v1.2).

Each event's data is the GET /status body as of that event. A reconnect with Last-Event-ID
replays what it missed from the session's stream (``queues.events``); live events come
from this process's one reader (``api.event_hub``)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

from quart import Blueprint, Response, request

from api.errors import BadEventId, Gone
from api.event_hub import Delivery, End, EventHub, Subscription, event_hub, frame
from api.lookup import load_session
from api.services import services
from queues.events import NO_EVENT, Event, EventType, event_order, read_opening, valid_event_id
from queues.session import Session

RETRY_MS = 2000  # how long an EventSource waits before it reconnects
KEEP_ALIVE = b": keep-alive\n\n"
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

bp = Blueprint("events", __name__, url_prefix="/api/v1/video")


def last_event_id() -> str | None:
    """The client's Last-Event-ID (header, else ``?last_event_id=``); empty = none."""
    value = request.headers.get("Last-Event-ID")
    if value is None:
        value = request.args.get("last_event_id")
    if not value:
        return None
    if not valid_event_id(value):
        raise BadEventId("Last-Event-ID must be the id of an event this stream sent, "
                         "like '1764672000000-0'.")
    return value


@bp.get("/events/<session_id>")
async def events(session_id: str) -> Response:
    after = last_event_id()
    session = await load_session(session_id)  # 404 / 410, as /status
    hub = event_hub()
    # Subscribe before reading what is stored, so no event falls between the two.
    sub = None if session.status.terminal else await hub.subscribe(session_id)
    try:
        current, opening = await read_opening(services().aredis, session_id, after)
        if current is None:
            raise Gone("This session was deleted.", session_id=session_id)
        if current.status.terminal:
            if sub is not None:
                hub.unsubscribe(sub)
                sub = None
            if after is not None and not opening:
                return Response(status=204)  # at or after its end: EventSource stops
            opening = end_with_status(current, opening)
    except BaseException:
        if sub is not None:
            hub.unsubscribe(sub)
        raise
    response = Response(stream(hub, sub, opening, after or NO_EVENT,
                               services().settings.sse_heartbeat),
                        content_type="text/event-stream", headers=STREAM_HEADERS)
    response.timeout = None  # open as long as the session runs
    return response


def end_with_status(session: Session, opening: list[Event]) -> list[Event]:
    """A terminal session's stream ends with its terminal status, even if its stream lost
    that event (a session from before events were stored)."""
    if opening and opening[-1].session.status.terminal:
        return opening
    return [*opening, Event(opening[-1].id if opening else NO_EVENT, EventType.STATUS, session)]


async def stream(hub: EventHub, sub: Subscription | None, opening: list[Event], last: str,
                 heartbeat: float) -> AsyncIterator[bytes]:
    """retry, the opening events, then live ones after ``last`` until the terminal one
    (or the end)."""
    try:
        yield f"retry: {RETRY_MS}\n\n".encode()
        for event in opening:
            yield frame(event)
            last = event.id
            if event.session.status.terminal:
                return
        if sub is not None:
            async for chunk in live(sub, last, heartbeat):
                yield chunk
    finally:  # also on a client's disconnect (the task is cancelled)
        if sub is not None:
            hub.unsubscribe(sub)


async def live(sub: Subscription, last: str, heartbeat: float) -> AsyncIterator[bytes]:
    sent_at = time.monotonic()
    while True:
        item = await sub.next(max(0.0, sent_at + heartbeat - time.monotonic()))
        if isinstance(item, Delivery):
            if event_order(item.id) <= event_order(last):
                continue  # already sent in the opening
            yield item.frame
            last = item.id
            if item.terminal:
                return
        elif item is End.DELETED:
            data = json.dumps({"session_id": sub.session_id, "status": "deleted"})
            yield f"event: deleted\ndata: {data}\n\n".encode()
            return
        elif item is End.DROPPED:
            return  # too slow: the client reconnects with Last-Event-ID and catches up
        else:
            yield KEEP_ALIVE
        sent_at = time.monotonic()
