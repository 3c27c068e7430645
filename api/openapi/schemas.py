"""The JSON bodies of the API as JSON Schema 2020-12 (OpenAPI 3.1 ``components/schemas``).

Enumerations come from the code that defines them (session and stage statuses, analyses,
stage names), so the document cannot drift from what the service writes.
"""

from __future__ import annotations

from typing import Any

from queues.graph import STAGES
from queues.session import SessionStatus, StageStatus
from stages.options import ANALYSES
from stages.results import SCHEMA_VERSION

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"oneOf": [schema, {"type": "null"}]}


def obj(properties: dict[str, Schema], description: str = "", *,
        optional: tuple[str, ...] = ()) -> Schema:
    """An object whose properties are all required unless named in ``optional``."""
    schema: Schema = {"type": "object", "properties": properties,
                      "required": [name for name in properties if name not in optional]}
    if description:
        schema["description"] = description
    return schema


SECONDS = {"type": "number", "minimum": 0, "description": "Seconds from the start of the video."}
PERCENT = {"type": "integer", "minimum": 0, "maximum": 100}
SCORE = {"type": "number", "minimum": 0, "maximum": 1}
PIXELS = {"type": "integer", "minimum": 1}
TIMESTAMP = {"type": "string", "format": "date-time",
             "description": "ISO-8601 UTC, milliseconds, e.g. 2026-01-02T03:04:05.678Z."}
URL_PATH = {"type": "string", "format": "uri-reference", "pattern": "^/api/v1/video/"}
REASON = {"oneOf": [{"type": "string", "minLength": 1}, {"type": "null"}],
          "description": "A sentence saying why the list is empty, else null."}


def body_schemas() -> dict[str, Schema]:
    """Every JSON body but the problem (api.openapi.problems) and the webhook ones."""
    return {
        "SessionId": {
            "type": "string", "pattern": "^[A-Za-z0-9_-]{22,64}$",
            "description": "Unguessable (192 random bits), URL-safe; the server issues 32 "
                           "characters.", "examples": ["Xb3kV0q9Lr2sJ8uYw1Zt5nCe7PaHd4Mf"]},
        "Analysis": {"type": "string", "enum": list(ANALYSES),
                     "description": "highlights: decode, score, select, render. workout: "
                                    "decode, score, workout. all: both branches."},
        "SessionStatus": {"type": "string", "enum": [s.value for s in SessionStatus],
                          "description": "completed, failed and cancelled are terminal."},
        "StageName": {"type": "string", "enum": list(STAGES)},
        "StageStatus": {"type": "string", "enum": [s.value for s in StageStatus]},
        "UploadAccepted": obj({
            "session_id": ref("SessionId"),
            "status": {"type": "string", "const": SessionStatus.QUEUED.value},
            "analysis": ref("Analysis"),
            "status_url": URL_PATH, "results_url": URL_PATH,
            "created_at": TIMESTAMP, "expires_at": TIMESTAMP,
        }, "The session was created. A replayed answer (Idempotent-Replayed: true) is the "
           "first answer's body, unchanged."),
        "Stage": obj({
            "name": ref("StageName"), "status": ref("StageStatus"),
            "progress": {**PERCENT, "description": "100 once completed; never lowered."},
            "attempts": {"type": "integer", "minimum": 0,
                         "description": "How many times the stage was started (more than 1 "
                                        "after a restart or a crash)."},
        }),
        "Status": obj({
            "session_id": ref("SessionId"), "status": ref("SessionStatus"),
            "analysis": ref("Analysis"),
            "progress": {**PERCENT, "description": "Weighted sum of the stages' progress: "
                         "never decreases; 100 exactly when completed."},
            "stage": {"oneOf": [ref("StageName"), {"type": "null"}],
                      "description": "The running stage, if any."},
            "stages": {"type": "array", "items": ref("Stage"),
                       "description": "This session's stages in graph order."},
            "error": {"oneOf": [ref("Problem"), {"type": "null"}],
                      "description": "Why the session failed (a problem object), else null."},
            "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
            "expires_at": {**TIMESTAMP, "description": "When the session and its files are "
                           "removed (SESSION_TTL after it ends)."},
        }, "A session's state; also the data of every SSE status/stage/progress event."),
        "Video": obj({
            "duration": {"type": "number", "minimum": 0},
            "fps": {"type": "number", "minimum": 0},
            "width": {**PIXELS, "description": "As a player shows it (square pixels)."},
            "height": PIXELS, "has_audio": {"type": "boolean"},
        }),
        "Highlight": obj({"start": SECONDS, "end": SECONDS, "score": SCORE},
                         "A segment: sorted by start, never overlapping, inside the video."),
        "Reel": obj({
            "url": {**URL_PATH, "description": "GET it for the MP4 (H.264/AAC, faststart)."},
            "duration": {"type": "number", "minimum": 0,
                         "description": "The sum of the highlights' lengths (±0.5 s)."},
            "width": PIXELS, "height": PIXELS,
        }),
        "WorkoutSet": obj({
            "start": SECONDS, "end": SECONDS, "reps": {"type": "integer", "minimum": 1},
            "rep_times": {"type": "array", "items": SECONDS,
                          "description": "When each rep is back at the start pose."},
            "avg_rep_seconds": {"type": "number", "minimum": 0},
            "confidence": {**SCORE, "description": "How believable the count is. v1.1."},
        }),
        "Workout": obj({
            "total_reps": {"type": "integer", "minimum": 0},
            "active_seconds": {"type": "number", "minimum": 0},
            "rest_seconds": {"type": "number", "minimum": 0},
            "sets": {"type": "array", "items": ref("WorkoutSet")},
            "reason": {**REASON, "description": "Why no set was found, else null. v1.1."},
        }),
        "Results": obj({
            "session_id": ref("SessionId"),
            "status": {"type": "string", "const": SessionStatus.COMPLETED.value},
            "analysis": ref("Analysis"),
            "schema_version": {"type": "integer", "const": SCHEMA_VERSION},
            "video": ref("Video"),
            "highlights": {"type": "array", "items": ref("Highlight"),
                           "description": "Empty for a workout analysis."},
            "highlights_reason": {**REASON, "description": "Why `highlights` is empty, else "
                                  "null. v1.1."},
            "reel": {"oneOf": [ref("Reel"), {"type": "null"}],
                     "description": "null when not rendered (render=false, workout, or "
                                    "nothing selected)."},
            "workout": {"oneOf": [ref("Workout"), {"type": "null"}],
                        "description": "null unless the analysis is workout or all."},
        }),
        "CancelOutcome": obj({
            "session_id": ref("SessionId"),
            "status": {"type": "string", "enum": [SessionStatus.CANCELLING.value,
                                                  SessionStatus.CANCELLED.value]},
        }),
        "Deleted": obj({"session_id": ref("SessionId"),
                        "status": {"type": "string", "const": "deleted"}}),
        "Health": obj({"status": {"type": "string", "const": "ok"}}),
        "Ready": obj({"status": {"type": "string", "const": "ready"}}),
        "OpenApiDocument": {"type": "object", "required": ["openapi", "info", "paths"],
                            "description": "This document."},
    }
