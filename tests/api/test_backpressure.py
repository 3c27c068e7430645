"""Request bodies are pulled by the app: bounded while streamed, dropped after an answer."""

from __future__ import annotations

import asyncio

from api.backpressure import BODY_BUFFER_BYTES, StreamedBody

CHUNK = b"x" * (256 * 1024)


async def test_a_streamed_body_has_no_room_until_it_is_read() -> None:
    body = StreamedBody(None, None)
    while len(body._data) < BODY_BUFFER_BYTES:
        await asyncio.wait_for(body.room(), 1)
        body.append(CHUNK)
    waiting = asyncio.ensure_future(body.room())
    await asyncio.sleep(0.01)
    assert not waiting.done()  # the connection stops taking chunks: TCP slows the client
    assert len(await body.__anext__()) == BODY_BUFFER_BYTES
    await asyncio.wait_for(waiting, 1)


async def test_awaiting_the_whole_body_lifts_the_bound() -> None:
    body = StreamedBody(None, None)
    whole = asyncio.ensure_future(_whole(body))
    await asyncio.sleep(0)
    for _ in range(8):  # 2 MiB, twice the bound
        await asyncio.wait_for(body.room(), 1)
        body.append(CHUNK)
    body.set_complete()
    assert len(await asyncio.wait_for(whole, 1)) == 8 * len(CHUNK)


async def test_after_an_answer_the_rest_is_dropped_until_complete() -> None:
    body = StreamedBody(None, None)
    body.append(CHUNK * 4)  # full: no room
    body.drop_the_rest()
    await asyncio.wait_for(body.room(), 1)
    for _ in range(100):
        body.append(CHUNK)  # read and dropped: nothing is kept
    assert len(body._data) == 0
    body.set_complete()
    await body.wait_complete(1)


async def _whole(body: StreamedBody) -> bytes:
    return await body  # type: ignore[no-any-return]


async def test_a_cancelled_request_stops_its_handler() -> None:
    """A server cancelling the app call (shutdown, a timeout) without a disconnect must not
    leave the route running: an event stream would write to a closed connection forever."""
    from quart import Quart

    from api.backpressure import BackpressureConnection, StreamingRequest

    app = Quart(__name__, static_folder=None)
    app.asgi_http_class = BackpressureConnection  # type: ignore[assignment]
    app.request_class = StreamingRequest
    started, stopped = asyncio.Event(), asyncio.Event()

    @app.get("/forever")
    async def forever() -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()
        return "never"

    scope = {"type": "http", "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/forever", "raw_path": b"/forever", "query_string": b"",
             "root_path": "", "headers": [(b"host", b"test")], "client": ("t", 1),
             "server": ("test", 80), "extensions": {}}
    never = asyncio.Event()

    async def receive() -> dict:
        await never.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        pass

    call = asyncio.ensure_future(app(scope, receive, send))  # type: ignore[arg-type]
    await asyncio.wait_for(started.wait(), 5)
    call.cancel()
    await asyncio.gather(call, return_exceptions=True)
    await asyncio.wait_for(stopped.wait(), 1)  # was: still waiting, for ever
