"""A session's events: the scripts of ``queues.scripts`` append one entry per change GET
/status shows (its type and a snapshot of the session hash, atomically with the change);
readers here turn entries back into sessions, so an event's body is the status body."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import redis
import redis.asyncio

from queues import keys
from queues.session import (
    F_ANALYSIS,
    F_CREATED,
    F_ERROR,
    F_EXPIRES,
    F_STAGES,
    F_STATUS,
    F_UPDATED,
    Session,
    StagePart,
)


class EventType(StrEnum):
    STATUS = "status"  # the session's status changed
    STAGE = "stage"  # a stage started, ended or was handed back (its status changed)
    PROGRESS = "progress"  # a stage's progress rose


TYPE_FIELD = "type"  # entry field: an EventType
HASH_FIELD = "hash"  # entry field: JSON [field, value, ...], what /status shows of the hash
# What an event's snapshot keeps of the hash: the fields Session.status_body reads (the
# scripts apply the same rule, ``shown`` in queues.scripts.PRELUDE).
SHOWN_FIELDS = frozenset((F_STATUS, F_ANALYSIS, F_STAGES, F_ERROR, F_CREATED, F_UPDATED,
                          F_EXPIRES))
SHOWN_STAGE_PARTS = tuple(f":{part.value}" for part in (StagePart.STATUS,
                                                        StagePart.PROGRESS,
                                                        StagePart.ATTEMPTS))
NO_EVENT = "0-0"  # the id before any stored event: reading after it reads everything
_EVENT_ID = re.compile(r"([0-9]{1,20})-([0-9]{1,20})")  # ASCII: \d is any digit
_MAX_PART = 2**64 - 1  # a stream id is two unsigned 64-bit integers


@dataclass(frozen=True)
class Event:
    id: str
    type: EventType
    session: Session


def valid_event_id(text: str) -> bool:
    """A stream entry id (``<ms>-<seq>``) Redis accepts as an exclusive range start."""
    match = _EVENT_ID.fullmatch(text)
    if match is None:
        return False
    parts = [int(part) for part in match.groups()]
    return all(part <= _MAX_PART for part in parts) and parts != [_MAX_PART, _MAX_PART]


def event_order(event_id: str) -> tuple[int, int]:
    """Sort key of a stream id (as text, "10-0" < "9-0")."""
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


def following_id(event_id: str) -> str:
    """The smallest id after ``event_id``: an exclusive XRANGE start that Redis < 6.2
    (no "(" prefix) reads too."""
    ms, seq = event_order(event_id)
    return f"{ms}-{seq + 1}" if seq < _MAX_PART else f"{ms + 1}-0"


def shown(field: str) -> bool:
    """Whether GET /status shows this hash field (so an event's snapshot keeps it)."""
    return field in SHOWN_FIELDS or field.endswith(SHOWN_STAGE_PARTS)


def snapshot(fields: Mapping[str, str]) -> str:
    """What the scripts store as HASH_FIELD for a hash holding these fields."""
    return json.dumps([x for kv in fields.items() if shown(kv[0]) for x in kv])


def add_first_event(pipe: redis.client.Pipeline, session_id: str, fields: Mapping[str, str],
                    ttl: int) -> None:
    """Queue the ``status`` event of a session being created (in the creating transaction)."""
    key = keys.events_key(session_id)
    pipe.xadd(key, {TYPE_FIELD: EventType.STATUS.value, HASH_FIELD: snapshot(fields)},
              maxlen=keys.EVENTS_MAXLEN, approximate=True)
    pipe.expire(key, ttl)


def parse_entry(session_id: str, entry_id: Any, fields: Mapping[Any, Any]) -> Event | None:
    """An XRANGE/XREAD entry as an Event (None for one that is not a session event)."""
    f = {_text(k): _text(v) for k, v in fields.items()}
    try:
        kind = EventType(f[TYPE_FIELD])
        flat = json.loads(f[HASH_FIELD])
    except (KeyError, ValueError):
        return None
    session = Session.from_hash(session_id, dict(zip(flat[::2], flat[1::2], strict=True)))
    return None if session is None else Event(_text(entry_id), kind, session)


def parse_entries(session_id: str, entries: list[Any]) -> list[Event]:
    events = (parse_entry(session_id, entry_id, fields) for entry_id, fields in entries)
    return [e for e in events if e is not None]


async def newest_id(client: redis.asyncio.Redis, session_id: str) -> str:
    """The id of the session's newest stored event (NO_EVENT when it has none)."""
    newest = await client.xrevrange(keys.events_key(session_id), count=1)
    return _text(newest[0][0]) if newest else NO_EVENT


async def read_opening(client: redis.asyncio.Redis, session_id: str, after: str | None,
                       ) -> tuple[Session | None, list[Event]]:
    """The session now and, in one transaction, its stored events after ``after`` or,
    with ``after`` None, a ``status`` event of the session now with the newest stored id
    (every visible change writes its event in the same step, so that id is the one this
    state belongs to)."""
    key = keys.events_key(session_id)
    async with client.pipeline(transaction=True) as pipe:
        pipe.hgetall(keys.session_key(session_id))
        if after is None:
            pipe.xrevrange(key, count=1)
        else:
            pipe.xrange(key, min=following_id(after))
        raw, entries = await pipe.execute()
    session = Session.from_hash(session_id, raw)
    if session is None or after is not None:
        return session, parse_entries(session_id, entries)
    newest = _text(entries[0][0]) if entries else NO_EVENT
    return session, [Event(newest, EventType.STATUS, session)]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
