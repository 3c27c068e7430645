"""Finding a session for a route: 404 for unknown ids, 410 for deleted or expired ones."""

from __future__ import annotations

import time

from api.errors import Gone, NotFound
from api.services import services
from queues import keys
from queues.session import Session
from stages.workspace import SESSION_ID_RE


async def load_session(session_id: str) -> Session:
    svc = services()
    if not SESSION_ID_RE.fullmatch(session_id):
        raise NotFound("No session has this id.")
    raw = await svc.aredis.hgetall(keys.session_key(session_id))
    session = Session.from_hash(session_id, raw)
    if session is None:
        if await svc.aredis.exists(keys.tombstone_key(session_id)):
            raise Gone("This session was deleted or has expired.", session_id=session_id)
        raise NotFound("No session has this id.", session_id=session_id)
    if session.status.terminal and session.expires_at < time.time():
        raise Gone("This session has expired.", session_id=session_id)
    return session
