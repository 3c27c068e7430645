"""The page people use (GET /): upload a video, follow its progress, see the results. Its
three files live in api/page/ and are served by a fixed list of names, read once per process.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from quart import Blueprint, Response, request

from api.errors import NotFound

bp = Blueprint("page", __name__)

PAGE_DIR = Path(__file__).resolve().parent.parent / "page"
HTML = ("index.html", "text/html; charset=utf-8")
# The only names /page/<name> serves: a lookup in this dict, never a path built from the URL.
ASSETS = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
# The page's URLs are not versioned, so every load revalidates (a 304 when unchanged): a
# deploy never pairs new HTML with a cached old script.
CACHE_CONTROL = "no-cache"
# Everything comes from this origin; the reel may be redirected to an object store (another
# host), so media may come from anywhere.
CSP = ("default-src 'self'; media-src 'self' https: http: blob:; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@dataclass(frozen=True)
class PageFile:
    body: bytes
    content_type: str
    etag: str


@cache
def page_file(name: str, content_type: str) -> PageFile:
    body = (PAGE_DIR / name).read_bytes()
    return PageFile(body, content_type, hashlib.sha256(body).hexdigest()[:32])


def answer(file: PageFile) -> Response:
    """The file, or 304 when the browser's copy is current (If-None-Match)."""
    if request.if_none_match.contains(file.etag):
        response = Response(b"", status=304)
    else:
        response = Response(file.body, content_type=file.content_type)
    response.set_etag(file.etag)
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/")
async def index() -> Response:
    response = answer(page_file(*HTML))
    response.headers["Content-Security-Policy"] = CSP
    return response


@bp.get("/page/<name>")
async def asset(name: str) -> Response:
    content_type = ASSETS.get(name)
    if content_type is None:
        raise NotFound("No such file.")
    return answer(page_file(name, content_type))
