"""Request bodies that are read as a stream the app pulls, not a buffer that fills.

Quart's ASGI connection moves every body chunk hypercorn receives into ``request.body``
at once, however slowly the app consumes it: a client sending faster than the upload is
written to disk (loopback, a LAN, a proxy that buffers and then forwards at full speed)
made the web hold the whole upload in memory (2.2 GB for a 2 GiB upload) and stalled its
event loop copying it. Here the connection stops taking chunks from hypercorn while the
body holds ``BODY_BUFFER_BYTES``; hypercorn's queue to the app (``max_app_queue_size``
messages) then fills, hypercorn stops reading the socket and TCP slows the client down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any

from quart.asgi import ASGIHTTPConnection
from quart.typing import ASGIReceiveCallable
from quart.wrappers import Request
from quart.wrappers.request import Body

BODY_BUFFER_BYTES = 1024 * 1024  # what a body may hold before its reader catches up


class StreamedBody(Body):
    """A body with room for ``BODY_BUFFER_BYTES`` while it is read as a stream; awaiting
    it whole (``await request.get_data()``) lifts the bound, as the app then wants it all."""

    def __init__(self, expected_content_length: int | None,
                 max_content_length: int | None) -> None:
        super().__init__(expected_content_length, max_content_length)
        self._room = asyncio.Event()
        self._room.set()
        self._whole = False

    def append(self, data: bytes) -> None:
        super().append(data)
        if len(self._data) >= BODY_BUFFER_BYTES and not self._whole:
            self._room.clear()

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
