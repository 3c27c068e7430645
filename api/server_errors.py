"""Problem+json bodies for the errors hypercorn answers itself, before or beside the app.

hypercorn answers these with an empty body and has no setting or hook for them (an ASGI
middleware never sees the requests):

- its HTTP/1.1 layer (``H11Protocol``), for what h11 cannot parse: a malformed request
  line or framing (400), request line and headers over ``h11_max_incomplete_size`` (431),
  an unknown transfer coding (501);
- its streams (``HTTPStream``, ``WSStream``): a WebSocket handshake that is not valid
  (400), an app that ends without answering (500), a Host not in ``server_names`` (404).

``install_hypercorn_problems`` (called by the app factory, hence in every hypercorn worker
and in ``python -m api``) replaces the one method of each, ``_send_error_response``, with
one sending the same status and a problem+json body. It leaves alone methods that are not
those it was written against (hypercorn 0.18); tests/api/test_http_basics.py and
tests/integration/test_server_errors.py fail when an upgrade breaks it.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import h11
from hypercorn.protocol.events import Body, EndBody, Event, Response
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.protocol.http_stream import HTTPStream
from hypercorn.protocol.ws_stream import WSStream

from api.errors import (
    PROBLEM_JSON,
    ApiError,
    HeadersTooLarge,
    MalformedRequest,
    TransferCodingNotImplemented,
    error_json,
)

log = logging.getLogger(__name__)

PATCHED = "_send_error_response"  # the method of each class below, (self, status_code)
ErrorSender = Callable[[Any, int], Awaitable[None]]


def server_error(status: int) -> ApiError:
    """The typed error for a status hypercorn answers on its own."""
    if status == 431:
        return HeadersTooLarge("The request line and headers are larger than this server "
                               "accepts; send fewer or smaller headers.")
    if status == 501:
        return TransferCodingNotImplemented(
            "The request's Transfer-Encoding is not implemented here; send the body with "
            "Content-Length or 'Transfer-Encoding: chunked'.")
    error = MalformedRequest("The request is not valid HTTP/1.1 (request line, headers, body "
                             "framing or WebSocket handshake), so it was not processed.")
    if status != 400:  # the streams' 404 and 500: say what they are
        error.status, error.title = status, _phrase(status)
        error.detail = "The server could not route or answer this request."
    return error


def _headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(body)).encode()), (b"connection", b"close")]


async def _h11_problem(self: H11Protocol, status_code: int) -> None:
    """``H11Protocol._send_error_response`` with a body (and the status's reason phrase)."""
    body = error_json(server_error(status_code))
    await self._send_h11_event(h11.Response(
        status_code=status_code, reason=_phrase(status_code).encode(),
        headers=[*_headers(body), *self.config.response_headers("h11")]))
    await self._send_h11_event(h11.Data(data=body))
    await self._send_h11_event(h11.EndOfMessage())


def _with_problem_body(original: ErrorSender) -> ErrorSender:
    """A stream's own ``_send_error_response`` (its state and access log kept), its
    Response given problem headers and a body sent before its EndBody."""
    async def send_problem(self: HTTPStream | WSStream, status_code: int) -> None:
        body = error_json(server_error(status_code))
        head = getattr(self, "scope", {}).get("method") == "HEAD"  # no body may follow
        send = self.send

        async def send_with_body(event: Event) -> None:
            if isinstance(event, Response):
                event = dataclasses.replace(event, headers=_headers(body))
            elif isinstance(event, EndBody) and not head:
                await send(Body(stream_id=event.stream_id, data=body))
            await send(event)

        self.send = send_with_body
        try:
            await original(self, status_code)
        finally:
            self.send = send

    send_problem.problem_body = True  # type: ignore[attr-defined]
    return send_problem


def install_hypercorn_problems() -> bool:
    """Patch hypercorn once; False (and a warning) where its code is not what we expect."""
    patched = [_patch(H11Protocol, lambda _: _h11_problem)]
    patched += [_patch(stream, _with_problem_body) for stream in (HTTPStream, WSStream)]
    return all(patched)


def _patch(cls: type, make: Callable[[ErrorSender], ErrorSender]) -> bool:
    current = getattr(cls, PATCHED, None)
    if current is _h11_problem or getattr(current, "problem_body", False):
        return True  # already installed (the factory runs once per app)
    if not (inspect.iscoroutinefunction(current) and
            list(inspect.signature(current).parameters) == ["self", "status_code"]):
        log.warning("hypercorn's %s changed: its own error answers keep an empty body "
                    "(see api/server_errors.py)", cls.__name__)
        return False
    setattr(cls, PATCHED, make(current))  # type: ignore[arg-type]
    return True


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
