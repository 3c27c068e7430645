"""The metrics port: off by default, its own server (not a route of the public app), one
per machine when several web processes start, Prometheus text from Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import urllib.request
from collections.abc import Callable

import fakeredis
import pytest
from prometheus_client.parser import text_string_to_metric_families
from quart import Quart

from api.metrics_server import start_metrics_server
from queues.embedded import free_port
from queues.settings import Settings


def test_the_metrics_port(sync_client: fakeredis.FakeRedis, settings: Settings) -> None:
    assert start_metrics_server(settings, sync_client) is None  # METRICS_PORT=0: off
    on = dataclasses.replace(settings, metrics_port=free_port())
    server = start_metrics_server(on, sync_client)
    assert server is not None
    try:
        assert start_metrics_server(on, sync_client) is None  # taken: another process serves
        url = f"http://127.0.0.1:{on.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
            assert response.headers["Content-Type"].startswith("text/plain")
    finally:
        server.shutdown()
        server.server_close()
    names = {f.name for f in text_string_to_metric_families(text)}
    assert {"video_sessions_created", "video_stage_duration_seconds", "video_queue_depth",
            "video_workers", "video_upload_bytes", "process_cpu_seconds"} <= names


async def test_the_app_starts_and_stops_it(make_app: Callable[..., Quart]) -> None:
    port = free_port()
    app = make_app(metrics_port=port, metrics_host="127.0.0.1")
    assert not any("metrics" in rule.rule for rule in app.url_map.iter_rules())
    async with app.test_app():
        await app.test_client().post("/api/v1/video/upload")  # no video: counted all the same
        text = await asyncio.to_thread(_scrape, port)
    samples = {(s.name, tuple(s.labels.values())): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples[("video_uploads_total", ("no_session",))] == 1
    assert samples[("video_metrics_redis_up", ())] == 1
    with pytest.raises(OSError):  # closed with the app
        _scrape(port)


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())
