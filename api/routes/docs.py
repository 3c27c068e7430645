"""The OpenAPI document (/openapi.json) and a page for people (/docs): Swagger UI, whose
files come from the installed swagger-ui-bundle-v2 wheel and are served here, not by a CDN."""

from __future__ import annotations

import json
import mimetypes
from functools import cache
from pathlib import Path

from quart import Blueprint, Response, send_file
from swagger_ui_bundle import swagger_ui_path

from api.errors import NotFound
from api.openapi import document

bp = Blueprint("docs", __name__)

ASSET_SUFFIXES = (".css", ".js", ".png", ".map")  # the UI's files, not its sample pages
ASSET_MAX_AGE = 86400  # the files change only with the pinned package
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Video sessions API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script>
    // validatorUrl null: Swagger UI would otherwise send the document to its online validator
    window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui",
                                 deepLinking: true, validatorUrl: null});
  </script>
</body>
</html>
"""


@cache
def assets() -> dict[str, Path]:
    """The files the page may fetch, by name: exactly the package's listing, so a name can
    never walk out of its directory."""
    folder = Path(str(swagger_ui_path))
    return {path.name: path for path in folder.iterdir()
            if path.is_file() and path.suffix in ASSET_SUFFIXES}


@cache
def document_json() -> bytes:
    return json.dumps(document(), indent=1).encode()


@bp.get("/openapi.json")
async def openapi() -> Response:
    return Response(document_json(), content_type="application/json")


@bp.get("/docs")
async def docs_page() -> Response:
    return Response(PAGE, content_type="text/html; charset=utf-8")


@bp.get("/docs/assets/<name>")
async def docs_asset(name: str) -> Response:
    path = assets().get(name)
    if path is None:
        raise NotFound("No such file.")
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".map":
        content_type = "application/json"
    return await send_file(path, mimetype=content_type, cache_timeout=ASSET_MAX_AGE)
