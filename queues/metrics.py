"""Counters every process adds to in Redis (sessions created and ended, stage durations,
retries, webhook attempts, upload bytes), so that one scrape of the web's metrics port
sees what every worker on every machine counted (``queues.exporter`` reads them).

A count is a HINCRBY on a hash named in ``queues.keys``; a Redis error while counting is
logged and dropped, never raised into the work being counted.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio

from queues import keys

log = logging.getLogger(__name__)

FIELD_SEP = ":"  # between a counter field's parts, e.g. "completed:highlights"
# Upper bounds (seconds) of the stage duration histogram's buckets; +Inf is implied.
# From a probe of a short clip (~0.1 s) to a 15-minute video's decode and render.
STAGE_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
                 3600.0)
SESSION_EVENTS = ("created", "completed", "failed", "cancelled")  # the sessions' counters
WEBHOOK_OUTCOMES = ("delivered", "retrying", "gave_up")  # what became of one attempt
UPLOAD_OUTCOMES = ("accepted", "no_session")  # an upload made a new session, or not
UPLOAD_BYTES = "bytes"  # the uploads hash's field of request body bytes received
HISTOGRAM_COUNT, HISTOGRAM_SUM, HISTOGRAM_INF = "count", "sum", "+Inf"


def field(*parts: str) -> str:
    return FIELD_SEP.join(parts)


def split_field(name: str, parts: int) -> tuple[str, ...] | None:
    """The parts of a counter field (None: not ``parts`` parts, e.g. an older format)."""
    split = tuple(name.split(FIELD_SEP, parts - 1))
    return split if len(split) == parts else None


def bucket_of(seconds: float) -> str:
    """The name of the (non-cumulative) bucket holding ``seconds``."""
    for bound in STAGE_BUCKETS:
        if seconds <= bound:
            return repr(bound)
    return HISTOGRAM_INF


def _quietly(count: Callable[..., None]) -> Callable[..., None]:
    def guarded(*args: Any, **kwargs: Any) -> None:
        try:
            count(*args, **kwargs)
        except redis.RedisError as error:
            log.warning("metric %s not counted: %r", count.__name__, error)
    return guarded


def count_created(pipe: redis.client.Pipeline, analysis: str) -> None:
    """In the pipeline that writes the session: counted exactly when it is created. (Its
    end is counted by the Lua step that ends it, ``queues.scripts.FINISH_ONCE``.)"""
    pipe.hincrby(keys.METRICS_SESSIONS, field("created", analysis), 1)


@_quietly
def observe_stage(connection: redis.Redis, stage: str, seconds: float) -> None:
    """A stage's attempt completed its work in ``seconds``."""
    if not math.isfinite(seconds) or seconds < 0:
        return
    pipe = connection.pipeline()  # MULTI: a scrape sees the bucket and the count together
    pipe.hincrby(keys.METRICS_STAGE_SECONDS, field(stage, bucket_of(seconds)), 1)
    pipe.hincrby(keys.METRICS_STAGE_SECONDS, field(stage, HISTOGRAM_COUNT), 1)
    pipe.hincrbyfloat(keys.METRICS_STAGE_SECONDS, field(stage, HISTOGRAM_SUM), seconds)
    pipe.execute()


@_quietly
def count_retry(connection: redis.Redis, stage: str, reason: str) -> None:
    """A stage's attempt ended unfinished and the stage runs again (``reason``: a
    ``queues.session.LossCause`` value: interrupted, killed, out_of_memory, lost)."""
    connection.hincrby(keys.METRICS_RETRIES, field(stage, reason), 1)


@_quietly
def count_webhook_attempt(connection: redis.Redis, outcome: str) -> None:
    """One attempt to deliver a webhook (``outcome`` in WEBHOOK_OUTCOMES)."""
    connection.hincrby(keys.METRICS_WEBHOOKS, outcome, 1)


async def count_upload(connection: redis.asyncio.Redis, received: int, accepted: bool) -> None:
    """The web received an upload's body (``received`` bytes, all of it or until it
    stopped) and made a session of it, or not."""
    try:
        pipe = connection.pipeline(transaction=False)
        pipe.hincrby(keys.METRICS_UPLOADS, UPLOAD_BYTES, received)
        pipe.hincrby(keys.METRICS_UPLOADS, UPLOAD_OUTCOMES[0 if accepted else 1], 1)
        await pipe.execute()
    except redis.RedisError as error:
        log.warning("upload not counted: %r", error)
