"""The OpenAPI 3.1 document of the HTTP API, written by hand as data (served at
/openapi.json by api.routes.docs); ``document()`` assembles it once per process."""

from __future__ import annotations

import copy
import functools
import re
from typing import Any

from api.openapi.common import headers, parameters, preflight
from api.openapi.paths_other import other_paths
from api.openapi.paths_page import page_paths
from api.openapi.paths_sessions import form_schemas, session_paths
from api.openapi.paths_v12 import v12_paths, v12_schemas, webhooks
from api.openapi.problems import problem_schemas, shared_responses
from api.openapi.schemas import body_schemas

VERSION = "1.2.0"
METHODS = ("get", "put", "post", "delete", "patch", "head", "trace")
DESCRIPTION = """\
Upload a video, get a session id at once, follow its progress, fetch the results: highlight
segments, a rendered highlight reel (MP4) and a workout analysis (reps, sets, rest).

- JSON everywhere; times are seconds (floats) from the start of the video; timestamps are
  ISO-8601 UTC.
- Every error, from every URL (unknown ones, 405, 413 and 500 included), is
  `application/problem+json` (RFC 9457) with a machine-readable `code`.
- HEAD is answered wherever GET is; a trailing slash is optional; a path with `//` is 404,
  never a redirect. Browsers: CORS for the origins in CORS_ORIGINS (every OPTIONS below).
- Additions are additive: a client written for an earlier version keeps working.

**v1.1**: upload fields `min_clip`, `max_clip`, `padding`; results `highlights_reason`;
per set `confidence`; workout `reason`. Also beyond v1: the status body's `analysis` and
each of its stages' `attempts`.

**v1.2**: `GET /api/v1/video/events/{session_id}` (Server-Sent Events: status, stage,
progress, deleted; Last-Event-ID replay); webhooks (`callback_url` upload field,
`session.completed|failed|cancelled` signed per Standard Webhooks, `GET
/api/v1/video/webhooks/{session_id}`); idempotent upload (`Idempotency-Key`,
`Idempotent-Replayed`); this document (`/openapi.json`) and its page (`/docs`).
"""
TAGS = [
    {"name": "sessions", "description": "Upload, poll, fetch, cancel, delete."},
    {"name": "events", "description": "Server-Sent Events of a session (v1.2)."},
    {"name": "webhooks", "description": "Signed callbacks when a session ends (v1.2)."},
    {"name": "legacy", "description": "Synchronous endpoints of existing clients."},
    {"name": "health", "description": "Probes for load balancers and orchestrators."},
    {"name": "docs", "description": "This document."},
    {"name": "page", "description": "The page for people: upload, progress, results."},
    {"name": "cors", "description": "Preflight requests of browsers."},
]


def _with_preflights(paths: dict[str, Any]) -> dict[str, Any]:
    """Every URL answers OPTIONS (the framework's, with CORS headers): say so per path. A
    preflight reads no path parameter, so it takes any value of them."""
    for template, item in paths.items():
        methods = ", ".join(m.upper() for m in METHODS if m in item)
        item["options"] = preflight(methods)
        item["options"]["parameters"] += [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"\{([^}]+)\}", template)]
    return paths


@functools.cache
def _document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Video sessions API", "version": VERSION, "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "tags": TAGS,
        "paths": _with_preflights({**session_paths(), **v12_paths(), **other_paths(),
                                   **page_paths()}),
        "webhooks": webhooks(),
        "components": {
            "schemas": {**body_schemas(), **problem_schemas(), **form_schemas(),
                        **v12_schemas()},
            "parameters": parameters(),
            "headers": headers(),
            "responses": shared_responses(),
        },
    }


def document() -> dict[str, Any]:
    """The document (a copy: callers may change theirs)."""
    return copy.deepcopy(_document())
