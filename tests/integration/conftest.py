"""The real service: a redis-server, two `python -m queues.worker` processes, hypercorn."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from queues.embedded import free_port
from tests.integration.http import WEB_ARGS, Client

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
    logs = tmp_path_factory.mktemp("logs")
    port = free_port()
    url = redis_server.rsplit("/", 1)[0] + "/1"  # db 0 is flushed by other tests
    env = {**os.environ, "REDIS_URL": url, "MEDIA_ROOT": str(media),
           "MAX_UPLOAD_BYTES": str(MAX_UPLOAD), "LEGACY_TIMEOUT": "60",
           "CANCEL_GRACE": "1.5", "ANALYSIS_LONG_SIDE": "128", "PYTHONPATH": str(ROOT),
           # webhooks to a receiver the tests run on 127.0.0.1
           "WEBHOOK_SECRET": WEBHOOK_SECRET, "WEBHOOK_ALLOW_PRIVATE": "true",
           "WEBHOOK_TIMEOUT": "2", "WEBHOOK_RETRY_DELAYS": ",".join(map(str, WEBHOOK_RETRY_DELAYS))}
    with ExitStack() as files:
        procs = [subprocess.Popen([sys.executable, "-m", "queues.worker"], env=env, cwd=ROOT,
                                  stdout=files.enter_context(open(logs / f"worker{i}.log", "wb")),
                                  stderr=subprocess.STDOUT)
                 for i in range(2)]
        web = subprocess.Popen([sys.executable, *WEB_ARGS, "--bind",
                                f"127.0.0.1:{port}"], env=env, cwd=ROOT,
                               stdout=files.enter_context(open(logs / "web.log", "wb")),
                               stderr=subprocess.STDOUT)
    client = Client(f"http://127.0.0.1:{port}")
    client.wait_ready(web, logs / "web.log")
    conn = redis.Redis.from_url(url)
    try:
        yield Service(client, conn, media, procs)
    finally:
        for proc in [web, *procs]:
            proc.terminate()
        for proc in [web, *procs]:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        conn.close()
