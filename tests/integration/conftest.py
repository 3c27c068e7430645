"""The real service: a redis-server, two `python -m queues.worker` processes, hypercorn."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.integration.http import Client, running_service

ROOT = Path(__file__).resolve().parents[2]
MAX_UPLOAD = 64 * 1024 * 1024
WEBHOOK_SECRET = "whsec_" + "d2ViaG9vay1zZWNyZXQtZm9yLXRoZS10ZXN0cy0zMmI="  # 32 bytes
WEBHOOK_RETRY_DELAYS = (1, 1)  # seconds between attempts: the tests wait for retries


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@dataclass
class Service:
    client: Client
    redis: redis.Redis
    media_root: Path
    workers: list[subprocess.Popen[bytes]]


@pytest.fixture(scope="session")
def service(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    media = tmp_path_factory.mktemp("media")
    url = redis_server.rsplit("/", 1)[0] + "/1"  # db 0 is flushed by other tests
    env = {"REDIS_URL": url, "MEDIA_ROOT": str(media),
           "MAX_UPLOAD_BYTES": str(MAX_UPLOAD), "LEGACY_TIMEOUT": "60",
           "CANCEL_GRACE": "1.5", "ANALYSIS_LONG_SIDE": "128",
           # webhooks to a receiver the tests run on 127.0.0.1
           "WEBHOOK_SECRET": WEBHOOK_SECRET, "WEBHOOK_ALLOW_PRIVATE": "true",
           "WEBHOOK_TIMEOUT": "2", "WEBHOOK_RETRY_DELAYS": ",".join(map(str, WEBHOOK_RETRY_DELAYS))}
    conn = redis.Redis.from_url(url)
    try:
        with running_service(env, tmp_path_factory.mktemp("logs")) as running:
            yield Service(running.client, conn, media, running.workers)
    finally:
        conn.close()
