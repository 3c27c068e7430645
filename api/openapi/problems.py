"""Problem details (RFC 9457) in the OpenAPI document: the schema, every ``code`` with its
status and meaning, and the problem responses the operations share.

The codes are read from the typed errors themselves (api.errors, stages.errors), so a new
leaf class is documented as soon as it exists; the few codes that no class carries are
listed here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from api.errors import PROBLEM_JSON, ApiError
from api.openapi.schemas import Schema, ref
from stages.errors import StageError

# Codes written without a class of their own: (status, meaning).
OTHER_CODES: dict[str, tuple[int, str]] = {
    "method_not_allowed": (405, "This URL does not take that method (see the Allow header)."),
    "worker_lost": (500, "A failed session's error: the worker analysing it stopped without "
                         "finishing MAX_ATTEMPTS times."),
    "out_of_memory": (500, "A failed session's error: the system stopped the analysis for "
                           "lack of memory MAX_ATTEMPTS times."),
    "analysis_failed": (500, "A legacy route's answer for a failed session without a code."),
    # v1.2 codes of the contract, in case their classes are not there (yet)
    "bad_idempotency_key": (400, "The Idempotency-Key header is not 1-255 printable ASCII."),
    "idempotency_key_in_use": (409, "The first request with this Idempotency-Key is still "
                                    "being received."),
    "idempotency_key_reused": (422, "The Idempotency-Key was used for another upload."),
    "callback_url_refused": (400, "callback_url is not an http(s) URL we may post to."),
    "webhooks_disabled": (400, "callback_url was given but the server signs no webhooks."),
}
# Better words than the docstring of a root class (which speaks of its subclasses).
ROOT_MEANINGS = {
    "internal_error": (500, "A bug on our side; it was logged. Never a traceback."),
    "stage_error": (422, "The analysis failed in a way without a more specific code."),
}
# Statuses whose problems carry Retry-After (api.errors.problem, IdempotencyKeyInUse).
RETRY_AFTER = {"$ref": "#/components/headers/Retry-After"}


def _leaves(root: type[Any]) -> Iterator[type[Any]]:
    yield root
    for sub in root.__subclasses__():
        yield from _leaves(sub)


def problem_codes() -> dict[str, tuple[int, str]]:
    """Every problem code: its HTTP status and a sentence on what it means."""
    codes: dict[str, tuple[int, str]] = {}
    for cls in (*_leaves(ApiError), *_leaves(StageError)):
        lines = (cls.__doc__ or "").strip().splitlines() or [""]
        codes.setdefault(cls.code, (int(cls.status), lines[0].replace("``", "`")))
    for code, entry in OTHER_CODES.items():
        codes.setdefault(code, entry)
    return {**codes, **ROOT_MEANINGS}


def codes_with_status(status: int) -> list[str]:
    return sorted(code for code, (code_status, _) in problem_codes().items()
                  if code_status == status)


def problem_schemas() -> dict[str, Schema]:
    codes = problem_codes()
    table = "\n".join(f"- `{code}` ({status}): {meaning}"
                      for code, (status, meaning) in sorted(codes.items()))
    return {
        "ProblemCode": {"type": "string", "enum": sorted(codes),
                        "description": "A stable, machine-readable name of the problem:\n\n"
                                       + table},
        "Problem": {
            "type": "object", "required": ["type", "title", "status", "detail"],
            "description": "RFC 9457 problem details: the body of every error, from every "
                           "route (unknown URLs, 405, 413 and 500 included), never HTML or a "
                           "traceback. Also a failed session's `error`.",
            "properties": {
                "type": {"type": "string", "format": "uri-reference",
                         "examples": ["/problems/not-found"]},
                "title": {"type": "string", "minLength": 1},
                "status": {"type": "integer", "minimum": 100, "maximum": 599},
                "detail": {"type": "string", "minLength": 1,
                           "description": "What happened, in words a person can act on."},
                "code": ref("ProblemCode"),
                "session_id": ref("SessionId"),
                "session_status": ref("SessionStatus"),
                "error": {"oneOf": [ref("Problem"), {"type": "null"}],
                          "description": "409 on a session that failed or was cancelled: "
                                         "its error."},
            },
            "additionalProperties": True,  # RFC 9457 extension members
        },
    }


def problem(status: int, description: str, codes: list[str] | None = None,
            headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """A problem+json response whose ``status`` is ``status`` and whose code is one of
    ``codes`` (default: every code of that status)."""
    chosen = sorted(codes if codes is not None else codes_with_status(status))
    narrowed: Schema = {"properties": {"status": {"const": status}}}
    if chosen:
        narrowed["properties"]["code"] = {"enum": chosen}
    response: dict[str, Any] = {
        "description": description + "".join(f"\n- `{c}`" for c in chosen),
        "content": {PROBLEM_JSON: {"schema": {"allOf": [ref("Problem"), narrowed]}}},
    }
    if status == 503 or headers:
        response["headers"] = {**({"Retry-After": RETRY_AFTER} if status == 503 else {}),
                               **(headers or {})}
    return response


def shared_responses() -> dict[str, Any]:
    """Problem responses many operations share (``#/components/responses/<name>``)."""
    return {
        "NotFound": problem(404, "No session has this id (never had, or its tombstone "
                                 "expired).", ["not_found"]),
        "Gone": problem(410, "The session was deleted or has expired (answered for "
                             "TOMBSTONE_TTL, then 404).", ["gone"]),
        "Unavailable": problem(503, "Redis (the queue) is unavailable; retry after "
                                    "Retry-After seconds.", ["unavailable"]),
        "InternalError": problem(500, "A bug on our side; it was logged. No traceback is "
                                      "sent.", ["internal_error"]),
    }


def shared(*names: str) -> dict[str, Any]:
    """Responses by status for the shared problem responses named."""
    statuses = {"NotFound": "404", "Gone": "410", "Unavailable": "503", "InternalError": "500"}
    return {statuses[name]: {"$ref": f"#/components/responses/{name}"} for name in names}
