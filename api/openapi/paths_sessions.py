"""The asynchronous session API in the document: upload, status, results, reel, cancel and
cleanup (api/routes/video.py), with the upload form (api/options.py, api/upload.py)."""

from __future__ import annotations

from typing import Any

from api.errors import PROBLEM_JSON
from api.openapi.common import INTEGER_TEXT, header_refs, json_response, use
from api.openapi.problems import codes_with_status, problem, shared
from api.openapi.schemas import Schema, ref

BINARY = {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream"}
RUNNING_RETRY_AFTER = {"description": "While the session is not terminal: seconds until the "
                       "next poll (POLL_INTERVAL).", "schema": INTEGER_TEXT}
FORM_TEXT = ("Form values are read as sent, never trimmed: numbers are plain ASCII decimals "
             "(digits only for whole numbers; one leading sign and one decimal point for "
             "seconds; no spaces, `_`, exponents or non-ASCII digits), else 400 naming the "
             "field. Other fields are ignored (at most 32 fields of 1 KiB).")
OPTION_FIELDS: dict[str, Schema] = {
    "target_duration": {"type": "number", "minimum": 1, "description": "Wanted reel length "
                        "in seconds, at most MAX_VIDEO_SECONDS (default 900). Default: "
                        "DEFAULT_TARGET_DURATION (30)."},
    "max_highlights": {"type": "integer", "minimum": 1, "maximum": 50, "description":
                       "Upper bound on the number of segments. Default: "
                       "DEFAULT_MAX_HIGHLIGHTS (5)."},
    "render": {"type": "boolean", "default": True, "description": "`false`: segments only, "
               "no reel. `true`/`false`, also `1`/`0`, in any case."},
    "min_clip": {"type": "number", "minimum": 0.5, "maximum": 60, "default": 2,
                 "description": "Shortest segment, seconds; not above max_clip. v1.1."},
    "max_clip": {"type": "number", "minimum": 0.5, "maximum": 120, "default": 10,
                 "description": "Longest segment, seconds. v1.1."},
    "padding": {"type": "number", "minimum": 0, "maximum": 10, "default": 0.5,
                "description": "Seconds added before and after the action. v1.1."},
}
UPLOAD_422 = sorted({*codes_with_status(422), "idempotency_key_reused"})


def form(extra: dict[str, Schema], description: str) -> Schema:
    return {
        "type": "object", "description": f"{description} {FORM_TEXT}",
        "properties": {
            "file": {**BINARY, "description": "The video (any container and codec ffmpeg "
                     "decodes); its file name is ignored."},
            "video": {**BINARY, "description": "Accepted instead of `file`."},
            **extra, **OPTION_FIELDS,
        },
        "anyOf": [{"required": ["file"]}, {"required": ["video"]}],
    }


def form_schemas() -> dict[str, Schema]:
    return {
        "UploadForm": form({
            "analysis": {**ref("Analysis"), "default": "highlights"},
            "callback_url": {"type": "string", "format": "uri", "maxLength": 1024,
                             "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://", "description":
                             "Where the session.* webhook is posted when the session ends "
                             "(v1.2); default WEBHOOK_URL. Refused (400 "
                             "`callback_url_refused`): another scheme, userinfo, no host, a "
                             "host that does not resolve or resolves to a loopback, private, "
                             "link-local, multicast, reserved or unspecified address (unless "
                             "WEBHOOK_ALLOW_PRIVATE). 400 `webhooks_disabled` when the server "
                             "has no WEBHOOK_SECRET."},
        }, "The video in part `file` (or `video`), options beside it."),
        "LegacyUploadForm": form({}, "As the upload's form; `analysis` comes from the URL and "
                                     "`callback_url` is ignored."),
    }


def upload_form(name: str) -> dict[str, Any]:
    part = {"contentType": "video/*, application/octet-stream"}
    return {"required": True, "content": {"multipart/form-data": {
        "schema": ref(name), "encoding": {"file": part, "video": part}}}}


def upload_errors() -> dict[str, Any]:
    """What an upload can be refused with (also the legacy routes')."""
    return {
        "400": problem(400, "No file part, a bad option (the detail names the field), or not "
                            "multipart/form-data, or a malformed body.", ["bad_request"]),
        "408": problem(408, "The body stopped arriving (UPLOAD_IDLE_TIMEOUT) or came too slowly "
                            "(UPLOAD_DEADLINE, UPLOAD_MIN_RATE); nothing is kept."),
        "413": problem(413, "Larger than MAX_UPLOAD_BYTES: reading stopped at the limit and "
                            "nothing is kept."),
        "422": problem(422, "Not a video we can analyse (empty, text, image, audio-only, "
                            "truncated, too long, too large a picture, too high a frame rate, "
                            "too many streams), with a detail a person can act on.",
                       [code for code in UPLOAD_422 if code != "idempotency_key_reused"]),
        **shared("Unavailable", "InternalError"),
    }


def upload() -> dict[str, Any]:
    errors = upload_errors()
    errors["400"] = problem(400, "No file part, a bad option (the detail names the field), "
                                 "not multipart/form-data or a malformed body, a bad "
                                 "Idempotency-Key or a refused callback_url.",
                            ["bad_request", "bad_idempotency_key", "callback_url_refused",
                             "webhooks_disabled"])
    errors["422"] = problem(422, "Not a video we can analyse, with a detail a person can act "
                                 "on; or an Idempotency-Key used before for another upload.",
                            UPLOAD_422)
    errors["409"] = problem(409, "The first request with this Idempotency-Key is still being "
                                 "received.", ["idempotency_key_in_use"],
                            header_refs("Retry-After"))
    return {"post": {
        "tags": ["sessions"], "operationId": "upload", "summary": "Upload a video",
        "description": "Streams the video to storage (never whole in memory), probes it, "
                       "creates the session and queues its analysis.",
        "parameters": use("IdempotencyKey"), "requestBody": upload_form("UploadForm"),
        "responses": {"202": json_response(
            "Accepted: the session is queued.", ref("UploadAccepted"),
            header_refs("Location", "Idempotent-Replayed")), **errors},
    }}


SESSION_ERRORS = shared("NotFound", "Gone", "Unavailable", "InternalError")
NOT_DONE = json_response("Not finished yet: the status body.", ref("Status"),
                         header_refs("Retry-After"))
NO_RESULTS = problem(409, "The session failed or was cancelled: no results. "
                          "`session_status` and `error` say why.", ["conflict"])


def status() -> dict[str, Any]:
    return {"get": {
        "tags": ["sessions"], "operationId": "getStatus", "summary": "A session's progress",
        "responses": {"200": json_response("The session's state.", ref("Status"),
                                           {"Retry-After": RUNNING_RETRY_AFTER}),
                      **SESSION_ERRORS},
    }}


def results() -> dict[str, Any]:
    return {"get": {
        "tags": ["sessions"], "operationId": "getResults", "summary": "A session's results",
        "responses": {"200": json_response("Completed: the results.", ref("Results")),
                      "202": NOT_DONE, "409": NO_RESULTS, **SESSION_ERRORS},
    }}


def reel() -> dict[str, Any]:
    mp4 = {"video/mp4": {"schema": {"type": "string", "contentMediaType": "video/mp4"}}}
    file_headers = header_refs("Accept-Ranges", "Content-Length", "ETag", "Last-Modified",
                               "Content-Disposition")
    redirect = {"allOf": [ref("Problem"), {"properties": {"status": {"const": 302}}}]}
    return {"get": {
        "tags": ["sessions"], "operationId": "getReel", "summary": "The highlight reel (MP4)",
        "description": "H.264 + AAC (when the source has sound), +faststart, playable in a "
                       "<video>. With a local store it is served here with conditional GET "
                       "and one byte range; with an S3 store the answer is a 302 to a "
                       "presigned URL of the object (valid an hour: ask again for a new one), "
                       "and the store serves the bytes and ranges.",
        "parameters": use("Range", "IfRange", "IfMatch", "IfNoneMatch", "IfModifiedSince"),
        "responses": {
            "200": {"description": "The whole reel.", "headers": file_headers, "content": mp4},
            "206": {"description": "One byte range of the reel.", "content": mp4,
                    "headers": {**file_headers, **header_refs("Content-Range")}},
            "302": {"description": "S3 store: follow Location (a presigned URL of the reel). "
                                   "The body is a problem+json note saying so.",
                    "headers": {"Location": {"$ref": "#/components/headers/StoreLocation"},
                                **header_refs("Cache-Control")},
                    "content": {PROBLEM_JSON: {"schema": redirect}}},
            "304": {"description": "If-None-Match / If-Modified-Since: the client's copy is "
                                   "current. No body.", "headers": header_refs("ETag")},
            "202": NOT_DONE, "409": NO_RESULTS,
            "404": problem(404, "No session has this id, or it has no reel (render=false, a "
                                "workout analysis, or nothing was selected).", ["not_found"]),
            "412": problem(412, "If-Match names another version of the reel.",
                           ["precondition_failed"]),
            "416": problem(416, "Range malformed, several ranges, another unit or outside the "
                                "file.", ["range_not_satisfiable"],
                           header_refs("Content-Range", "Accept-Ranges")),
            **shared("Gone", "Unavailable", "InternalError"),
        },
    }}


def cancel() -> dict[str, Any]:
    def outcome(value: str) -> Schema:
        return {"allOf": [ref("CancelOutcome"),
                          {"properties": {"status": {"const": value}}}]}

    return {"post": {
        "tags": ["sessions"], "operationId": "cancel", "summary": "Cancel a session",
        "description": "No further stage starts; a running stage stops within 2 s; partial "
                       "outputs are removed; no reel appears later. Idempotent.",
        "responses": {
            "202": json_response("A stage is running: it is being stopped.",
                                 outcome("cancelling")),
            "200": json_response("Cancelled (also when it already was).", outcome("cancelled")),
            "409": problem(409, "The session already completed or failed.", ["conflict"]),
            **SESSION_ERRORS,
        },
    }}


def cleanup() -> dict[str, Any]:
    return {"delete": {
        "tags": ["sessions"], "operationId": "cleanup", "summary": "Delete a session",
        "description": "Cancels work if running and deletes the upload, intermediates, reel, "
                       "pending webhook deliveries, events and Redis keys. Afterwards every "
                       "route for the id answers 410 (404 once the tombstone expires).",
        "responses": {"200": json_response("Deleted.", ref("Deleted")), **SESSION_ERRORS},
    }}


def session_paths() -> dict[str, Any]:
    base = "/api/v1/video"
    with_id = {"parameters": use("SessionId")}
    return {
        f"{base}/upload": upload(),
        f"{base}/status/{{session_id}}": {**with_id, **status()},
        f"{base}/results/{{session_id}}": {**with_id, **results()},
        f"{base}/results/{{session_id}}/reel.mp4": {**with_id, **reel()},
        f"{base}/cancel/{{session_id}}": {**with_id, **cancel()},
        f"{base}/cleanup/{{session_id}}": {**with_id, **cleanup()},
    }
