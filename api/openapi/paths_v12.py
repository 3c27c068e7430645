"""The v1.2 additions in the document: the session's event stream (SSE), its webhook
deliveries, and the webhook requests the service itself sends (OpenAPI ``webhooks``)."""

from __future__ import annotations

from typing import Any

from api.openapi.common import STREAM_ID, json_response, use
from api.openapi.problems import problem, shared
from api.openapi.schemas import TIMESTAMP, URL_PATH, Schema, obj, ref

ENDINGS = ("completed", "failed", "cancelled")
SNAPSHOT_EVENTS = ("status", "stage", "progress")


def _json_data(schema: Schema) -> Schema:
    return {"type": "string", "contentMediaType": "application/json", "contentSchema": schema}


def v12_schemas() -> dict[str, Schema]:
    return {
        "SessionEvent": {
            "type": "object", "required": ["event", "data"],
            "description": "One server-sent event, as its fields (OpenAPI 3.2's reading of "
                           "text/event-stream): `id:` is the event's id in the session's "
                           "stream, `data:` a JSON body.",
            "properties": {
                "id": {"type": "string", "pattern": STREAM_ID,
                       "examples": ["1764672000000-0"]},
                "event": {"type": "string", "enum": [*SNAPSHOT_EVENTS, "deleted"]},
                "data": {"type": "string"},
                "retry": {"type": "integer", "minimum": 0,
                          "description": "Reconnect delay (ms): 2000, on the first event."},
            },
            "oneOf": [
                {"properties": {"event": {"enum": list(SNAPSHOT_EVENTS)},
                                "data": _json_data(ref("Status"))}},
                {"properties": {"event": {"const": "deleted"},
                                "data": _json_data(ref("Deleted"))}},
            ],
        },
        "WebhookAttempt": obj({
            "at": TIMESTAMP,
            "status_code": {"oneOf": [{"type": "integer"}, {"type": "null"}],
                            "description": "The destination's answer; null: none (timeout, "
                                           "connection error, refused address)."},
            "error": {"oneOf": [{"type": "string"}, {"type": "null"}]},
            "duration_ms": {"type": "number", "minimum": 0},
        }),
        "WebhookDelivery": obj({
            "webhook_id": {"type": "string", "description": "The webhook-id header: the same "
                           "for every attempt of one event.",
                           "examples": ["msg_Xb3kV0q9Lr2sJ8uYw1Zt5nCe7PaHd4Mf_completed"]},
            "type": {"type": "string", "enum": [f"session.{end}" for end in ENDINGS]},
            "url": {"type": "string", "format": "uri"},
            "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
            "attempts": {"type": "array", "items": ref("WebhookAttempt")},
            "next_attempt_at": {"oneOf": [TIMESTAMP, {"type": "null"}]},
        }),
        "WebhookDeliveries": obj({
            "session_id": ref("SessionId"),
            "deliveries": {"type": "array", "items": ref("WebhookDelivery"),
                           "description": "Empty when the session has no callback or has "
                                          "not ended."},
        }),
        "WebhookEvent": obj({
            "type": {"type": "string", "enum": [f"session.{end}" for end in ENDINGS]},
            "timestamp": TIMESTAMP,
            "data": obj({
                "session_id": ref("SessionId"),
                "status": {"type": "string", "enum": list(ENDINGS)},
                "analysis": ref("Analysis"),
                "status_url": URL_PATH, "results_url": URL_PATH,
                "error": {"oneOf": [ref("Problem"), {"type": "null"}]},
            }),
        }),
    }


def events() -> dict[str, Any]:
    stream = {"text/event-stream": {"schema": ref("SessionEvent")}}
    return {"get": {
        "tags": ["events"], "operationId": "streamEvents",
        "summary": "A session's changes as Server-Sent Events (v1.2)",
        "description": "The stream starts with `retry: 2000`. Without Last-Event-ID the first "
                       "event is a `status` event with the current status body and the id of "
                       "the newest stored event; with it, every stored event after that id is "
                       "replayed in order; then live events: `status` (the session's status "
                       "changed), `stage` (a stage's status changed), `progress` (a stage's "
                       "progress rose), each with the GET /status body as data, and `deleted` "
                       "if the session is deleted meanwhile. The stream ends after the event "
                       "with a terminal status (or `deleted`). A comment `: keep-alive` comes "
                       "at least every SSE_HEARTBEAT seconds (15) while nothing else does.",
        "parameters": use("LastEventIdHeader", "LastEventIdQuery"),
        "responses": {
            "200": {"description": "The event stream.", "content": stream,
                    "headers": {"Cache-Control": {"$ref": "#/components/headers/Cache-Control"},
                                "X-Accel-Buffering": {
                                    "description": "`no`: proxies must not buffer the stream.",
                                    "schema": {"type": "string", "const": "no"}}}},
            "204": {"description": "Last-Event-ID is at or after the event that ended the "
                                   "session: nothing more will come (EventSource stops "
                                   "reconnecting)."},
            "400": problem(400, "Last-Event-ID (or last_event_id) is not an event id.",
                           ["bad_event_id"]),
            **shared("NotFound", "Gone", "Unavailable", "InternalError"),
        },
    }}


def deliveries() -> dict[str, Any]:
    return {"get": {
        "tags": ["webhooks"], "operationId": "getWebhookDeliveries",
        "summary": "A session's webhook deliveries and their attempts (v1.2)",
        "responses": {"200": json_response("The deliveries.", ref("WebhookDeliveries")),
                      **shared("NotFound", "Gone", "Unavailable", "InternalError")},
    }}


def v12_paths() -> dict[str, Any]:
    with_id = {"parameters": use("SessionId")}
    return {
        "/api/v1/video/events/{session_id}": {**with_id, **events()},
        "/api/v1/video/webhooks/{session_id}": {**with_id, **deliveries()},
    }


def webhooks() -> dict[str, Any]:
    """What the service posts to a session's callback_url (or WEBHOOK_URL) when it ends."""
    def header(name: str, description: str) -> dict[str, Any]:
        return {"name": name, "in": "header", "required": True, "description": description,
                "schema": {"type": "string"}}

    return {"sessionEnded": {"post": {
        "tags": ["webhooks"], "summary": "A session ended (v1.2)",
        "description": "One event per session end, signed per Standard Webhooks with "
                       "WEBHOOK_SECRET. Delivered at least once by the workers, retried after "
                       "each of WEBHOOK_RETRY_DELAYS; WEBHOOK_TIMEOUT seconds to connect and to "
                       "answer. The destination is checked again at every attempt.",
        "parameters": [
            header("webhook-id", "Stable across retries of one event: "
                                 "`msg_<session_id>_<status>`."),
            header("webhook-timestamp", "Unix seconds of this attempt."),
            header("webhook-signature", "`v1,<base64 HMAC-SHA256>` of "
                                        "`<id>.<timestamp>.<body>` (standardwebhooks)."),
            header("User-Agent", "`video-analysis-webhooks/1`."),
        ],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": ref("WebhookEvent")}}},
        "responses": {
            "2XX": {"description": "Delivered."},
            "default": {"description": "Any other status (redirects are not followed), a "
                                       "timeout or a connection error: a failed attempt, "
                                       "retried later."},
        },
    }}}
