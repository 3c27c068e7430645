"""Worker process entry (Procfile ``worker:``): an RQ worker on the webhooks' queue and the
pipeline queue, plus the maintenance thread (repairer, sweeper, webhook retries).

What the worker adds to RQ's:
- SIGTERM (a deploy or a daily restart): the running stage is told to stop (its next
  progress call hands it back, and RQ requeues its job at the front); if it has not
  stopped after SHUTDOWN_GRACE the horse is killed and the stage handed back all the same.
  Neither counts as a lost attempt.
- A work horse that dies (SIGKILL, the OOM killer): its stage is handed back at once to
  run again, until it has been lost MAX_ATTEMPTS times; then the session fails with
  ``out_of_memory`` or ``worker_lost``.
- A Redis outage: heartbeats that fail are logged, not fatal, and a worker loop that
  gives up is started again with backoff.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from contextlib import suppress
from pathlib import Path
from types import FrameType

import redis
from rq import Queue, Worker
from rq.job import Job

from queues.attempt import SHUTDOWN
from queues.connection import open_storage, pipeline_queue, session_store, sync_redis
from queues.endings import loss_problem, mark_failed
from queues.graph import RUN_STAGE
from queues.logs import configure_logging, log_scope
from queues.maintenance import start_maintenance_thread
from queues.session import LossCause
from queues.settings import Settings, process_settings

log = logging.getLogger(__name__)

# Where the kernel counts OOM kills of this container (cgroup v2, then v1).
OOM_COUNTERS = (Path("/sys/fs/cgroup/memory.events"),
                Path("/sys/fs/cgroup/memory/memory.oom_control"))
MAX_RESTART_BACKOFF = 30.0  # seconds between restarts of a worker loop that gave up


def oom_kill_count() -> int | None:
    """How many processes the OOM killer has killed in this cgroup (None: unknown)."""
    for path in OOM_COUNTERS:
        with suppress(OSError):
            for line in path.read_text().splitlines():
                name, _, value = line.partition(" ")
                if name == "oom_kill":
                    return int(value)
    return None


class StageWorker(Worker):
    def __init__(self, queues: list[Queue], *, settings: Settings,
                 store_connection: redis.Redis | None = None, **kwargs: object) -> None:
        super().__init__(queues, **kwargs)  # type: ignore[arg-type]
        self.settings = settings
        self.store = session_store(store_connection or self.connection, settings)
        self.storage = open_storage(settings)
        self._shutting_down = False
        self._oom_kills_before: int | None = None
        # With a remote store, the scratch copies of the last session this worker ran (its
        # source, the outputs it fetched or wrote) stay for that session's next stage here:
        # render then does not fetch the source again, nor score the frames. They go when
        # a job of another session starts, or once the session ended (queues.maintenance).
        self._scratch_session: str | None = None

    # --- SIGTERM -------------------------------------------------------------------------

    def setup_work_horse_signals(self) -> None:
        super().setup_work_horse_signals()
        signal.signal(signal.SIGTERM, _request_handback)

    def handle_warm_shutdown_request(self) -> None:
        super().handle_warm_shutdown_request()
        self._shutting_down = True
        pid = self.horse_pid
        if pid:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)  # the horse may not have had it from the platform
            timer = threading.Timer(self.settings.shutdown_grace, self._kill_late_horse, (pid,))
            timer.daemon = True
            timer.start()

    def _kill_late_horse(self, pid: int) -> None:
        if self.horse_pid == pid:
            log.warning("horse %s still running %.0f s after SIGTERM: killing it", pid,
                        self.settings.shutdown_grace)
            self.kill_horse()

    # --- a horse that died -----------------------------------------------------------------

    def execute_job(self, job: Job, queue: Queue) -> None:
        self._oom_kills_before = oom_kill_count()
        if job.func_name == RUN_STAGE and len(job.args) == 2:  # webhooks leave scratch be
            session_id = job.args[0]
            if self._scratch_session not in (None, session_id):
                self.storage.discard(self._scratch_session)  # one session's copies at a time
            self._scratch_session = session_id
        super().execute_job(job, queue)

    def handle_work_horse_killed(self, job: Job, retpid: int, ret_val: int,
                                 rusage: object) -> None:
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)
        if job.func_name != RUN_STAGE or len(job.args) != 2:
            return
        session_id, stage = job.args
        with log_scope(session_id, stage):
            self._reclaim(job, retpid, ret_val, session_id, stage)

    def _reclaim(self, job: Job, retpid: int, ret_val: int, session_id: str,
                 stage: str) -> None:
        cause = self._loss_cause()
        verdict = self.store.reclaim(session_id, stage, cause, self.settings.max_attempts,
                                     owner=self.name)
        log.warning("work horse %s died (status %s) in stage %s of %s: %s, %s",
                    retpid, ret_val, stage, session_id, cause.value, verdict)
        if verdict == "retry":
            # RQ's failure handling runs right after this and requeues a job with retries
            # left: at the front, so the session goes on before new ones start.
            job.retries_left = 1
            job.retry_intervals = None
            job.enqueue_at_front_on_retry = True
        elif verdict == "exhausted":
            session = self.store.get(session_id)
            losses = session.stage(stage).losses if session else self.settings.max_attempts
            mark_failed(self.connection, self.store, self.storage, session_id, stage,
                        loss_problem(cause, losses))

    def _loss_cause(self) -> LossCause:
        if self._shutting_down:
            return LossCause.INTERRUPTED
        now = oom_kill_count()
        if now is not None and self._oom_kills_before is not None and now > self._oom_kills_before:
            return LossCause.OUT_OF_MEMORY
        return LossCause.KILLED

    # --- Redis outages ---------------------------------------------------------------------

    def maintain_heartbeats(self, job: Job, execution: object) -> None:
        try:
            super().maintain_heartbeats(job, execution)  # type: ignore[arg-type]
        except redis.RedisError as error:  # the horse goes on; RQ's own heartbeat can wait
            log.warning("worker heartbeat failed: %r", error)


def _request_handback(signum: int, frame: FrameType | None) -> None:
    SHUTDOWN.set()


def build_worker(settings: Settings, connection: redis.Redis | None = None) -> StageWorker:
    connection = connection or sync_redis(settings, socket_timeout=None)
    store_connection = sync_redis(settings) if settings.redis_url else connection
    # Webhook deliveries first: each is short (bounded by WEBHOOK_TIMEOUT), and a stage's
    # end must not wait behind the next session's stages to be announced.
    queues = [Queue(settings.webhook_queue, connection=connection),
              pipeline_queue(connection, settings)]
    return StageWorker(queues, connection=connection, settings=settings,
                       store_connection=store_connection)


def main() -> None:
    settings = process_settings()
    configure_logging(settings.log_format)
    if not settings.redis_url:
        raise SystemExit("REDIS_URL is not set: the worker needs the web process's Redis")
    os.nice(settings.worker_nice)  # the web answers first when they share cores; ffmpeg inherits
    open_storage(settings).clear_scratch()  # whatever a previous run left on this disk
    start_maintenance_thread(sync_redis(settings), settings)
    backoff = 1.0
    while True:
        worker = build_worker(settings)
        try:
            worker.work(logging_level="INFO")
        except redis.RedisError as error:  # e.g. Redis down while the worker registers
            log.warning("worker loop stopped: %r", error)
        if worker._shutting_down or worker._shutdown_requested_date is not None:
            return
        log.warning("worker loop ended without a shutdown request; restarting in %.0f s",
                    backoff)
        signal.signal(signal.SIGTERM, _exit_now)
        time.sleep(backoff)
        backoff = min(MAX_RESTART_BACKOFF, backoff * 2)


def _exit_now(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    main()
