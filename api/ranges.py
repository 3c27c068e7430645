"""File downloads with byte ranges (RFC 9110 §14): one range, suffix ranges, 416 with the size.

Quart's own range support fails on suffix ranges (``bytes=-100`` trips an assertion: a 500)
and answers 416 without ``Content-Range``, so the reel's ranges are resolved here.
"""

from __future__ import annotations

from pathlib import Path

from quart import Response, request, send_file
from werkzeug.datastructures import ContentRange
from werkzeug.http import parse_range_header
from werkzeug.sansio.http import is_resource_modified

from api.errors import PreconditionFailed, RangeNotSatisfiable


def requested_span(header: str, size: int) -> tuple[int, int]:
    """The ``(start, stop)`` bytes a Range header asks of a file of ``size`` bytes.

    Anything we cannot serve as one range raises RangeNotSatisfiable (416): malformed
    headers, other units, several ranges (browsers and players ask for one), past the end.
    """
    parsed = parse_range_header(header)
    if parsed is None or parsed.units != "bytes" or len(parsed.ranges) != 1:
        raise RangeNotSatisfiable(size)
    start, stop = parsed.ranges[0]
    if start < 0:  # suffix range: the last -start bytes, all of them if the file is shorter
        start, stop = max(size + start, 0), size
    stop = size if stop is None else min(stop, size)
    if start >= stop:  # starts at or past the end (any range of an empty file)
        raise RangeNotSatisfiable(size)
    return start, stop


async def send_file_ranged(path: Path, mimetype: str) -> Response:
    """``send_file`` with conditional GET (304/412) and one byte range (206 or 416)."""
    response = await send_file(path, mimetype=mimetype)  # FileNotFoundError if it is gone
    # Not Quart's "public, max-age=43200": a shared cache would serve a deleted session's
    # reel for hours. Browsers keep it and revalidate (304 by ETag) when it is played again.
    response.cache_control.public = False
    response.cache_control.private = True
    response.cache_control.max_age = None
    response.cache_control.no_cache = True
    size = response.content_length or 0
    response.accept_ranges = "bytes"
    # Preconditions come before Range (RFC 9110 §13.2.2); without complete_length Quart's
    # make_conditional leaves ranges alone.
    await response.make_conditional(request)
    if response.status_code == 412:  # Quart keeps the file as the body of its 412
        raise PreconditionFailed("If-Match names no current version of this file; fetch it "
                                 "again without If-Match.")
    if response.status_code != 200 or not _range_applies(response):
        return response
    start, stop = requested_span(request.headers["Range"], size)
    await response.response.make_conditional(start, stop)  # type: ignore[attr-defined]
    response.content_range = ContentRange("bytes", start, stop, size)
    response.content_length = stop - start
    response.status_code = 206
    return response


def _range_applies(response: Response) -> bool:
    """A GET's Range counts unless its If-Range names another version of the file."""
    if request.method != "GET" or "Range" not in request.headers:
        return False
    return "If-Range" not in request.headers or not is_resource_modified(
        http_range=request.headers["Range"], http_if_range=request.headers["If-Range"],
        etag=response.headers.get("ETag"), last_modified=response.headers.get("Last-Modified"),
        ignore_if_range=False)
