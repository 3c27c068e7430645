"""The Prometheus metrics port (METRICS_PORT; 0: off): prometheus_client's own HTTP server
in a thread of the web process, bound to METRICS_HOST (loopback by default), so the public
app and its documented routes stay as they are. It answers ``/metrics`` (any path, in
fact) from Redis at each scrape (``queues.exporter``), whichever web process serves it.
"""

from __future__ import annotations

import logging
from wsgiref.simple_server import WSGIServer

import redis
from prometheus_client import start_http_server
from quart import Quart

from api.services import Services
from queues.connection import web_redis
from queues.exporter import metrics_registry
from queues.settings import Settings

log = logging.getLogger(__name__)


def start_metrics_server(settings: Settings,
                         connection: redis.Redis | None = None) -> WSGIServer | None:
    """Serve the metrics on METRICS_HOST:METRICS_PORT; None if off or the port is taken
    (another web process on this machine serves it: they all show the same numbers)."""
    if not settings.metrics_port:
        return None
    registry = metrics_registry(connection or web_redis(settings), settings)
    try:
        server, _ = start_http_server(settings.metrics_port, settings.metrics_host, registry)
    except OSError as error:
        log.warning("metrics not served on %s:%s by this process: %s", settings.metrics_host,
                    settings.metrics_port, error)
        return None
    log.info("metrics on http://%s:%s/metrics", settings.metrics_host, settings.metrics_port)
    return server


def install_metrics(app: Quart, settings: Settings) -> None:
    """Start the metrics server with the app, stop it with the app."""

    @app.before_serving
    async def start() -> None:  # after the app's own start: its blocking client is open
        svc: Services = app.extensions["video"]
        app.extensions["metrics_server"] = start_metrics_server(settings, svc.sync_redis)

    @app.after_serving
    async def stop() -> None:
        server: WSGIServer | None = app.extensions.pop("metrics_server", None)
        if server is not None:
            server.shutdown()
            server.server_close()
