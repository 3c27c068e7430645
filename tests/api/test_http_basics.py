"""Errors of the framework itself, health probes and CORS."""

from __future__ import annotations

import json

import fakeredis
import pytest
from quart import Quart
from quart.testing import QuartClient

from tests.api.test_upload import assert_problem


async def test_unknown_route_is_problem_json(client: QuartClient) -> None:
    await assert_problem(await client.get("/nope"), 404)


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v1//video/status/x"), ("GET", "//api/v1/video/status/x"),
    ("GET", "/api/v1/video/status//" + "A" * 32), ("POST", "/api/v1/video//upload"),
    ("POST", "/analyze//highlights"),
])
async def test_double_slashes_are_404_problem_never_a_redirect(client: QuartClient, method: str,
                                                               path: str) -> None:
    # werkzeug's merge_slashes answered 308 with an HTML body (and a POST would be re-sent)
    await assert_problem(await client.open(path, method=method), 404)


async def test_trailing_slash_is_served_not_redirected(client: QuartClient) -> None:
    assert (await client.get("/healthz/")).status_code == 200


async def test_wrong_method_is_problem_json(client: QuartClient) -> None:
    response = await client.get("/api/v1/video/upload")
    await assert_problem(response, 405)
    assert "POST" in response.headers["Allow"]


async def test_unexpected_error_is_500_problem_without_traceback(make_app) -> None:  # noqa: ANN001
    app: Quart = make_app()

    @app.get("/boom")
    async def boom() -> str:
        raise RuntimeError("secret internals")

    async with app.test_app():
        response = await app.test_client().get("/boom")
        body = await assert_problem(response, 500)
        assert "secret" not in body["detail"]


async def test_health(client: QuartClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200


async def test_not_ready_without_redis(client: QuartClient,
                                       server: fakeredis.FakeServer) -> None:
    server.connected = False
    assert (await client.get("/healthz")).status_code == 200
    await assert_problem(await client.get("/readyz"), 503)


async def test_cors_allows_the_configured_origin(client: QuartClient) -> None:
    response = await client.get("/healthz", headers={"Origin": "https://app.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Location" in response.headers["Access-Control-Expose-Headers"]
    preflight = await client.options("/api/v1/video/upload", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 200
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]


async def test_cors_ignores_other_origins(client: QuartClient) -> None:
    response = await client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_hypercorn_own_errors_get_problem_bodies() -> None:
    from hypercorn.protocol.h11 import H11Protocol
    from hypercorn.protocol.http_stream import HTTPStream
    from hypercorn.protocol.ws_stream import WSStream

    from api.server_errors import install_hypercorn_problems

    # False when a hypercorn upgrade changed a method we replace (api/server_errors.py);
    # tests/integration/test_server_errors.py checks the answers on the wire.
    assert install_hypercorn_problems()
    assert install_hypercorn_problems()  # idempotent: each app factory call installs it
    for cls in (H11Protocol, HTTPStream, WSStream):
        assert cls._send_error_response.__module__ == "api.server_errors"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_hypercorn_stream_500_has_a_problem_body(method: str) -> None:
    # What hypercorn sends when an app ends without answering (a request never reaches it).
    from hypercorn.config import Config
    from hypercorn.protocol.events import Body, EndBody, Response
    from hypercorn.protocol.http_stream import HTTPStream

    from api.server_errors import install_hypercorn_problems

    install_hypercorn_problems()
    sent: list[object] = []

    async def send(event: object) -> None:
        sent.append(event)

    stream = HTTPStream(None, Config(), None, None, False, None, None, send, 1)  # type: ignore[arg-type]
    stream.scope, stream.start_time = {"method": method}, 0.0  # type: ignore[typeddict-item]
    await stream._send_error_response(500)
    response, *body, end = sent
    assert isinstance(response, Response) and response.status_code == 500
    assert (b"content-type", b"application/problem+json") in response.headers
    assert isinstance(end, EndBody) and stream.send is send
    if method == "GET":
        assert isinstance(body[0], Body) and json.loads(body[0].data)["status"] == 500
    else:
        assert body == []
