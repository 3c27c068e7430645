"""Request bodies that are read as a stream the app pulls, not a buffer that fills.

Quart's ASGI connection moves every body chunk hypercorn receives into ``request.body``
at once, however slowly the app consumes it: a client sending faster than the upload is
written to disk (loopback, a LAN, a proxy that buffers and then forwards at full speed)
made the web hold the whole upload in memory (2.2 GB for a 2 GiB upload) and stalled its
event loop copying it. Here the connection stops taking chunks from hypercorn while the
body holds ``BODY_BUFFER_BYTES``; hypercorn's queue to the app (``max_app_queue_size``
messages) then fills, hypercorn stops reading the socket and TCP slows the client down.

A request answered before its body was read (503 while Redis is down, 413, a bad option)
lingers, as nginx does: from the moment its answer starts, the rest of the body is read
and dropped, for at most ``LINGER_SECONDS`` after the answer. Dropping must start with the
answer, not after it: hypercorn cannot send the answer while it waits to hand the app a
chunk, and a client still sending reads nothing until it has sent all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator
from typing import Any

from hypercorn.typing import ASGISendEvent
from quart.asgi import ASGIHTTPConnection
from quart.typing import ASGIReceiveCallable, ASGISendCallable
from quart.utils import cancel_tasks, raise_task_exceptions
from quart.wrappers import Request
from quart.wrappers.request import Body

BODY_BUFFER_BYTES = 1024 * 1024  # what a body may hold before its reader catches up
LINGER_SECONDS = 30.0  # after an early answer, how long the rest of a body is read (dropped)


class StreamedBody(Body):
    """A body with room for ``BODY_BUFFER_BYTES`` while it is read as a stream; awaiting
    it whole (``await request.get_data()``) lifts the bound, as the app then wants it all."""

    def __init__(self, expected_content_length: int | None,
                 max_content_length: int | None) -> None:
        super().__init__(expected_content_length, max_content_length)
        self._room = asyncio.Event()
        self._room.set()
        self._whole = False
        self._dropping = False

    def append(self, data: bytes) -> None:
        if self._dropping:
            return
        super().append(data)
        if len(self._data) >= BODY_BUFFER_BYTES and not self._whole:
            self._room.clear()

    def drop_the_rest(self) -> None:
        """The app answered without (all of) the body: take what comes, keep nothing."""
        self._dropping = True
        self._data.clear()
        self._room.set()

    async def wait_complete(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._complete.wait()

    async def __anext__(self) -> bytes:
        try:
            return await super().__anext__()
        finally:
            self._room.set()

    def __await__(self) -> Generator[Any, None, Any]:
        self._whole = True
        self._room.set()
        return super().__await__()

    async def room(self) -> None:
        """Wait until the reader has taken what the body holds."""
        await self._room.wait()


class StreamingRequest(Request):
    body_class = StreamedBody


class BackpressureConnection(ASGIHTTPConnection):
    async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        request = self._create_request_from_scope(send)
        body = request.body

        async def answer(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.start" and isinstance(body, StreamedBody):
                body.drop_the_rest()
            await send(message)

        receiver = asyncio.ensure_future(self.handle_messages(request, receive))
        handler = asyncio.ensure_future(self.handle_request(request, answer))
        try:
            done, pending = await asyncio.wait([handler, receiver],
                                               return_when=asyncio.FIRST_COMPLETED)
            if handler in done and isinstance(body, StreamedBody):
                await body.wait_complete(LINGER_SECONDS)  # the receiver drops the rest
        except asyncio.CancelledError:
            # The server gave up on the request (shutdown, a timeout) without a disconnect:
            # asyncio.wait leaves both tasks running, and an event stream would go on
            # writing to a closed connection. Stop them first.
            for task in (handler, receiver):
                task.cancel()
            await asyncio.gather(handler, receiver, return_exceptions=True)
            raise
        await cancel_tasks(pending)
        raise_task_exceptions(done)

    async def handle_messages(self, request: Request, receive: ASGIReceiveCallable) -> None:
        body = request.body
        while True:
            if isinstance(body, StreamedBody):
                await body.room()
            message = await receive()
            if message["type"] == "http.request":
                body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    body.set_complete()
            elif message["type"] == "http.disconnect":
                return

