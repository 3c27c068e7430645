"""Parameters, headers and response builders the operations of the document share."""

from __future__ import annotations

from typing import Any

from api.openapi.schemas import Schema, ref

JSON = "application/json"
INTEGER_TEXT = {"type": "integer", "minimum": 0}


def use(*names: str) -> list[dict[str, str]]:
    """References to shared parameters, by component name."""
    return [{"$ref": f"#/components/parameters/{name}"} for name in names]


def header_refs(*names: str) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def json_response(description: str, schema: Schema, headers: dict[str, Any] | None = None,
                  media: str = JSON) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description,
                                "content": {media: {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _header(description: str, schema: Schema, required: bool = False) -> dict[str, Any]:
    return {"description": description, "schema": schema, "required": required}


def _param(name: str, where: str, description: str, schema: Schema,
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "description": description, "schema": schema,
            "required": required}


PRINTABLE_ASCII = "^[ -~]+$"
STREAM_ID = "^[0-9]{1,20}-[0-9]{1,20}$"
EVENT_ID = {"type": "string", "pattern": "^([0-9]{1,20}-[0-9]{1,20})?$",
            "examples": ["1764672000000-0"]}


def parameters() -> dict[str, Any]:
    return {
        "SessionId": _param("session_id", "path", "The id the upload answered with.",
                            ref("SessionId"), required=True),
        "IdempotencyKey": _param(
            "Idempotency-Key", "header",
            "Makes a retried upload safe (v1.2): the same key with the same file and form "
            "fields within IDEMPOTENCY_TTL (24 h) answers 202 with the first answer's body "
            "and Location plus `Idempotent-Replayed: true`, and creates no new session. The "
            "same key with another file or other fields: 422 `idempotency_key_reused`; while "
            "the first request with it is still being received: 409 "
            "`idempotency_key_in_use`. 1 to 255 printable ASCII characters (e.g. a UUID), "
            "else 400 `bad_idempotency_key`.",
            {"type": "string", "minLength": 1, "maxLength": 255, "pattern": PRINTABLE_ASCII}),
        "LastEventIdHeader": _param(
            "Last-Event-ID", "header",
            "The `id:` of the last event the client received (EventSource sends it when it "
            "reconnects): every stored event after it is replayed, then live ones. Empty: "
            "none. Not an id (two integers below 2^64): 400 `bad_event_id`.", EVENT_ID),
        "LastEventIdQuery": _param(
            "last_event_id", "query", "The same as the Last-Event-ID header (which wins), for "
            "clients that cannot set headers.", EVENT_ID),
        "Range": _param("Range", "header",
                        "One byte range: `bytes=0-99`, `bytes=100-`, `bytes=-100` (206). "
                        "Several ranges, other units, malformed or outside the file: 416.",
                        {"type": "string", "examples": ["bytes=0-1023"]}),
        "IfRange": _param("If-Range", "header", "Range applies only if this ETag or date "
                          "names the current reel; else the whole file (200).",
                          {"type": "string"}),
        "IfMatch": _param("If-Match", "header", "Serve the reel only if it is this version "
                          "(an ETag), else 412.", {"type": "string"}),
        "IfNoneMatch": _param("If-None-Match", "header",
                              "An ETag of the reel the client has: 304 when it is current.",
                              {"type": "string"}),
        "IfModifiedSince": _param("If-Modified-Since", "header", "HTTP date: 304 when the "
                                  "reel was not modified since.", {"type": "string"}),
        # Any value is answered (200): these two only decide whether CORS headers are added.
        "Origin": _param("Origin", "header", "The page's origin; CORS headers are added when "
                         "it is one of CORS_ORIGINS (or CORS_ORIGINS is `*`).",
                         {"type": "string", "examples": ["https://app.example"]}),
        "AccessControlRequestMethod": _param(
            "Access-Control-Request-Method", "header", "Preflight: the method the page "
            "wants to use (GET, POST or DELETE).", {"type": "string"}),
        "AccessControlRequestHeaders": _param(
            "Access-Control-Request-Headers", "header", "Preflight: the headers the page "
            "wants to send; allowed as asked (e.g. Idempotency-Key, Last-Event-ID, Range).",
            {"type": "string"}),
    }


def headers() -> dict[str, Any]:
    return {
        "Retry-After": _header("Seconds to wait before asking again: POLL_INTERVAL while a "
                               "session runs; 5 after a 503 or a 409 "
                               "`idempotency_key_in_use`.", INTEGER_TEXT, required=True),
        "Location": _header("Where the new session's status is.",
                            {"type": "string", "pattern": "^/api/v1/video/status/"},
                            required=True),
        "StoreLocation": _header("A presigned URL of the reel in the object store.",
                                 {"type": "string", "format": "uri"}, required=True),
        "Idempotent-Replayed": _header("`true` when this is the stored answer to an earlier "
                                       "upload with the same Idempotency-Key (v1.2).",
                                       {"type": "string", "const": "true"}),
        "Accept-Ranges": _header("Always `bytes` on the reel.",
                                 {"type": "string", "const": "bytes"}, required=True),
        "Content-Range": _header("206: `bytes <first>-<last>/<size>`; 416: `bytes */<size>`.",
                                 {"type": "string", "pattern": "^bytes (\\*|[0-9]+-[0-9]+)/"
                                                               "[0-9]+$"}, required=True),
        "Content-Length": _header("Bytes in this body.", INTEGER_TEXT),
        "ETag": _header("The reel's version (for If-None-Match and If-Range).",
                        {"type": "string"}),
        "Last-Modified": _header("When the reel was written (HTTP date).", {"type": "string"}),
        "Content-Disposition": _header("`inline; filename=\"highlights.mp4\"`.",
                                       {"type": "string"}),
        "Cache-Control": _header("`no-store` on the redirect to the object store; `no-cache` "
                                 "on the event stream.", {"type": "string"}),
        "Allow": _header("The methods this URL takes.", {"type": "string"}),
        "Access-Control-Allow-Origin": _header("The allowed Origin (or `*`).",
                                               {"type": "string"}),
        "Access-Control-Allow-Methods": _header("`GET, POST, DELETE, OPTIONS`.",
                                                {"type": "string"}),
        "Access-Control-Allow-Headers": _header("The headers asked for (default `Content-Type, "
                                                "Range`).", {"type": "string"}),
        "Access-Control-Max-Age": _header("Seconds a browser may cache the preflight (600).",
                                          INTEGER_TEXT),
        "Access-Control-Expose-Headers": _header("Response headers a page's script may read.",
                                                 {"type": "string"}),
    }


def preflight(path_methods: str) -> dict[str, Any]:
    """The OPTIONS operation of a path: CORS preflight, answered by the framework."""
    cors = header_refs("Access-Control-Allow-Origin", "Access-Control-Allow-Methods",
                       "Access-Control-Allow-Headers", "Access-Control-Max-Age")
    return {
        "tags": ["cors"], "summary": f"CORS preflight ({path_methods})",
        "description": "Answered for every URL. With an Origin from CORS_ORIGINS the "
                       "Access-Control-* headers are added; without one only Allow.",
        "parameters": use("Origin", "AccessControlRequestMethod",
                          "AccessControlRequestHeaders"),
        "responses": {"200": {"description": "No body; Allow lists the URL's methods.",
                              "headers": {**header_refs("Allow"), **cors}}},
    }
