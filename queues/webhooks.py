"""Webhooks of ended sessions: the event, its delivery record, and getting its job queued.

A session's end puts it in the outbox (``keys.WEBHOOK_OUTBOX``) in the very Lua script
that ends it (``scripts.FINISH_ONCE``), so a crash may lose the enqueue, never the event:
the process that ended the session enqueues the delivery job at once (``on_finish``),
and the maintenance thread enqueues any due event whose job went missing
(``enqueue_lost_deliveries``) and puts retries back on the queue when their delay is over
(``enqueue_due_retries``). The job itself is :mod:`queues.delivery`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import redis
from rq import Queue
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

from queues import keys
from queues.session import Session, iso
from queues.settings import Settings, webhook_queue_name

log = logging.getLogger(__name__)

DELIVER = "queues.delivery.deliver_webhook"  # the job function, by dotted name
LOST_AFTER = 10.0  # seconds an event may be due with no live job before it is enqueued again
RECHECK_SECONDS = 60.0  # an outbox entry whose job is alive is looked at again after this
LOST_BATCH = 100  # outbox entries the maintenance thread looks at per round
_ALIVE = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.STARTED, JobStatus.DEFERRED)

# Fields of the delivery record (keys.webhook_key); attempt n (from 1) is "attempt:<n>".
R_STATE = "state"
R_ATTEMPTS = "attempts"
R_NEXT = "next_attempt_at"


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # every attempt failed


@dataclass(frozen=True)
class Attempt:
    at: float  # unix time the attempt began
    status_code: int | None  # the receiver's HTTP status, None when it never answered
    error: str | None  # why it failed without an answer (refused, timeout, connection)
    duration_ms: float

    def view(self) -> dict[str, Any]:
        return {**asdict(self), "at": iso(self.at)}


@dataclass(frozen=True)
class DeliveryRecord:
    state: DeliveryState
    attempts: tuple[Attempt, ...]
    next_attempt_at: float | None

    @classmethod
    def from_hash(cls, raw: dict[Any, Any]) -> DeliveryRecord:
        h = {_text(k): _text(v) for k, v in raw.items()}
        count = int(h.get(R_ATTEMPTS, "0"))
        attempts = tuple(Attempt(**json.loads(h[f"attempt:{n}"]))
                         for n in range(1, count + 1) if f"attempt:{n}" in h)
        return cls(DeliveryState(h.get(R_STATE, DeliveryState.PENDING)), attempts,
                   float(h[R_NEXT]) if h.get(R_NEXT) else None)


def delivery_job_id(session_id: str) -> str:
    """One RQ job id per event: enqueuing it twice cannot run two deliveries at once."""
    return f"vs-webhook-{session_id}"


def webhook_id(session_id: str, status: str) -> str:
    """The ``webhook-id`` header: the same for every attempt of one event."""
    return f"msg_{session_id}_{status}"


def event_body(session: Session) -> dict[str, Any]:
    """What is posted; its ``timestamp`` is the session's end, so every retry sends the same."""
    sid = session.session_id
    return {"type": f"session.{session.status.value}", "timestamp": iso(session.updated_at),
            "data": {"session_id": sid, "status": session.status.value,
                     "analysis": session.analysis,
                     "status_url": f"/api/v1/video/status/{sid}",
                     "results_url": f"/api/v1/video/results/{sid}",
                     "error": session.error}}


def delivery_view(session: Session, url: str, record: DeliveryRecord) -> list[dict[str, Any]]:
    """The ``deliveries`` of GET .../webhooks/<id>: none until the session ended."""
    if not url or not session.status.terminal:
        return []
    return [{"webhook_id": webhook_id(session.session_id, session.status.value),
             "type": f"session.{session.status.value}", "url": url,
             "status": record.state.value, "attempts": [a.view() for a in record.attempts],
             "next_attempt_at": iso(record.next_attempt_at)
             if record.next_attempt_at is not None else None}]


def load_record(connection: redis.Redis, session_id: str) -> DeliveryRecord:
    return DeliveryRecord.from_hash(connection.hgetall(keys.webhook_key(session_id)))


# KEYS[1] session hash, KEYS[2] delivery record, KEYS[3] outbox. A: attempt JSON, state,
# next attempt time ('' for none), session id. Nothing is written for a deleted session
# (a delivery that was under way while it was cleaned up); the record lives as long as
# the hash. Returns the attempt's number, or 0.
RECORD_ATTEMPT = f"""
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = redis.call('HINCRBY', KEYS[2], '{R_ATTEMPTS}', 1)
redis.call('HSET', KEYS[2], 'attempt:' .. n, ARGV[1], '{R_STATE}', ARGV[2])
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[2], '{R_NEXT}')
  redis.call('ZREM', KEYS[3], ARGV[4])
else
  redis.call('HSET', KEYS[2], '{R_NEXT}', ARGV[3])
  redis.call('ZADD', KEYS[3], 'XX', ARGV[3], ARGV[4])
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return n
"""


def record_attempt(connection: redis.Redis, session_id: str, attempt: Attempt,
                   state: DeliveryState, next_attempt_at: float | None) -> int:
    """Append an attempt (its number; 0: the session is gone, nothing written). A final
    state takes the event out of the outbox; a retry makes it due at its next attempt."""
    script = connection.register_script(RECORD_ATTEMPT)
    number = script(keys=[keys.session_key(session_id), keys.webhook_key(session_id),
                          keys.WEBHOOK_OUTBOX],
                    args=[json.dumps(asdict(attempt)), state.value,
                          "" if next_attempt_at is None else repr(next_attempt_at), session_id])
    return int(number)


def enqueue_delivery(connection: redis.Redis, settings: Settings, session_id: str) -> bool:
    """Queue the event's delivery job unless one exists (False then)."""
    queue = Queue(settings.webhook_queue, connection=connection)
    ttl = settings.session_ttl
    try:
        queue.enqueue(DELIVER, session_id, job_id=delivery_job_id(session_id), unique=True,
                      job_timeout=int(2 * settings.webhook_timeout) + 30, result_ttl=ttl,
                      failure_ttl=ttl, description=f"webhook of session {session_id}")
    except DuplicateJobError:
        return False
    return True


def on_finish(connection: redis.Redis, settings: Settings) -> Callable[[str], None]:
    """What a store calls right after it ended a session: queue its webhook, if it has one
    (a failure here only delays it until the maintenance thread's next round)."""

    def hook(session_id: str) -> None:
        try:
            if connection.zscore(keys.WEBHOOK_OUTBOX, session_id) is not None:
                enqueue_delivery(connection, settings, session_id)
        except redis.RedisError as error:
            log.warning("webhook of %s not queued yet (the maintenance thread will): %r",
                        session_id, error)

    return hook


def enqueue_lost_deliveries(connection: redis.Redis, settings: Settings,
                            now: float | None = None) -> int:
    """Queue again the due events whose job is gone (lost in a crash or a Redis restart,
    or ended without recording a final state); returns how many."""
    now = time.time() if now is None else now
    due = connection.zrangebyscore(keys.WEBHOOK_OUTBOX, "-inf", now - LOST_AFTER, start=0,
                                   num=LOST_BATCH)
    requeued = 0
    for raw in due:
        session_id = _text(raw)
        if not connection.exists(keys.session_key(session_id)):
            connection.zrem(keys.WEBHOOK_OUTBOX, session_id)  # the hash expired on its own
            continue
        job = _fetch(connection, delivery_job_id(session_id))
        if job is None or job.get_status(refresh=False) not in _ALIVE:
            purge_delivery(connection, settings.queue_name, session_id)
            if enqueue_delivery(connection, settings, session_id):
                log.warning("webhook of %s had no job: queued again", session_id)
                requeued += 1
        connection.zadd(keys.WEBHOOK_OUTBOX, {session_id: now + RECHECK_SECONDS}, xx=True)
    return requeued


def enqueue_due_retries(connection: redis.Redis, settings: Settings,
                        now: float | None = None) -> int:
    """Put the webhook retries whose delay is over back on their queue; how many. This is
    what RQ's scheduler does, done by the maintenance thread instead: a scheduler process
    forked beside each worker would outlive a worker killed alone, and look like its work
    horse to anything that counts a worker's children."""
    queue = Queue(settings.webhook_queue, connection=connection)
    registry = queue.scheduled_job_registry
    due = registry.get_jobs_to_schedule(int(time.time() if now is None else now))
    moved = 0
    for jid, job in zip(due, Job.fetch_many(due, connection=connection), strict=True):
        if not connection.zrem(registry.key, jid):
            continue  # taken by someone else meanwhile: never queued twice
        if job is not None:
            queue._enqueue_job(job)
            moved += 1
    return moved


def purge_delivery(connection: redis.Redis, queue_name: str, session_id: str) -> None:
    """Remove the event's job from RQ, wherever it stands (with the session's stage jobs:
    ``queue_name`` is theirs). One that is running may still post; it records nothing."""
    queue = Queue(webhook_queue_name(queue_name), connection=connection)
    jid = delivery_job_id(session_id)
    job = _fetch(connection, jid)
    if job is not None:
        queue.started_job_registry.remove_executions(job)
        job.delete(remove_from_queue=True)
    registries = (queue.scheduled_job_registry, queue.finished_job_registry,
                  queue.failed_job_registry, queue.canceled_job_registry,
                  queue.deferred_job_registry)
    with connection.pipeline() as pipe:
        for registry in registries:
            pipe.zrem(registry.key, jid)
        pipe.lrem(queue.key, 0, jid)
        pipe.execute()


def _fetch(connection: redis.Redis, jid: str) -> Job | None:
    try:
        return Job.fetch(jid, connection=connection)
    except NoSuchJobError:
        return None


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
