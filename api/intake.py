"""Accepting an upload: stream it to a new workspace, probe it, then create the session."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from quart import request

from api.callbacks import callback_url, check_callback
from api.errors import from_stage_error
from api.options import parse_options
from api.pace import UploadLimits
from api.services import services
from api.upload import receive_upload
from queues import keys, metrics
from queues.logs import log_scope
from queues.session import Session
from queues.submit import new_session_id, submit_session
from stages.errors import StageError
from stages.limits import MediaLimits
from stages.options import AnalysisOptions
from stages.probe import probe
from stages.workspace import SOURCE, Workspace

log = logging.getLogger(__name__)


@dataclass
class Incoming:
    """An upload received in full, not yet probed nor turned into a session."""

    session_id: str
    workspace: Workspace
    fields: dict[str, str]
    options: AnalysisOptions
    file_sha256: str = ""  # when asked for (idempotent uploads)
    callback_url: str = ""  # where the session's end is posted (api.callbacks)
    session: Session | None = None  # set by admit()


class CountedBody:
    """A request body that counts the bytes read from it (upload metrics)."""

    def __init__(self, body: AsyncIterable[bytes]) -> None:
        self._chunks = aiter(body)
        self.received = 0

    def __aiter__(self) -> CountedBody:
        return self

    async def __anext__(self) -> bytes:
        chunk = await anext(self._chunks)
        self.received += len(chunk)
        return chunk


@asynccontextmanager
async def incoming_upload(analysis: str | None = None, *,
                          body: AsyncIterable[bytes] | None = None,
                          hash_file: bool = False) -> AsyncIterator[Incoming]:
    """Receive the request's upload into a new workspace. Unless admit() made a session of
    it inside the block, nothing of it is kept (an error, or a body received only to be
    compared with an earlier one)."""
    svc = services()
    await svc.aredis.ping()  # Redis down: answer 503 now rather than after the whole upload
    session_id = new_session_id()
    with log_scope(session_id):
        async with _received(session_id, analysis, body, hash_file) as incoming:
            yield incoming


@asynccontextmanager
async def _received(session_id: str, analysis: str | None, body: AsyncIterable[bytes] | None,
                    hash_file: bool) -> AsyncIterator[Incoming]:
    svc = services()
    await svc.aredis.zadd(keys.UPLOADS, {session_id: time.time()})  # the sweeper spares it
    workspace = await asyncio.to_thread(svc.storage.create, session_id)
    incoming: Incoming | None = None
    counted = CountedBody(body or request.body)
    try:
        file_hash = hashlib.sha256() if hash_file else None
        fields = await receive_upload(
            request.headers.get("Content-Type"), counted, workspace,
            UploadLimits.from_settings(svc.settings),
            check_fields=lambda so_far: (parse_options(so_far, svc.settings, analysis),
                                         callback_url(so_far, svc.settings, analysis)),
            file_hash=file_hash)
        incoming = Incoming(session_id, workspace, fields,
                            parse_options(fields, svc.settings, analysis),
                            file_hash.hexdigest() if file_hash else "",
                            callback_url(fields, svc.settings, analysis))
        yield incoming
    finally:
        accepted = incoming is not None and incoming.session is not None
        if not accepted:
            await asyncio.to_thread(workspace.abort_upload)
            await asyncio.to_thread(svc.storage.delete, session_id)
        await svc.aredis.zrem(keys.UPLOADS, session_id)
        await metrics.count_upload(svc.aredis, counted.received, accepted)
        log.info("upload of %d bytes %s", counted.received,
                 "accepted" if accepted else "not accepted (no new session)")


async def admit(incoming: Incoming) -> Session:
    """Probe the received video and create its session (queued)."""
    svc = services()
    await check_callback(incoming.callback_url, incoming.fields, svc.settings)
    try:
        options = incoming.options
        await asyncio.to_thread(probe, incoming.workspace.path(SOURCE),
                                options.max_video_seconds, MediaLimits.of(options))
    except StageError as error:
        raise from_stage_error(error) from None
    await asyncio.to_thread(incoming.workspace.publish_upload)  # into the store, if remote
    await asyncio.to_thread(svc.storage.discard, incoming.session_id)
    incoming.session = await asyncio.to_thread(submit_session, svc.sync_redis, svc.settings,
                                               incoming.session_id, incoming.options,
                                               incoming.callback_url)
    return incoming.session


async def accept_upload(analysis: str | None = None) -> Session:
    """Everything an upload route does before answering; nothing is kept if any step fails."""
    async with incoming_upload(analysis) as incoming:
        return await admit(incoming)
