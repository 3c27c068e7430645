"""Accepting an upload: stream it to a new workspace, probe it, then create the session."""

from __future__ import annotations

import asyncio
import time

from quart import request

from api.errors import from_stage_error
from api.options import parse_options
from api.pace import UploadLimits
from api.services import services
from api.upload import receive_upload
from queues import keys
from queues.session import Session
from queues.submit import new_session_id, submit_session
from stages.errors import StageError
from stages.limits import MediaLimits
from stages.probe import probe
from stages.workspace import SOURCE


async def accept_upload(analysis: str | None = None) -> Session:
    """Everything an upload route does before answering; nothing is kept if any step fails."""
    svc = services()
    await svc.aredis.ping()  # Redis down: answer 503 now rather than after the whole upload
    session_id = new_session_id()
    await svc.aredis.zadd(keys.UPLOADS, {session_id: time.time()})  # the sweeper spares it
    workspace = await asyncio.to_thread(svc.storage.create, session_id)
    try:
        fields = await receive_upload(
            request.headers.get("Content-Type"), request.body, workspace,
            UploadLimits.from_settings(svc.settings),
            check_fields=lambda so_far: parse_options(so_far, svc.settings, analysis))
        options = parse_options(fields, svc.settings, analysis)
        try:
            await asyncio.to_thread(probe, workspace.path(SOURCE), options.max_video_seconds,
                                    MediaLimits.of(options))
        except StageError as error:
            raise from_stage_error(error) from None
        await asyncio.to_thread(workspace.publish_upload)  # into the store, if one is remote
        await asyncio.to_thread(svc.storage.discard, session_id)
        return await asyncio.to_thread(submit_session, svc.sync_redis, svc.settings,
                                       session_id, options)
    except BaseException:
        await asyncio.to_thread(workspace.abort_upload)
        await asyncio.to_thread(svc.storage.delete, session_id)
        raise
    finally:
        await svc.aredis.zrem(keys.UPLOADS, session_id)
