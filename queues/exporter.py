"""The Prometheus view of the service, read from Redis at each scrape: the counters every
process added (``queues.metrics``), and live gauges (queues, workers, sessions).

One collector serves the whole fleet: whichever process runs it sees what every worker on
every machine counted. Nothing here writes to Redis.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from itertools import islice

import redis
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry
from rq import Queue
from rq.job import Job
from rq.utils import str_to_date
from rq.worker_registration import get_keys

from queues import keys, metrics
from queues.graph import PIPELINES, STAGES
from queues.session import F_STATUS, SessionStatus
from queues.settings import Settings

log = logging.getLogger(__name__)

OLDEST_SCAN = 500  # waiting jobs read for the oldest one's age (from the front of the line)
LIVE_SCAN = 10_000  # unfinished sessions read for the by-status gauge (beyond: not shown)
SESSION_HELP = {"created": "Sessions created (uploads accepted)",
                "completed": "Sessions that ended completed",
                "failed": "Sessions that ended failed",
                "cancelled": "Sessions that ended cancelled"}
LIVE_STATUSES = (SessionStatus.QUEUED, SessionStatus.PROCESSING, SessionStatus.CANCELLING)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _counts(connection: redis.Redis, key: str) -> dict[str, float]:
    return {_text(k): float(v) for k, v in connection.hgetall(key).items()}


class RedisCollector(Collector):
    """A ``prometheus_client`` collector reading Redis synchronously at each scrape."""

    def __init__(self, connection: redis.Redis, settings: Settings) -> None:
        self.redis = connection
        self.queues = (settings.queue_name, settings.webhook_queue)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("video_metrics_redis_up",
                               "1 if this scrape could read Redis (else no other metric)")
        try:
            families = [*self.session_counters(), self.stage_durations(), *self.retries(),
                        *self.uploads(), *self.queue_gauges(), *self.worker_gauges(),
                        *self.session_gauges()]
        except redis.RedisError as error:
            log.warning("metrics scrape could not read Redis: %r", error)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield from families
        yield up

    # --- what every process counted ------------------------------------------------------

    def session_counters(self) -> Iterator[Metric]:
        counts = _counts(self.redis, keys.METRICS_SESSIONS)
        for event in metrics.SESSION_EVENTS:
            family = CounterMetricFamily(f"video_sessions_{event}", SESSION_HELP[event],
                                         labels=["analysis"])
            found = {parts[1]: value for name, value in counts.items()
                     if (parts := metrics.split_field(name, 2)) and parts[0] == event}
            for analysis in sorted({*PIPELINES, *found}):
                family.add_metric([analysis], found.get(analysis, 0.0))
            yield family

    def stage_durations(self) -> Metric:
        counts: dict[str, dict[str, float]] = defaultdict(dict)
        for name, value in _counts(self.redis, keys.METRICS_STAGE_SECONDS).items():
            if parts := metrics.split_field(name, 2):
                counts[parts[0]][parts[1]] = value
        family = HistogramMetricFamily(
            "video_stage_duration_seconds",
            "Time a stage's attempt took to do its work, for attempts that completed",
            labels=["stage"])
        for stage in sorted({*STAGES, *counts}):
            family.add_metric([stage], _buckets(counts.get(stage, {})),
                              counts.get(stage, {}).get(metrics.HISTOGRAM_SUM, 0.0))
        return family

    def retries(self) -> Iterator[Metric]:
        stages = CounterMetricFamily(
            "video_stage_retries",
            "Stage attempts that ended unfinished and were run again, by reason "
            "(interrupted: handed back on shutdown; killed, out_of_memory, lost)",
            labels=["stage", "reason"])
        for name, value in sorted(_counts(self.redis, keys.METRICS_RETRIES).items()):
            if parts := metrics.split_field(name, 2):
                stages.add_metric(list(parts), value)
        yield stages
        webhooks = CounterMetricFamily(
            "video_webhook_attempts",
            "Webhook delivery attempts, by outcome (retrying: failed, another one is due)",
            labels=["outcome"])
        counts = _counts(self.redis, keys.METRICS_WEBHOOKS)
        for outcome in metrics.WEBHOOK_OUTCOMES:
            webhooks.add_metric([outcome], counts.get(outcome, 0.0))
        yield webhooks

    def uploads(self) -> Iterator[Metric]:
        counts = _counts(self.redis, keys.METRICS_UPLOADS)
        yield CounterMetricFamily("video_upload_bytes",
                                  "Bytes of upload request bodies the web received",
                                  value=counts.get(metrics.UPLOAD_BYTES, 0.0))
        family = CounterMetricFamily(
            "video_uploads", "Uploads received, by outcome (no_session: no new session was made: "
            "a refused file, an aborted upload, an idempotent replay)", labels=["outcome"])
        for outcome in metrics.UPLOAD_OUTCOMES:
            family.add_metric([outcome], counts.get(outcome, 0.0))
        yield family

    # --- live gauges ---------------------------------------------------------------------

    def queue_gauges(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("video_queue_depth", "Jobs waiting in the queue",
                                  labels=["queue"])
        oldest = GaugeMetricFamily(
            "video_queue_oldest_job_age_seconds",
            f"How long the longest-waiting of the first {OLDEST_SCAN} jobs in line has "
            "waited (0: none waiting)", labels=["queue"])
        held = GaugeMetricFamily(
            "video_queue_registry_jobs", "Jobs not in line: deferred (waiting for the stage "
            "before), scheduled (a webhook's next attempt), started", labels=["queue", "registry"])
        now = time.time()
        for name in self.queues:
            queue = Queue(name, connection=self.redis)
            pipe = self.redis.pipeline(transaction=False)
            pipe.llen(queue.key)
            pipe.lrange(queue.key, 0, OLDEST_SCAN - 1)
            registries = {"deferred": queue.deferred_job_registry.key,
                          "scheduled": queue.scheduled_job_registry.key,
                          "started": queue.started_job_registry.key}
            for key in registries.values():
                pipe.zcard(key)
            length, ids, *sizes = pipe.execute()
            depth.add_metric([name], length)
            oldest.add_metric([name], self._oldest_age([_text(i) for i in ids], now))
            for registry, size in zip(registries, sizes, strict=True):
                held.add_metric([name, registry], size)
        return iter((depth, oldest, held))

    def _oldest_age(self, job_ids: list[str], now: float) -> float:
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hget(Job.key_for(job_id), "enqueued_at")
        stamps = [str_to_date(raw).timestamp() for raw in pipe.execute() if raw]
        return max(0.0, now - min(stamps)) if stamps else 0.0

    def worker_gauges(self) -> Iterator[Metric]:
        worker_keys = sorted(get_keys(connection=self.redis))
        pipe = self.redis.pipeline(transaction=False)
        for key in worker_keys:
            pipe.hget(key, "state")
        states = Counter(_text(s) for s in pipe.execute() if s is not None)  # None: gone
        family = GaugeMetricFamily("video_workers",
                                   "Live RQ workers (every machine), by state (busy: running "
                                   "a job)", labels=["state"])
        for state in sorted({"busy", "idle", *states}):
            family.add_metric([state], states.get(state, 0))
        yield family

    def session_gauges(self) -> Iterator[Metric]:
        live = list(islice(self.redis.sscan_iter(keys.ACTIVE_SESSIONS, count=1000), LIVE_SCAN))
        pipe = self.redis.pipeline(transaction=False)
        for session_id in live:
            pipe.hget(keys.session_key(_text(session_id)), F_STATUS)
        statuses = Counter(_text(s) for s in _non_null(pipe.execute()))
        family = GaugeMetricFamily("video_sessions", "Sessions not ended yet, by status",
                                   labels=["status"])
        for status in LIVE_STATUSES:
            family.add_metric([status.value], statuses.get(status.value, 0))
        yield family
        yield GaugeMetricFamily("video_sessions_stored",
                                "Sessions in Redis, ended or not (ended ones until they expire)",
                                value=self.redis.zcard(keys.SESSIONS_BY_EXPIRY))


def metrics_registry(connection: redis.Redis, settings: Settings) -> CollectorRegistry:
    """The fleet's metrics from Redis, plus this process's own (CPU, memory, fds)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector(connection, settings))
    ProcessCollector(registry=registry)
    return registry


def _non_null(values: Iterable[object]) -> Iterator[object]:
    return (v for v in values if v is not None)


def _buckets(counts: dict[str, float]) -> list[tuple[str, float]]:
    """Cumulative buckets from the stored per-bucket counts (a bound no longer in
    STAGE_BUCKETS counts in the next one up)."""
    bounds = [*metrics.STAGE_BUCKETS, float("inf")]
    per_bound = [0.0] * len(bounds)
    for name, value in counts.items():
        if name in (metrics.HISTOGRAM_SUM, metrics.HISTOGRAM_COUNT):
            continue
        try:
            upper = float(name)
        except ValueError:
            continue
        per_bound[next(i for i, b in enumerate(bounds) if upper <= b)] += value
    cumulative, total = [], 0.0
    for bound, value in zip(bounds, per_bound, strict=True):
        total += value
        cumulative.append(("+Inf" if bound == float("inf") else repr(bound), total))
    return cumulative
