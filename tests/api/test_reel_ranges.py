"""Byte ranges of the reel download: suffix ranges, 416 with the size, If-Range."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from quart.testing import QuartClient

from api.errors import RangeNotSatisfiable
from api.ranges import requested_span
from tests.api.test_session_routes import new_session
from tests.api.test_upload import assert_problem


@pytest.mark.parametrize(("header", "span"), [
    ("bytes=0-99", (0, 100)),
    ("bytes=-100", (900, 1000)),
    ("bytes=-5000", (0, 1000)),  # a suffix longer than the file is the whole file
    ("bytes=990-", (990, 1000)),
    ("bytes=990-5000", (990, 1000)),
    ("bytes=999-999", (999, 1000)),
])
def test_satisfiable_ranges(header: str, span: tuple[int, int]) -> None:
    assert requested_span(header, 1000) == span


@pytest.mark.parametrize("header", [
    "bytes=1000-", "bytes=5000-6000", "bytes=-0", "bytes=5-2", "bytes=abc", "bytes=",
    "bytes=0-1,5-9", "items=0-5", "bytes=0x10-", "bytes=١-٢", "bytes=" + "9" * 5000 + "-",
    "0-99",
])
def test_unsatisfiable_or_malformed_ranges(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        requested_span(header, 1000)
    assert caught.value.headers()["Content-Range"] == "bytes */1000"


def test_any_range_of_an_empty_file_is_unsatisfiable() -> None:
    with pytest.raises(RangeNotSatisfiable):
        requested_span("bytes=-10", 0)


@pytest.fixture
async def reel(client: QuartClient, small_video: Path,
               run_jobs: Callable[[], None]) -> tuple[str, bytes]:
    """The URL and bytes of a rendered reel."""
    sid = await new_session(client, small_video, target_duration="3")
    run_jobs()
    url = (await (await client.get(f"/api/v1/video/results/{sid}")).get_json())["reel"]["url"]
    whole = await client.get(url)
    assert whole.status_code == 200
    return url, await whole.get_data()


async def test_suffix_range_is_206_with_the_last_bytes(client: QuartClient,
                                                       reel: tuple[str, bytes]) -> None:
    url, data = reel
    response = await client.get(url, headers={"Range": "bytes=-100"})
    assert response.status_code == 206 and response.content_type == "video/mp4"
    assert await response.get_data() == data[-100:]
    size = len(data)
    assert response.headers["Content-Range"] == f"bytes {size - 100}-{size - 1}/{size}"
    assert response.headers["Content-Length"] == "100"


@pytest.mark.parametrize("header", ["bytes=-0", "bytes=99999999-", "bytes=0-1,5-9"])
async def test_unservable_range_is_416_problem_with_the_size(client: QuartClient,
                                                             reel: tuple[str, bytes],
                                                             header: str) -> None:
    url, data = reel
    response = await client.get(url, headers={"Range": header})
    await assert_problem(response, 416)
    assert response.headers["Content-Range"] == f"bytes */{len(data)}"


async def test_range_of_another_version_sends_the_whole_file(client: QuartClient,
                                                             reel: tuple[str, bytes]) -> None:
    url, data = reel
    response = await client.get(url, headers={"Range": "bytes=-100", "If-Range": '"stale"'})
    assert response.status_code == 200 and await response.get_data() == data
    whole = await client.get(url)
    assert whole.headers["Accept-Ranges"] == "bytes"  # tells players they may seek
    etag = whole.headers["ETag"]
    same = await client.get(url, headers={"Range": "bytes=-100", "If-Range": etag})
    assert same.status_code == 206 and await same.get_data() == data[-100:]
    assert (await client.get(url, headers={"If-None-Match": etag})).status_code == 304


async def test_if_match_of_another_version_is_412_problem(client: QuartClient,
                                                          reel: tuple[str, bytes]) -> None:
    url, data = reel
    # Quart answered 412 with the whole video as its body
    body = await assert_problem(await client.get(url, headers={"If-Match": '"stale"'}), 412)
    assert body["code"] == "precondition_failed"
    etag = (await client.get(url)).headers["ETag"]
    same = await client.get(url, headers={"If-Match": etag})
    assert same.status_code == 200 and await same.get_data() == data


async def test_reel_is_not_kept_by_shared_caches(client: QuartClient,
                                                 reel: tuple[str, bytes]) -> None:
    """A deleted session's reel must not live on in a proxy or CDN for hours."""
    url, _ = reel
    for headers in ({}, {"Range": "bytes=0-99"}):
        response = await client.get(url, headers=headers)
        cache = response.cache_control
        assert cache.private and cache.no_cache and not cache.public and cache.max_age is None
        etag = response.headers["ETag"]
        again = await client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304  # a browser revalidates for free
