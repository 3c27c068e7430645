"""``python -m api``: the whole service in one command (web, workers, embedded Redis if needed).

With REDIS_URL unset an embedded redis-server is started; SETTINGS.workers worker processes
run beside the web server. Production runs web and worker separately (see the Procfile).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import subprocess
import sys

import uvloop
from hypercorn.asyncio import serve
from hypercorn.config import Config

from api import create_app
from api.serving import HYPERCORN
from queues.embedded import start_embedded_redis
from queues.logs import configure_logging
from queues.settings import Settings

log = logging.getLogger("api")


def main() -> None:
    settings = Settings.from_env()
    configure_logging(settings.log_format)  # workers inherit LOG_FORMAT through the env
    children: list[subprocess.Popen[bytes]] = []
    if not settings.redis_url:
        redis_proc, url = start_embedded_redis(settings.media_root.parent / "redis")
        children.append(redis_proc)
        settings = dataclasses.replace(settings, redis_url=url)
        log.info("REDIS_URL unset: started an embedded redis-server at %s", url)
    env = {**os.environ, "REDIS_URL": settings.redis_url, "MEDIA_ROOT": str(settings.media_root)}
    for _ in range(settings.workers):
        children.insert(0, subprocess.Popen([sys.executable, "-m", "queues.worker"], env=env))
    config = Config.from_object(HYPERCORN)
    config.bind = [f"0.0.0.0:{settings.port}"]
    config.accesslog = "-"
    shutdown = asyncio.Event()
    loop = uvloop.new_event_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, shutdown.set)
    log.info("serving on http://localhost:%s with %s worker(s)", settings.port, settings.workers)
    try:
        loop.run_until_complete(serve(create_app(settings), config,
                                      shutdown_trigger=shutdown.wait))  # type: ignore[arg-type]
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()


if __name__ == "__main__":
    main()
