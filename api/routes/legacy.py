"""The old synchronous endpoints: same pipeline, but the request waits for the results."""

from __future__ import annotations

import asyncio
import time

from quart import Blueprint, Response, jsonify

from api.errors import ApiError, GatewayTimeout
from api.intake import accept_upload
from api.lookup import load_session
from api.routes.video import cancel_session, completed_results, not_completed
from api.services import services
from queues.cancel import request_cancel
from queues.session import Session, SessionStatus

bp = Blueprint("legacy", __name__)

POLL_SECONDS = 0.25


async def _wait_for_terminal(session_id: str, timeout: float) -> Session | None:
    deadline = time.monotonic() + timeout
    while True:
        session = await load_session(session_id)
        if session.status.terminal:
            return session
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(POLL_SECONDS)


async def _analyze(analysis: str) -> Response:
    svc = services()
    session = await accept_upload(analysis)
    try:
        finished = await _wait_for_terminal(session.session_id, svc.settings.legacy_timeout)
    except asyncio.CancelledError:
        # The client went away: nobody will ever read these results.
        asyncio.get_running_loop().run_in_executor(
            None, request_cancel, svc.sync_redis, svc.store, svc.storage, session.session_id)
        raise
    if finished is None:
        await cancel_session(session.session_id)
        raise GatewayTimeout(
            f"The analysis did not finish within {svc.settings.legacy_timeout:g} s; it was "
            "cancelled. Use the asynchronous API (/api/v1/video/upload) for long videos.",
            session_id=session.session_id)
    if finished.status is SessionStatus.COMPLETED:
        return jsonify(await completed_results(finished))
    if finished.status is SessionStatus.CANCELLED:
        raise not_completed(finished)
    error = finished.error or {}
    failure = ApiError(error.get("detail", f"The analysis was {finished.status.value}."),
                       session_id=session.session_id)
    failure.status = int(error.get("status", 500))
    failure.title = error.get("title", "Analysis failed")
    failure.type = error.get("type", "about:blank")
    failure.code = error.get("code", "analysis_failed")
    raise failure


@bp.post("/analyze/highlights")
async def analyze_highlights() -> Response:
    return await _analyze("highlights")


@bp.post("/analyze/workout")
async def analyze_workout() -> Response:
    return await _analyze("workout")
