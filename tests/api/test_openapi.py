"""The OpenAPI document: valid OpenAPI 3.1, in step with the app's routes, served at
/openapi.json with a page (/docs) whose every file is ours; and the response checker that
every other API test runs (tests/api/openapi_check.py) refuses what the document does not say.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from quart import Quart
from quart.testing import QuartClient
from swagger_ui_bundle import swagger_ui_path

from api.openapi import METHODS, document
from tests.api.openapi_check import CheckedClient, OpenApiChecker, OpenApiMismatch
from tests.api.test_upload import assert_problem

CONTRACT_CODES = {"bad_idempotency_key", "idempotency_key_reused", "idempotency_key_in_use",
                  "callback_url_refused", "webhooks_disabled", "unavailable", "gone"}


def test_document_is_valid_openapi_3_1() -> None:
    doc = document()
    validate(doc, cls=OpenAPIV31SpecValidator)  # the 3.1 meta-schema shipped in the package
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    assert doc["openapi"] == "3.1.0" and doc["info"]["version"] == "1.2.0"


def test_every_route_is_documented_and_nothing_else(app: Quart) -> None:
    mounted: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        mounted.setdefault(path, set()).update(m.lower() for m in rule.methods or ())
    documented = {path: {m for m in item if m in (*METHODS, "options")} | (
        {"head"} if "get" in item else set()) for path, item in document()["paths"].items()}
    assert mounted == documented


def test_every_error_is_a_documented_problem() -> None:
    doc = document()
    assert CONTRACT_CODES <= set(doc["components"]["schemas"]["ProblemCode"]["enum"])
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            responses = item[method]["responses"]
            assert "500" in responses, f"{method} {path}"
            for status, response in responses.items():
                if int(status) >= 400 and "$ref" not in response:
                    assert set(response["content"]) == {"application/problem+json"}, status


async def test_the_document_is_served(client: QuartClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200 and response.content_type == "application/json"
    assert await response.get_json() == document()


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


async def test_the_docs_page_uses_only_our_files(client: QuartClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = (await response.get_data()).decode()
    assert not re.search(r"https?://|//[a-z]", page, re.IGNORECASE)  # no other host, no CDN
    parser = _References()
    parser.feed(page)
    assert len(parser.urls) >= 3 and "/openapi.json" in page
    for url in parser.urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        shipped = Path(str(swagger_ui_path)) / url.rsplit("/", 1)[-1]
        assert await asset.get_data() == shipped.read_bytes()


@pytest.mark.parametrize("name", ["../__init__.py", "..%2F__init__.py", "%2e%2e",
                                  "index.html", "index.j2", "nope.js", ".", "swagger-ui.css/"])
async def test_docs_assets_are_only_the_listed_files(client: QuartClient, name: str) -> None:
    response = await client.get(f"/docs/assets/{name}")
    if name == "swagger-ui.css/":  # a trailing slash is optional on every route
        assert response.status_code == 200
        return
    await assert_problem(response, 404)


async def test_api_tests_check_their_responses(make_app: Callable[..., Quart]) -> None:
    app = make_app()

    @app.get("/undocumented")
    async def undocumented() -> str:
        return "hello"

    async with app.test_app():
        client = app.test_client()
        assert isinstance(client, CheckedClient)
        with pytest.raises(OpenApiMismatch, match="an undocumented URL"):
            await client.get("/undocumented")
        with pytest.raises(OpenApiMismatch, match="an undocumented URL"):  # streamed too
            async with client.request("/undocumented") as connection:
                await connection.send_complete()
                assert await connection.receive() == b"hello"


JSON = {"Content-Type": "application/json"}
PROBLEM = {"Content-Type": "application/problem+json"}
SID = "A" * 32


@pytest.mark.parametrize(("method", "path", "status", "headers", "body", "words"), [
    ("GET", "/healthz", 201, JSON, b'{"status": "ok"}', "status not documented"),
    ("GET", "/healthz", 200, JSON, b'{"status": "ok", "more": 1}', "'more' was unexpected"),
    ("GET", "/healthz", 200, {"Content-Type": "text/html"}, b"ok", "not documented"),
    ("GET", f"/api/v1/video/status/{SID}", 404, PROBLEM,
     b'{"type": "x", "title": "t", "status": 404, "detail": "d", "code": "gone"}', "'gone'"),
    ("GET", f"/api/v1/video/results/{SID}", 202, JSON, b"{}", "Retry-After missing"),
    ("GET", "/nowhere", 404, {"Content-Type": "text/html"}, b"<p>no</p>", "must be"),
    ("PUT", "/healthz", 405, PROBLEM, b"{}", "405 + Allow"),
])
def test_the_checker_refuses_what_the_document_does_not_say(
        method: str, path: str, status: int, headers: dict[str, str], body: bytes,
        words: str) -> None:
    with pytest.raises(OpenApiMismatch, match=re.escape(words)):
        OpenApiChecker().check(method, path, status, headers, body)


def test_the_checker_reads_event_streams() -> None:
    checker = OpenApiChecker()
    path = f"/api/v1/video/events/{SID}"
    headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    deleted = b'retry: 2000\n\n: keep-alive\n\nevent: deleted\ndata: {"session_id": "' + \
        SID.encode() + b'", "status": "deleted"}\n\n'
    checker.check("GET", path, 200, headers, deleted)
    with pytest.raises(OpenApiMismatch, match="status data"):
        checker.check("GET", path, 200, headers, b'id: 1-0\nevent: status\ndata: {}\n\n')
