"""Errors of the framework itself, health probes and CORS."""

from __future__ import annotations

import fakeredis
from quart import Quart
from quart.testing import QuartClient

from tests.api.test_upload import assert_problem


async def test_unknown_route_is_problem_json(client: QuartClient) -> None:
    await assert_problem(await client.get("/nope"), 404)


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
