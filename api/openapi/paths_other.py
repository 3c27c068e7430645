"""The rest of the document's paths: the legacy synchronous routes, health probes, and this
document with its human page."""

from __future__ import annotations

from typing import Any

from api.openapi.common import json_response
from api.openapi.paths_sessions import upload_errors, upload_form
from api.openapi.problems import problem, shared
from api.openapi.schemas import ref


def legacy(analysis: str) -> dict[str, Any]:
    errors = upload_errors()
    errors["500"] = problem(500, "The analysis failed (the failed session's error), or a bug "
                                 "on our side.")
    return {"post": {
        "tags": ["legacy"], "operationId": f"legacy_{analysis}",
        "summary": f"Analyse {analysis} synchronously (existing clients)",
        "description": "Runs the same pipeline as an upload with analysis="
                       f"{analysis} and answers once it is done. Prefer the asynchronous API "
                       "for anything long.",
        "requestBody": upload_form("LegacyUploadForm"),
        "responses": {
            "200": json_response("The results body (as GET /results).", ref("Results")),
            **errors,
            "409": problem(409, "The session was cancelled meanwhile.", ["conflict"]),
            **shared("Gone"),  # deleted (DELETE /cleanup) while it ran
            "504": problem(504, "Not done within LEGACY_TIMEOUT: the session was cancelled "
                                "(`session_id` names it).", ["timeout"]),
        },
    }}


def health() -> dict[str, Any]:
    return {
        "/healthz": {"get": {
            "tags": ["health"], "operationId": "healthz", "summary": "Liveness",
            "responses": {"200": json_response("The process is up.", ref("Health")),
                          **shared("InternalError")},
        }},
        "/readyz": {"get": {
            "tags": ["health"], "operationId": "readyz", "summary": "Readiness",
            "responses": {
                "200": json_response("Redis answers and takes a write.", ref("Ready")),
                "503": problem(503, "Redis is unreachable or read-only.", ["unavailable"]),
                **shared("InternalError"),
            },
        }},
    }


def docs() -> dict[str, Any]:
    asset_types = ("text/css", "text/javascript", "application/javascript", "image/png",
                   "application/json")
    asset = {
        "tags": ["docs"], "operationId": "docsAsset", "summary": "A file of the page",
        "responses": {
            "200": {"description": "A file of Swagger UI's distribution.",
                    "content": {media: {"schema": {"type": "string"}} for media in asset_types}},
            "404": problem(404, "No such file.", ["not_found"]), **shared("InternalError"),
        },
    }
    return {
        "/openapi.json": {"get": {
            "tags": ["docs"], "operationId": "openapi", "summary": "This document",
            "responses": {"200": json_response("OpenAPI 3.1.", ref("OpenApiDocument")),
                          **shared("InternalError")},
        }},
        "/docs": {"get": {
            "tags": ["docs"], "operationId": "docs", "summary": "This document, for people",
            "description": "Swagger UI, served from the installed package (no CDN).",
            "responses": {"200": {"description": "The page.", "content": {
                "text/html": {"schema": {"type": "string"}}}}, **shared("InternalError")},
        }},
        "/docs/assets/{name}": {
            "parameters": [{"name": "name", "in": "path", "required": True,
                            "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]+$",
                                       "examples": ["swagger-ui.css", "swagger-ui-bundle.js"]}}],
            "get": asset,
        },
    }


def other_paths() -> dict[str, Any]:
    return {"/analyze/highlights": legacy("highlights"), "/analyze/workout": legacy("workout"),
            **health(), **docs()}
