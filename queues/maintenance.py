"""The maintenance thread every worker process runs: the repairer (and the webhooks' retries
and outbox check) every few seconds, the sweeper every SWEEP_INTERVAL, each under a Redis
lock so one process at a time does it."""

from __future__ import annotations

import logging
import threading
import time

import redis

from queues import keys
from queues.repair import Repairer
from queues.session import F_FINAL, F_STATUS
from queues.settings import Settings
from queues.sweeper import sweep
from queues.webhooks import enqueue_due_retries, enqueue_lost_deliveries
from stages.workspace import Storage

log = logging.getLogger(__name__)


def _lead(connection: redis.Redis, lock: str, seconds: float) -> bool:
    """True for the one process that takes ``lock`` for this interval."""
    return bool(connection.set(lock, "1", nx=True, px=max(1, int(seconds * 1000))))


def drop_ended_scratch(connection: redis.Redis, storage: Storage) -> None:
    """Scratch copies of sessions that ended or were deleted go from this disk at once:
    nothing of a deleted session may stay anywhere."""
    for session_id in storage.scratch_sessions():
        status, final = connection.hmget(keys.session_key(session_id), [F_STATUS, F_FINAL])
        if status is None or final is not None:
            storage.discard(session_id)


def maintain_once(connection: redis.Redis, settings: Settings, repairer: Repairer,
                  last_sweep: float) -> float:
    """One round; returns when the sweeper last ran (in this process)."""
    drop_ended_scratch(connection, repairer.storage)
    if _lead(connection, keys.REPAIR_LOCK, settings.repair_interval * 0.9):
        repairer.run()
        enqueue_due_retries(connection, settings)  # webhook retries whose delay is over
        enqueue_lost_deliveries(connection, settings)  # webhooks whose enqueue was lost
    now = time.monotonic()
    if now - last_sweep >= settings.sweep_interval:
        if _lead(connection, keys.SWEEP_LOCK, settings.sweep_interval):
            sweep(connection, settings)
        return now
    return last_sweep


def start_maintenance_thread(connection: redis.Redis, settings: Settings) -> threading.Thread:
    def loop() -> None:
        repairer = Repairer(connection, settings)
        last_sweep = float("-inf")
        while True:
            try:
                last_sweep = maintain_once(connection, settings, repairer, last_sweep)
            except redis.RedisError as error:  # an outage: try again next round
                log.warning("maintenance skipped: %r", error)
            except Exception:  # keep going after a disk error or a bug, loudly
                log.exception("maintenance failed; retrying")
            time.sleep(settings.repair_interval)

    thread = threading.Thread(target=loop, name="maintenance", daemon=True)
    thread.start()
    return thread
