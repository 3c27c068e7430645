"""Property-based fuzzing of every operation of the OpenAPI document (Schemathesis) against
the real app, in-process, on fakeredis, with two real sessions seeded (one completed with
its reel, one queued) so that ids sometimes exist.

Checks: no 500; every error is problem+json; every answer as documented (status, headers,
content type, body: Schemathesis's own checks, then tests/api/openapi_check.py, which also
refuses undocumented fields); invalid input gets a 4xx; undocumented methods 405 + Allow.
Beside it, malformed multipart bodies (which Schemathesis never writes) on the three upload
routes: always a 4xx problem. Not checked: positive_data_acceptance, as a fuzzed "video" is
never a decodable one (422) and the seconds fields have server-side bounds a number schema
cannot pin to its settings.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import fakeredis
import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st
from quart import Quart
from rq import SimpleWorker
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from werkzeug.datastructures import Headers

from api import create_app
from api.openapi import document
from queues.connection import pipeline_queue
from queues.settings import Settings
from tests.api.conftest import upload
from tests.api.openapi_check import shared_checker

MAX_EXAMPLES = 100  # per operation, fuzzing phase (the coverage phase adds its own cases)
STREAM_SECONDS = 0.5  # how long an open event stream is read before it is cut
SCHEMA = schemathesis.openapi.from_dict(document())
# Query parameters an operation does not define are ignored, as HTTP caches and link
# trackers add them: not generated as invalid input.
SCHEMA.config.generation.update(max_examples=MAX_EXAMPLES, database="none",
                                allow_extra_parameters=False)
SESSION_ID = re.compile(SCHEMA.raw_schema["components"]["schemas"]["SessionId"]["pattern"])
SEEDED: dict[str, list[str]] = {}  # ids of real sessions, filled by the fuzz_app fixture
ANSWERS: Counter[tuple[str, int]] = Counter()  # (operation, status) of every answer checked


def problem_json_errors(ctx: Any, response: Any, case: Any) -> None:
    """Every error, from every route, is problem+json."""
    if response.status_code >= 400:
        media = (response.headers.get("content-type") or [""])[0].split(";")[0]
        assert media == "application/problem+json", f"{response.status_code} as {media!r}"


def as_documented(ctx: Any, response: Any, case: Any) -> None:
    """The checker the API tests use: the answer is exactly what the document says."""
    ANSWERS[(f"{case.operation.method.upper()} {case.operation.path}",
             response.status_code)] += 1
    headers = Headers([(name, value) for name, values in response.headers.items()
                       for value in values])
    path = urlsplit(response.request.url).path
    shared_checker().check(response.request.method, path, response.status_code, headers,
                           response.content)


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance, negative_data_rejection,
          unsupported_method, allow_header_conformance, problem_json_errors, as_documented]


@SCHEMA.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
    """Now and then a real session's id instead of a made-up valid one (a deliberately
    invalid id, a negative case, is kept). Cancel and cleanup get sessions of their own, so
    the other routes still find live ones after them."""
    sid = (path_parameters or {}).get("session_id")
    if not isinstance(sid, str) or not SESSION_ID.fullmatch(sid) or not SEEDED:
        return st.just(path_parameters)
    path = context.operation.path
    ids = SEEDED["disposable" if "/cancel/" in path or "/cleanup/" in path else "kept"]
    real = st.sampled_from(ids).map(lambda sid: {**path_parameters, "session_id": sid})
    return st.one_of(st.just(path_parameters), st.just(path_parameters), real)


@SCHEMA.hook
def filter_case(context: Any, case: schemathesis.Case) -> bool:
    """Last-Event-ID may come as a header or as ``?last_event_id=``; with both, the header
    wins and the query is not read, so a bad query value beside it is no invalid input."""
    return not ("Last-Event-ID" in (case.headers or {}) and
                "last_event_id" in (case.query or {}))


def mounted_operations(app: Quart) -> set[tuple[str, str]]:
    """(method, path template) of every route the app has."""
    return {(method.lower(), re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule))
            for rule in app.url_map.iter_rules() for method in rule.methods or ()}


async def _seed(app: Quart, video: Path, run_jobs: Callable[[], None]) -> dict[str, list[str]]:
    """Two sessions for the reading routes, two for cancel and cleanup: in each pair one
    completed (highlights, with a reel), one queued (workout)."""
    async with app.test_app():
        client = app.test_client()

        async def new(**form: str) -> str:
            return (await (await upload(client, video, **form)).get_json())["session_id"]

        completed = [await new(target_duration="3"), await new(target_duration="3")]
        run_jobs()
        queued = [await new(analysis="workout"), await new(analysis="workout")]
        return {"kept": [completed[0], queued[0]], "disposable": [completed[1], queued[1]]}


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory, small_video: Path) -> Iterator[Quart]:
    server = fakeredis.FakeServer()
    sync = fakeredis.FakeRedis(server=server)
    settings = dataclasses.replace(
        Settings(), redis_url="", media_root=tmp_path_factory.mktemp("fuzz") / "media",
        analysis_long_side=96, cors_origins=("https://app.example",), legacy_timeout=1.0,
        sse_heartbeat=0.2)

    def make() -> Quart:
        return create_app(settings, redis_client=fakeredis.FakeAsyncRedis(server=server),
                          sync_client=sync)

    def run_jobs() -> None:
        SimpleWorker([pipeline_queue(sync, settings)], connection=sync).work(burst=True)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("queues.runner.process_settings", lambda: settings)
        SEEDED.update(asyncio.run(_seed(make(), small_video, run_jobs)))
    app = make()
    yield app
    asgi.shutdown_lifespans()  # the app's after_serving, in Schemathesis's event loop
    SEEDED.clear()
    by_operation: dict[str, dict[int, int]] = {}
    for (operation, status), count in sorted(ANSWERS.items()):
        by_operation.setdefault(operation, {})[status] = count
    print(f"\nfuzzing: {sum(ANSWERS.values())} answers checked;", by_operation)


@SCHEMA.parametrize()
def test_every_operation_as_documented(case: schemathesis.Case, fuzz_app: Quart) -> None:
    method, path = case.operation.method.lower(), case.operation.path
    if (method, path) not in mounted_operations(fuzz_app):
        pytest.skip(f"{method.upper()} {path} is not mounted (yet)")
    # The queued session's event stream runs until it ends: read it for STREAM_SECONDS.
    case.call_and_validate(app=fuzz_app, checks=CHECKS, timeout=STREAM_SECONDS)


BOUNDARY = "fuzz-boundary"
PLAUSIBLE = [b"all", b"workout", b"true", b"0", b"3", b"2.5", b"-1", b"1e3", b"\xff\xfe",
             b"http://x", b" 12 ", b""]
FIELD_NAMES = ["file", "video", "analysis", "target_duration", "max_highlights", "render",
               "min_clip", "max_clip", "padding", "callback_url"]


def _sometimes(draw: st.DrawFn) -> bool:
    return draw(st.integers(0, 3)) == 0  # one time in four


@st.composite
def multipart_bodies(draw: st.DrawFn) -> bytes:
    """Multipart bodies from well-formed to broken (broken one time in four at each turn):
    parts with or without a filename or a name, odd values, no end or an early one, stray
    bytes anywhere."""
    body = b""
    names = [draw(st.sampled_from(FIELD_NAMES) | st.text(max_size=12))
             for _ in range(draw(st.integers(0, 4)))]
    if not _sometimes(draw):
        names.insert(0, "file")
    for name in names:
        disposition = f'form-data; name="{name}"'.encode(errors="replace")
        if name in ("file", "video") and not _sometimes(draw):
            filename = draw(st.binary(max_size=12) if _sometimes(draw) else
                            st.from_regex(rb"[A-Za-z0-9._ -]{1,12}", fullmatch=True))
            disposition += b'; filename="' + filename + b'"'
        if _sometimes(draw):
            disposition = draw(st.sampled_from([b"form-data", b"attachment", b""]))
        value = draw(st.binary(max_size=300)) if _sometimes(draw) or name in (
            "file", "video") else draw(st.sampled_from(PLAUSIBLE))
        body += (b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: " + disposition +
                 b"\r\n\r\n" + value + b"\r\n")
    end = b"--" + BOUNDARY.encode() + b"--\r\n"
    body += draw(st.sampled_from([b"", b"--"])) if _sometimes(draw) else end
    if _sometimes(draw):  # a stray byte string somewhere
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.binary(min_size=1, max_size=20)) + body[at:]
    return body


@settings(max_examples=300, deadline=None, database=None)
@given(body=multipart_bodies(), path=st.sampled_from(
    ["/api/v1/video/upload", "/analyze/highlights", "/analyze/workout"]))
def test_malformed_multipart_is_a_4xx_problem(fuzz_app: Quart, body: bytes, path: str) -> None:
    with asgi.get_client(fuzz_app) as client:
        response = client.post(path, data=body, timeout=30, headers={
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    ANSWERS[(f"POST {path} (raw multipart)", response.status_code)] += 1
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    shared_checker().check("POST", path, response.status_code, response.headers,
                           response.content)
