"""Checks a real response against the OpenAPI document (api.openapi): its status must be
documented for the operation, its documented headers present and well-formed, its content
type documented, its JSON body (or each server-sent event) valid per JSON Schema 2020-12.

Stricter than the document on one point: the document's own object schemas get
``additionalProperties: false`` here (unless they say otherwise), so a field the code sends
and the document does not list fails the tests, while clients stay free to ignore new ones.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from quart.testing import QuartClient
from quart.testing.connections import TestHTTPConnection
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.datastructures import Headers

from api.openapi import document

ROOT = "urn:openapi"
JSON_TYPES = ("application/json", "application/problem+json")
PROBLEM_JSON = "application/problem+json"


class OpenApiMismatch(AssertionError):
    """A response the document does not describe."""


def _pointer(*parts: str) -> str:
    return ROOT + "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _closed(doc: dict[str, Any]) -> dict[str, Any]:
    strict = copy.deepcopy(doc)
    for schema in strict["components"]["schemas"].values():
        if schema.get("type") == "object" and "properties" in schema:
            schema.setdefault("additionalProperties", False)
    return strict


class OpenApiChecker:
    def __init__(self, doc: dict[str, Any] | None = None) -> None:
        self.doc = _closed(doc or document())
        resource = Resource.from_contents(self.doc, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(ROOT, resource)
        self.resolver = self.registry.resolver(ROOT)
        # literal paths before templated ones: /docs before /docs/assets/{name}
        self.templates = sorted(
            ((template, re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+",
                                                re.escape(template)) + "/?$"))
             for template in self.doc["paths"]), key=lambda t: ("{" in t[0], t[0]))

    def match(self, path: str) -> str | None:
        return next((template for template, regex in self.templates if regex.match(path)),
                    None)

    def check(self, method: str, path: str, status: int, headers: Mapping[str, str],
              body: bytes) -> None:
        """Raise OpenApiMismatch unless the document describes this answer."""
        path = path.split("?", 1)[0]
        media = headers.get("Content-Type", "").split(";")[0].strip().lower()
        template = self.match(path)
        if template is None:  # not an API URL: only ever a problem (404, or a test's own route)
            if status < 400:
                raise OpenApiMismatch(f"{method} {path} -> {status}: an undocumented URL")
            self._problem(status, media, body, f"{method} {path} (undocumented URL)")
            return
        item = self.doc["paths"][template]
        operation = item.get("get" if method.upper() == "HEAD" else method.lower())
        where = f"{method} {template} -> {status}"
        if operation is None:
            if status != 405 or "Allow" not in headers:
                raise OpenApiMismatch(f"{where}: an undocumented method must answer 405 + Allow")
            self._problem(status, media, body, where)
            return
        key = next((k for k in (str(status), f"{str(status)[0]}XX", "default")
                    if k in operation["responses"]), None)
        if key is None:
            raise OpenApiMismatch(f"{where}: status not documented "
                                  f"(documented: {sorted(operation['responses'])})")
        parts = ("paths", template, "get" if method.upper() == "HEAD" else method.lower(),
                 "responses", key)
        response = self.resolver.lookup(_pointer(*parts)).contents
        if "$ref" in response:  # a shared response: validate at its own place
            parts = tuple(response["$ref"].removeprefix("#/").split("/"))
            response = self.resolver.lookup(ROOT + response["$ref"]).contents
        self._headers(response.get("headers", {}), headers, where)
        if method.upper() != "HEAD":
            self._content(response, parts, media, body, where)

    def _problem(self, status: int, media: str, body: bytes, where: str) -> None:
        if status < 400:
            return
        if media != PROBLEM_JSON:
            raise OpenApiMismatch(f"{where}: an error must be {PROBLEM_JSON}, not {media!r}")
        problem = self._json(body, where)
        self._validate(problem, _pointer("components", "schemas", "Problem"), where)
        if problem["status"] != status:
            raise OpenApiMismatch(f"{where}: the problem says status {problem['status']}")

    def _headers(self, documented: dict[str, Any], headers: Mapping[str, str],
                 where: str) -> None:
        for name, spec in documented.items():
            spec = self._resolve(spec)
            value = headers.get(name)
            if value is None:
                if spec.get("required"):
                    raise OpenApiMismatch(f"{where}: header {name} missing")
                continue
            schema = self._resolve(spec["schema"])
            instance: Any = value
            if schema.get("type") == "integer":
                if not value.isdigit():
                    raise OpenApiMismatch(f"{where}: header {name}={value!r} is not an integer")
                instance = int(value)
            self._validate_schema(instance, schema, f"{where}: header {name}")

    def _content(self, response: dict[str, Any], parts: tuple[str, ...], media: str,
                 body: bytes, where: str) -> None:
        content = response.get("content")
        if not content:
            if body:
                raise OpenApiMismatch(f"{where}: documented without a body, got {body[:80]!r}")
            return
        if media not in content:
            raise OpenApiMismatch(f"{where}: content type {media!r} not documented "
                                  f"({sorted(content)})")
        pointer = _pointer(*parts, "content", media, "schema")
        if media in JSON_TYPES:
            self._validate(self._json(body, where), pointer, where)
        elif media == "text/event-stream":
            for event in parse_events(body.decode()):
                self._event(event, pointer, where)

    def _event(self, event: dict[str, Any], pointer: str, where: str) -> None:
        """An event as its fields, then its data against the contentSchema of its branch."""
        self._validate(event, pointer, f"{where}: event {event}")
        schema = self._resolve(self.resolver.lookup(pointer).contents)
        for branch in schema.get("oneOf", []):
            names = branch["properties"]["event"]
            if event["event"] in names.get("enum", [names.get("const")]):
                data_schema = branch["properties"]["data"]["contentSchema"]
                self._validate(self._json(event["data"].encode(), where),
                               ROOT + data_schema["$ref"], f"{where}: {event['event']} data")

    def _json(self, body: bytes, where: str) -> Any:
        try:
            return json.loads(body)
        except ValueError:
            raise OpenApiMismatch(f"{where}: body is not JSON: {body[:80]!r}") from None

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.resolver.lookup(ROOT + node["$ref"]).contents
        return node

    def _validate(self, instance: Any, pointer: str, where: str) -> None:
        self._validate_schema(instance, {"$ref": pointer}, where)

    def _validate_schema(self, instance: Any, schema: dict[str, Any], where: str) -> None:
        validator = Draft202012Validator(schema, registry=self.registry,
                                         format_checker=FormatChecker())
        errors = sorted(validator.iter_errors(instance), key=lambda e: e.path)
        if errors:
            best = errors[0]
            raise OpenApiMismatch(f"{where}: {best.message} at {list(best.absolute_path)} "
                                  f"in {json.dumps(instance)[:400]}")


def parse_events(text: str) -> Iterator[dict[str, Any]]:
    """Server-sent events as their fields (comments and data-less blocks are no events; a
    last block without its blank line is an event cut short, discarded as EventSource does)."""
    for block in re.split(r"\r\n\r\n|\n\n|\r\r", text)[:-1]:
        fields: dict[str, Any] = {}
        data: list[str] = []
        for line in re.split(r"\r\n|\n|\r", block):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            elif name == "retry" and value.isdigit():
                fields["retry"] = int(value)
            elif name in ("id", "event"):
                fields[name] = value
        if data:
            yield {"event": "message", **fields, "data": "\n".join(data)}


@functools.cache
def shared_checker() -> OpenApiChecker:
    return OpenApiChecker()


class CheckedConnection(TestHTTPConnection):
    """A test connection that checks its response against the document once it is over:
    every ``client.get/post/...`` and every streamed ``client.request(...)`` a test makes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen = bytearray()  # what the test read with receive()

    async def receive(self) -> bytes:
        data = await super().receive()
        self.seen.extend(data)
        return data

    async def __aexit__(self, exc_type: type, exc_value: BaseException,
                        tb: TracebackType) -> None:
        await super().__aexit__(exc_type, exc_value, tb)
        if self.status_code is None:
            return  # never answered (the test cut it before the answer began)
        raw = self.scope.get("raw_path") or self.scope["path"].encode()
        shared_checker().check(self.scope["method"], raw.decode("latin-1"), self.status_code,
                               self.headers or Headers(), bytes(self.seen + self.response_data))


class CheckedClient(QuartClient):
    """A test client whose every response is checked against the document."""

    http_connection_class = CheckedConnection
