"""The asynchronous API the frontend polls: upload, status, results, reel, cancel, cleanup."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any

import redis
from quart import Blueprint, Response, current_app, jsonify, request

from api.errors import Conflict, Gone, NotFound, problem
from api.idempotency import (
    CLAIM_MARGIN,
    REPLAYED_HEADER,
    IdempotencySlot,
    fingerprint,
    parse_key,
)
from api.intake import accept_upload, admit, incoming_upload
from api.lookup import load_session
from api.ranges import send_file_ranged
from api.services import services
from queues.cancel import enforce_cancel, request_cancel
from queues.connection import pipeline_queue
from queues.endings import delete_session
from queues.session import Session, SessionStatus, StageStatus, iso
from stages.workspace import REEL, RESULTS

REEL_URL_SECONDS = 3600  # a presigned reel URL outlives a viewing (seeks refetch ranges)

bp = Blueprint("video", __name__, url_prefix="/api/v1/video")


def status_url(session_id: str) -> str:
    return f"/api/v1/video/status/{session_id}"


def results_url(session_id: str) -> str:
    return f"/api/v1/video/results/{session_id}"


def reel_url(session_id: str) -> str:
    return f"{results_url(session_id)}/reel.mp4"


def status_response(session: Session, code: int = 200) -> Response:
    response = jsonify(session.status_body())
    response.status_code = code
    if not session.status.terminal:
        response.headers["Retry-After"] = str(services().settings.poll_interval)
    return response


def upload_body(session: Session) -> dict[str, Any]:
    return {"session_id": session.session_id, "status": session.status.value,
            "analysis": session.analysis, "status_url": status_url(session.session_id),
            "results_url": results_url(session.session_id),
            "created_at": iso(session.created_at), "expires_at": iso(session.expires_at)}


def accepted(body: dict[str, Any]) -> Response:
    response = jsonify(body)
    response.status_code = 202
    response.headers["Location"] = status_url(body["session_id"])
    return response


@bp.post("/upload")
async def upload() -> Response:
    key = parse_key(request.headers)
    if key is None:
        return accepted(upload_body(await accept_upload()))
    return await idempotent_upload(key)


async def idempotent_upload(key: str) -> Response:
    """The first upload with ``key`` makes a session; a retry with the same file and
    fields gets the same answer back (202), one with another upload 422."""
    svc = services()
    slot = await IdempotencySlot.open(
        svc.aredis, key, claim_ttl=int(svc.settings.upload_idle_timeout) + CLAIM_MARGIN,
        answer_ttl=svc.settings.idempotency_ttl)
    try:
        async with incoming_upload(body=slot.refreshed(request.body), hash_file=True) as incoming:
            request_fingerprint = fingerprint(incoming.file_sha256, incoming.fields)
            if slot.first is not None:
                slot.check_same(request_fingerprint)
                response = accepted(slot.first.body)
                response.headers[REPLAYED_HEADER] = "true"
                return response
            await slot.refresh()
            body = upload_body(await admit(incoming))
    except BaseException:
        if slot.first is None:
            with suppress(redis.RedisError):
                await slot.release()
        raise
    await slot.answer(request_fingerprint, body)
    return accepted(body)


@bp.get("/status/<session_id>")
async def status(session_id: str) -> Response:
    return status_response(await load_session(session_id))


async def completed_results(session: Session) -> dict[str, Any]:
    """The results body of a completed session (also used by the legacy routes)."""
    storage = services().storage
    try:
        body: dict[str, Any] = await asyncio.to_thread(storage.read_json, session.session_id,
                                                       RESULTS, session.outputs)
    except FileNotFoundError:  # cleaned up between the lookup and this read
        raise Gone("This session was deleted.", session_id=session.session_id) from None
    if body.get("reel") is not None:
        body["reel"] = {"url": reel_url(session.session_id), **body["reel"]}
    return {"session_id": session.session_id, "status": session.status.value, **body}


def not_completed(session: Session) -> Conflict:
    return Conflict(f"The session is {session.status.value}; it has no results.",
                    session_id=session.session_id, session_status=session.status.value,
                    error=session.error)


@bp.get("/results/<session_id>")
async def results(session_id: str) -> Response:
    session = await load_session(session_id)
    if session.status is SessionStatus.COMPLETED:
        return jsonify(await completed_results(session))
    if session.status.terminal:
        raise not_completed(session)
    return status_response(session, 202)


@bp.get("/results/<session_id>/reel.mp4")
async def reel(session_id: str) -> Response:
    session = await load_session(session_id)
    if session.status is not SessionStatus.COMPLETED:
        if session.status.terminal:
            raise not_completed(session)
        return status_response(session, 202)
    if services().storage.store is not None:
        return await _reel_from_store(session)
    path = services().storage.open(session_id, inputs=session.outputs).path(REEL)
    try:
        response = await send_file_ranged(path, "video/mp4")
    except FileNotFoundError:
        raise NotFound("This session has no reel (rendering was off or nothing was selected).",
                       session_id=session_id) from None
    response.headers["Content-Disposition"] = 'inline; filename="highlights.mp4"'
    return response


async def _reel_from_store(session: Session) -> Response:
    """A redirect to a short-lived URL of the reel in the object store: the store serves
    the bytes and Range requests (a <video> follows it), the web does not relay them."""
    render = next((s for s in session.stages
                   if s.name == "render" and s.status is StageStatus.COMPLETED), None)
    url = None
    if render is not None:
        url = await asyncio.to_thread(services().storage.blob_url, session.session_id,
                                      f"{render.token}/{REEL}", REEL_URL_SECONDS)
    if not url:
        raise NotFound("This session has no reel (rendering was off or nothing was selected).",
                       session_id=session.session_id)
    response = problem(302, "Found", "The reel is served by the object store: follow Location "
                       f"(valid for {REEL_URL_SECONDS} s; ask this URL again for a new one).")
    response.headers["Location"] = url
    response.headers["Cache-Control"] = "no-store"
    return response


async def cancel_session(session_id: str) -> SessionStatus | None:
    """Ask for cancellation; if a stage is running, hard-stop it after the grace period."""
    svc = services()
    outcome = await asyncio.to_thread(request_cancel, svc.sync_redis, svc.store, svc.storage,
                                      session_id)
    if outcome is SessionStatus.CANCELLING:
        current_app.add_background_task(_enforce_after_grace, session_id)
    return outcome


@bp.post("/cancel/<session_id>")
async def cancel(session_id: str) -> Response:
    await load_session(session_id)
    outcome = await cancel_session(session_id)
    if outcome is None:
        raise Gone("This session was deleted.", session_id=session_id)
    if outcome in (SessionStatus.COMPLETED, SessionStatus.FAILED):
        raise Conflict(f"The session is already {outcome.value}.", session_id=session_id,
                       session_status=outcome.value)
    response = jsonify({"session_id": session_id, "status": outcome.value})
    response.status_code = 202 if outcome is SessionStatus.CANCELLING else 200
    return response


async def _enforce_after_grace(session_id: str) -> None:
    svc = services()
    await asyncio.sleep(svc.settings.cancel_grace)
    await asyncio.to_thread(enforce_cancel, svc.sync_redis, svc.store, svc.storage, session_id)


@bp.delete("/cleanup/<session_id>")
async def cleanup(session_id: str) -> Response:
    await load_session(session_id)
    svc = services()
    await asyncio.to_thread(delete_session, svc.sync_redis, svc.store, svc.storage,
                            pipeline_queue(svc.sync_redis, svc.settings), session_id)
    return jsonify({"session_id": session_id, "status": "deleted"})
