"""Typed API errors and the one renderer that turns every failure into problem+json."""

from __future__ import annotations

import json
import logging
from typing import Any

import redis
from quart import Quart, Response
from werkzeug.exceptions import HTTPException

from stages.errors import StageError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_UNAVAILABLE = 5  # seconds a client should wait after a 503


class ApiError(Exception):
    """Root of every error a route raises on purpose."""

    status = 500
    title = "Internal error"
    type = "about:blank"
    code = "internal_error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def headers(self) -> dict[str, str]:
        """Headers the answer needs beside the problem body."""
        return {}


class BadRequest(ApiError):
    """Missing file or an option we cannot use."""

    status, title, type, code = 400, "Bad request", "/problems/bad-request", "bad_request"


class CallbackRefused(BadRequest):
    """The upload's callback_url is not a destination webhooks may be sent to."""

    title, type, code = "Callback URL refused", "/problems/callback-url-refused", \
        "callback_url_refused"


class WebhooksDisabled(BadRequest):
    """A callback_url came, but this server has no WEBHOOK_SECRET to sign webhooks with."""

    title, type, code = "Webhooks disabled", "/problems/webhooks-disabled", "webhooks_disabled"


class NotFound(ApiError):
    """No session with that id (or never existed)."""

    status, title, type, code = 404, "Not found", "/problems/not-found", "not_found"


class Gone(ApiError):
    """The session was deleted or expired."""

    status, title, type, code = 410, "Gone", "/problems/gone", "gone"


class Conflict(ApiError):
    """The session's state does not allow this request."""

    status, title, type, code = 409, "Conflict", "/problems/conflict", "conflict"


class BadIdempotencyKey(BadRequest):
    """The Idempotency-Key header is empty, too long or not printable ASCII."""

    code = "bad_idempotency_key"


class BadEventId(BadRequest):
    """Last-Event-ID (header or ``last_event_id``) is not an event id (``<ms>-<seq>``)."""

    code = "bad_event_id"


class IdempotencyKeyInUse(Conflict):
    """The first request with this Idempotency-Key is still being received."""

    title, type, code = "Idempotency key in use", "/problems/idempotency-key-in-use", \
        "idempotency_key_in_use"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(RETRY_AFTER_UNAVAILABLE)}


class IdempotencyKeyReused(ApiError):
    """The Idempotency-Key was used before for a different upload (file or options)."""

    status, title, type, code = 422, "Idempotency key reused", \
        "/problems/idempotency-key-reused", "idempotency_key_reused"


class PayloadTooLarge(ApiError):
    """The upload exceeds the server's limit."""

    status, title, type, code = 413, "Upload too large", "/problems/too-large", "too_large"


class UnsupportedVideo(ApiError):
    """The upload is not a video we can analyse."""

    status, title, type, code = 422, "Unsupported video", "/problems/unreadable-video", \
        "unreadable_video"


class ServiceUnavailable(ApiError):
    """Redis or the queue cannot be reached right now."""

    status, title, type, code = 503, "Service unavailable", "/problems/unavailable", \
        "unavailable"


class RequestTimeout(ApiError):
    """The client stopped sending its upload."""

    status, title, type, code = 408, "Upload stalled", "/problems/upload-stalled", \
        "upload_stalled"


class UploadTooSlow(RequestTimeout):
    """The upload took longer than the deadline, or trickled below the minimum rate."""

    title, type, code = "Upload too slow", "/problems/upload-too-slow", "upload_too_slow"


class PreconditionFailed(ApiError):
    """If-Match names no current version of the file."""

    status, title, type, code = 412, "Precondition failed", "/problems/precondition-failed", \
        "precondition_failed"


class RangeNotSatisfiable(ApiError):
    """The Range header asks for bytes we cannot serve (malformed, several, past the end)."""

    status, title, type, code = 416, "Range not satisfiable", "/problems/range", \
        "range_not_satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__(f"The file has {size} bytes; ask for one range inside it, e.g. "
                         "'bytes=0-1023' or 'bytes=-1024'.")
        self.size = size

    def headers(self) -> dict[str, str]:
        return {"Content-Range": f"bytes */{self.size}", "Accept-Ranges": "bytes"}


class MalformedRequest(ApiError):
    """The request is not valid HTTP/1.1 (answered by the server before the app sees it)."""

    status, title, type, code = 400, "Malformed request", "/problems/malformed-request", \
        "malformed_request"


class TransferCodingNotImplemented(ApiError):
    """The request's Transfer-Encoding is one the server does not implement."""

    status, title, type, code = 501, "Transfer coding not implemented", \
        "/problems/transfer-coding", "transfer_coding_not_implemented"


class HeadersTooLarge(ApiError):
    """The request line and headers exceed the server's limit."""

    status, title, type, code = 431, "Request headers too large", \
        "/problems/headers-too-large", "headers_too_large"


class GatewayTimeout(ApiError):
    """A synchronous analysis took longer than the configured timeout."""

    status, title, type, code = 504, "Analysis timed out", "/problems/timeout", "timeout"


def problem_json(status: int, title: str, detail: str, type_: str = "about:blank",
                 **extra: Any) -> bytes:
    """The only place a problem+json body is built (the server's own errors use it too)."""
    body = {"type": type_, "title": title, "status": status, "detail": detail, **extra}
    return json.dumps(body).encode()


def problem(status: int, title: str, detail: str, type_: str = "about:blank",
            **extra: Any) -> Response:
    response = Response(problem_json(status, title, detail, type_, **extra), status=status,
                        content_type=PROBLEM_JSON)
    if status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_UNAVAILABLE)
    return response


def error_json(error: ApiError) -> bytes:
    return problem_json(error.status, error.title, error.detail, error.type, code=error.code,
                        **error.extra)


def from_stage_error(error: StageError, **extra: Any) -> ApiError:
    api_error = UnsupportedVideo(error.detail, **extra)
    api_error.type, api_error.title, api_error.code = error.type, error.title, error.code
    return api_error


def register_error_handlers(app: Quart) -> None:
    @app.errorhandler(ApiError)
    async def api_error(error: ApiError) -> Response:
        response = problem(error.status, error.title, error.detail, error.type,
                           code=error.code, **error.extra)
        response.headers.update(error.headers())
        return response

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        if status == 413:  # Quart's own check of Content-Length: same answer as ours
            return await api_error(PayloadTooLarge("The upload exceeds the server's size limit."))
        detail = {404: "There is nothing at this URL.",
                  405: "This URL does not accept that method.",
                  416: "The requested byte range is outside the file."}.get(
            status, error.description or error.name)
        code = error.name.lower().replace(" ", "_").replace("'", "")
        response = problem(status, error.name, detail, code=code)
        for name, value in error.get_headers():  # Allow (405), Content-Range (416)
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
        return response

    @app.errorhandler(redis.RedisError)
    async def redis_error(error: redis.RedisError) -> Response:
        log.warning("redis unavailable: %r", error)
        return await api_error(ServiceUnavailable(
            "The job queue is unavailable right now; retry shortly."))

    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return problem(500, "Internal error", "Something went wrong on our side; it was logged.",
                       "/problems/internal-error", code="internal_error")
