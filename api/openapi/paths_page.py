"""The paths of the page people use (api.routes.page): GET / and its two files."""

from __future__ import annotations

from typing import Any

from api.openapi.problems import problem, shared

ASSET_NAMES = ["app.js", "app.css"]
CACHING = {
    "ETag": {"description": "A hash of the file; send it back as If-None-Match.",
             "schema": {"type": "string"}, "required": True},
    "Cache-Control": {"description": "`no-cache`: revalidate at every load (a 304 when "
                                     "unchanged).", "schema": {"type": "string"},
                      "required": True},
}
NOT_MODIFIED = {"description": "The browser's copy (If-None-Match) is current.",
                "headers": CACHING}


def _text(description: str, *media: str) -> dict[str, Any]:
    return {"description": description, "headers": CACHING,
            "content": {m: {"schema": {"type": "string"}} for m in media}}


def page_paths() -> dict[str, Any]:
    return {
        "/": {"get": {
            "tags": ["page"], "operationId": "page", "summary": "The page for people",
            "description": "Upload a video, follow its progress, see the results (plain "
                           "HTML, script and style from this server only: no CDN).",
            "responses": {"200": _text("The page.", "text/html"), "304": NOT_MODIFIED,
                          **shared("InternalError")},
        }},
        "/page/{name}": {
            "parameters": [{"name": "name", "in": "path", "required": True,
                            "description": "One of the page's files; any other name is 404.",
                            "schema": {"type": "string", "enum": ASSET_NAMES}}],
            "get": {
                "tags": ["page"], "operationId": "pageAsset", "summary": "A file of the page",
                "responses": {
                    "200": _text("The script (app.js) or the style sheet (app.css).",
                                 "text/javascript", "text/css"),
                    "304": NOT_MODIFIED,
                    "404": problem(404, "No such file.", ["not_found"]),
                    **shared("InternalError"),
                },
            },
        },
    }
