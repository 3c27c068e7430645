"""Worker process entry (Procfile ``worker:``): an RQ worker on the pipeline queue + sweeper."""

from __future__ import annotations

import logging
from resource import struct_rusage

import redis
from rq import Worker
from rq.job import Job

from queues.connection import pipeline_queue, session_store, sync_redis
from queues.endings import mark_failed
from queues.settings import Settings, process_settings
from queues.sweeper import start_sweeper_thread
from stages.workspace import Storage

log = logging.getLogger(__name__)

CRASH_PROBLEM = {
    "type": "/problems/worker-crashed", "title": "Worker stopped", "status": 500,
    "code": "worker_crashed",
    "detail": "The process analysing this video was killed before it finished (out of "
              "memory, or over the stage time limit). Try again with a shorter or smaller video.",
}


def horse_killed_handler(connection: redis.Redis, settings: Settings):  # noqa: ANN201
    """RQ calls this when a work horse dies without finishing (SIGKILL, OOM)."""

    def handler(job: Job, retpid: int, ret_val: int, rusage: struct_rusage) -> None:
        if job.func_name != "queues.runner.run_stage" or len(job.args) != 2:
            return
        session_id, stage = job.args
        log.warning("work horse %s died (status %s) in stage %s of %s",
                    retpid, ret_val, stage, session_id)
        mark_failed(connection, session_store(connection, settings),
                    Storage(settings.media_root), session_id, stage, CRASH_PROBLEM)

    return handler


def build_worker(settings: Settings, connection: redis.Redis | None = None) -> Worker:
    connection = connection or sync_redis(settings, socket_timeout=None)
    return Worker([pipeline_queue(connection, settings)], connection=connection,
                  work_horse_killed_handler=horse_killed_handler(connection, settings))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = process_settings()
    if not settings.redis_url:
        raise SystemExit("REDIS_URL is not set: the worker needs the web process's Redis")
    worker = build_worker(settings)
    start_sweeper_thread(sync_redis(settings), settings)
    worker.work(logging_level="INFO")


if __name__ == "__main__":
    main()
