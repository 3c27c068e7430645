"""The RQ job that posts one session's webhook: one attempt per run, signed per Standard
Webhooks, recorded, and (on failure) run again after the next WEBHOOK_RETRY_DELAYS entry
(an RQ Retry: the job waits in the scheduled registry, which the maintenance thread
empties when due). Runs on its own queue, never inside a stage."""

from __future__ import annotations

import http.client
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from rq import Retry, get_current_job
from standardwebhooks import Webhook

from queues import keys, metrics
from queues.connection import session_store, sync_redis
from queues.destinations import DestinationRefused, check_destination, post
from queues.session import F_CALLBACK, Session
from queues.settings import MAX_WEBHOOK_RETRIES, Settings, process_settings
from queues.webhooks import (
    Attempt,
    DeliveryState,
    event_body,
    load_record,
    record_attempt,
    webhook_id,
)

log = logging.getLogger(__name__)

USER_AGENT = "video-analysis-webhooks/1"
OUTCOMES = {DeliveryState.DELIVERED: "delivered", DeliveryState.PENDING: "retrying",
            DeliveryState.FAILED: "gave_up"}  # an attempt's count (queues.metrics)


@dataclass(frozen=True)
class Message:
    """One event, ready to sign and send."""

    webhook_id: str
    body: bytes

    def headers(self, secret: str, now: datetime) -> dict[str, str]:
        """Fresh at each attempt: receivers refuse signatures older than a few minutes."""
        signature = Webhook(secret).sign(self.webhook_id, now, self.body.decode())
        return {"webhook-id": self.webhook_id, "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signature, "Content-Type": "application/json",
                "User-Agent": USER_AGENT}


def message_of(session: Session) -> Message:
    body = json.dumps(event_body(session), separators=(",", ":")).encode()
    return Message(webhook_id(session.session_id, session.status.value), body)


def attempt_delivery(message: Message, url: str, settings: Settings) -> Attempt:
    """Check the destination again (its DNS may have changed), then post to it once."""
    started, at = time.monotonic(), time.time()
    status: int | None = None
    error: str | None = None
    if not settings.webhook_secret:  # set on the web but not on this worker
        return Attempt(at, None, "WEBHOOK_SECRET is not set on the worker", 0.0)
    try:
        destination = check_destination(url, settings.webhook_allow_private)
        answer = post(destination, message.body,
                      message.headers(settings.webhook_secret, datetime.now(UTC)),
                      settings.webhook_timeout)
        status = answer.status
    except DestinationRefused as refused:
        error = str(refused)
    except TimeoutError as timeout:  # the socket's own says just "timed out"
        error = f"timed out: {timeout}" if str(timeout) not in ("", "timed out") else \
            f"timed out after {settings.webhook_timeout:g} s"
    except (OSError, http.client.HTTPException) as failed:
        error = f"{type(failed).__name__}: {failed}".rstrip(": ")
    return Attempt(at, status, error, round((time.monotonic() - started) * 1000, 1))


def delivered(attempt: Attempt) -> bool:
    """2xx only: a redirect is a failed attempt (never followed), like any other answer."""
    return attempt.status_code is not None and 200 <= attempt.status_code < 300


class Delivery:
    """One run of the job for one session's event."""

    def __init__(self, connection: redis.Redis, settings: Settings, session_id: str) -> None:
        self.connection = connection
        self.settings = settings
        self.session_id = session_id

    def __call__(self) -> str | Retry:
        session = session_store(self.connection, self.settings).get(self.session_id)
        url = self.connection.hget(keys.session_key(self.session_id), F_CALLBACK)
        record = load_record(self.connection, self.session_id)
        if session is None or not session.status.terminal or url is None or \
                session.expires_at < time.time():
            # Deleted or expired: its pending delivery stops here.
            self.connection.zrem(keys.WEBHOOK_OUTBOX, self.session_id)
            return "gone"
        if record.state is not DeliveryState.PENDING:
            return record.state.value  # an extra run (enqueued twice): nothing more to do
        done = len(record.attempts)
        attempt = attempt_delivery(message_of(session), _text(url), self.settings)
        delays = self.settings.webhook_retry_delays
        if delivered(attempt):
            state, delay = DeliveryState.DELIVERED, None
        elif done < len(delays):
            state, delay = DeliveryState.PENDING, delays[done]
        else:
            state, delay = DeliveryState.FAILED, None
        next_at = time.time() + delay if delay is not None else None
        number = record_attempt(self.connection, self.session_id, attempt, state, next_at)
        log.info("webhook of %s, attempt %d: %s (%s)", self.session_id, done + 1,
                 attempt.status_code or attempt.error, state.value)
        if number == 0:
            return "gone"
        metrics.count_webhook_attempt(self.connection, OUTCOMES[state])
        if delay is not None:
            # Our record, not RQ's counter, bounds the attempts (a job enqueued again by the
            # maintenance thread starts a new counter), hence the generous max. RQ keeps due
            # times in whole seconds, rounded down: one more, so no retry comes early.
            return Retry(max=MAX_WEBHOOK_RETRIES + 1, interval=delay + 1 if delay else 0)
        return state.value


def deliver_webhook(session_id: str) -> str | Retry:
    """RQ job entry: one attempt to deliver the webhook of an ended session."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("deliver_webhook must run inside an RQ job")
    settings = process_settings()
    # Our own client (timeouts, retries), not the RQ worker's; without a URL (tests on
    # fakeredis) the job's own.
    connection = sync_redis(settings) if settings.redis_url else job.connection
    return Delivery(connection, settings, session_id)()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
