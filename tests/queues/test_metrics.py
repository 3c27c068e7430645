"""Metrics through Redis: the counters move at the transitions they name (once each), the
stage histogram's buckets, the live gauges, and the collector's text format as Prometheus
parses it."""

from __future__ import annotations

import base64
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import fakeredis
import pytest
import redis
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue, SimpleWorker

import queues.delivery
import queues.runner
from queues import metrics
from queues.attempt import SHUTDOWN
from queues.cancel import request_cancel
from queues.connection import pipeline_queue, session_store
from queues.embedded import free_port
from queues.exporter import RedisCollector, metrics_registry
from queues.runner import RedisStageContext
from queues.session import F_CALLBACK, LossCause, Session, SessionStatus, new_session_hash
from queues.settings import Settings
from queues.store import SessionStore
from queues.submit import new_session_id
from queues.worker import build_worker
from stages.workspace import Storage
from tests.receiver import Script, webhook_receiver

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(conn: redis.Redis, settings: Settings) -> Samples:
    """Every sample the collector gives, parsed back from the text format."""
    registry = metrics_registry(conn, settings)
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_a_completed_session_counts_once_with_its_stages(
        make_session: Callable[..., Session], small_video: Path, run_jobs: Callable[[], None],
        redis_conn: fakeredis.FakeRedis, settings: Settings, store: SessionStore) -> None:
    session = make_session(small_video, analysis="workout")
    before = scrape(redis_conn, settings)
    assert value(before, "video_sessions_created_total", analysis="workout") == 1
    assert value(before, "video_sessions_completed_total", analysis="workout") == 0
    assert value(before, "video_sessions", status="queued") == 1
    assert value(before, "video_queue_depth", queue="pipeline") == 1  # decode; the rest wait
    assert value(before, "video_queue_registry_jobs", queue="pipeline", registry="deferred") == 2
    assert value(before, "video_queue_oldest_job_age_seconds", queue="pipeline") >= 0
    run_jobs()
    after = scrape(redis_conn, settings)
    assert value(after, "video_sessions_completed_total", analysis="workout") == 1
    assert value(after, "video_sessions_created_total", analysis="workout") == 1
    assert value(after, "video_sessions_failed_total", analysis="workout") == 0
    assert value(after, "video_sessions", status="queued") == 0
    assert value(after, "video_sessions_stored") == 1
    assert value(after, "video_queue_depth", queue="pipeline") == 0
    for stage in ("decode", "score", "workout"):
        assert value(after, "video_stage_duration_seconds_count", stage=stage) == 1
        assert value(after, "video_stage_duration_seconds_bucket", stage=stage, le="+Inf") == 1
        assert value(after, "video_stage_duration_seconds_sum", stage=stage) > 0
    assert value(after, "video_stage_duration_seconds_count", stage="render") == 0
    # a second finish loses (first caller wins) and counts nothing
    assert not store.finish(session.session_id, SessionStatus.FAILED, ["decode"])
    assert value(scrape(redis_conn, settings), "video_sessions_failed_total",
                 analysis="workout") == 0
    assert value(after, "video_metrics_redis_up") == 1


def test_failed_and_cancelled_sessions_count_by_analysis(
        make_session: Callable[..., Session], small_video: Path, run_jobs: Callable[[], None],
        redis_conn: fakeredis.FakeRedis, settings: Settings, store: SessionStore,
        storage: Storage) -> None:
    broken = make_session(small_video, analysis="all")
    storage.open(broken.session_id).path("source").write_text("not a video any more")
    cancelled = make_session(small_video, analysis="highlights")
    assert request_cancel(redis_conn, store, storage, cancelled.session_id) \
        is SessionStatus.CANCELLED
    run_jobs()
    samples = scrape(redis_conn, settings)
    assert value(samples, "video_sessions_failed_total", analysis="all") == 1
    assert value(samples, "video_sessions_cancelled_total", analysis="highlights") == 1
    assert value(samples, "video_sessions_completed_total", analysis="all") == 0
    assert value(samples, "video_sessions_created_total", analysis="all") == 1
    assert value(samples, "video_sessions_created_total", analysis="highlights") == 1
    # decode failed: no duration observed for it (only completed work is)
    assert value(samples, "video_stage_duration_seconds_count", stage="decode") == 0


def test_stage_histogram_buckets_are_cumulative(redis_conn: fakeredis.FakeRedis,
                                                settings: Settings) -> None:
    for seconds in (0.1, 0.3, 0.3, 7.0, 5000.0):
        metrics.observe_stage(redis_conn, "render", seconds)
    metrics.observe_stage(redis_conn, "render", float("nan"))  # never poisons the sum
    samples = scrape(redis_conn, settings)

    def bucket(le: str) -> float:
        return value(samples, "video_stage_duration_seconds_bucket", stage="render", le=le)

    assert [bucket(le) for le in ("0.25", "0.5", "5.0", "10.0", "3600.0", "+Inf")] == \
        [1, 3, 3, 4, 4, 5]
    assert value(samples, "video_stage_duration_seconds_count", stage="render") == 5
    assert value(samples, "video_stage_duration_seconds_sum", stage="render") == \
        pytest.approx(5007.7)
    assert metrics.bucket_of(0.25) == "0.25" and metrics.bucket_of(1e9) == "+Inf"


def test_a_lost_attempt_counts_as_a_retry_once(make_session: Callable[..., Session],
                                               small_video: Path, store: SessionStore,
                                               redis_conn: fakeredis.FakeRedis,
                                               settings: Settings) -> None:
    sid = make_session(small_video, analysis="workout").session_id
    assert store.start_stage(sid, "decode", "decode-t1", "w1", 10.0)[0] == "ok"
    assert store.reclaim(sid, "decode", LossCause.KILLED, 3, owner="w1") == "retry"
    assert store.reclaim(sid, "decode", LossCause.KILLED, 3, owner="w1") == "idle"
    assert store.start_stage(sid, "decode", "decode-t2", "w2", 10.0)[0] == "ok"
    assert store.reclaim(sid, "decode", LossCause.INTERRUPTED, 3, owner="w2") == "retry"
    samples = scrape(redis_conn, settings)
    assert value(samples, "video_stage_retries_total", stage="decode", reason="killed") == 1
    assert value(samples, "video_stage_retries_total", stage="decode",
                 reason="interrupted") == 1


def test_webhook_attempts_count_by_outcome(redis_conn: fakeredis.FakeRedis, settings: Settings,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    hooks = dataclasses.replace(
        settings, webhook_secret="whsec_" + base64.b64encode(bytes(range(32))).decode(),
        webhook_allow_private=True, webhook_timeout=2.0, webhook_retry_delays=(0, 0))
    monkeypatch.setattr(queues.delivery, "process_settings", lambda: hooks)
    store = session_store(redis_conn, hooks)
    with webhook_receiver(Script(statuses=[500, 204])) as receiver:
        sid = new_session_id()
        store.create(sid, {**new_session_hash("highlights", "{}", [("decode", 1.0)],
                                              time.time(), hooks.session_ttl),
                           F_CALLBACK: receiver.url})
        assert store.finish(sid, SessionStatus.COMPLETED, ["decode"])
        SimpleWorker([Queue(hooks.webhook_queue, connection=redis_conn)],
                     connection=redis_conn).work(burst=True)
    samples = scrape(redis_conn, hooks)
    assert value(samples, "video_webhook_attempts_total", outcome="retrying") == 1
    assert value(samples, "video_webhook_attempts_total", outcome="delivered") == 1
    assert value(samples, "video_webhook_attempts_total", outcome="gave_up") == 0


def test_workers_by_state(redis_conn: fakeredis.FakeRedis, settings: Settings) -> None:
    worker = build_worker(settings, redis_conn)
    worker.register_birth()
    worker.set_state("busy")
    samples = scrape(redis_conn, settings)
    assert value(samples, "video_workers", state="busy") == 1
    assert value(samples, "video_workers", state="idle") == 0
    worker.register_death()
    assert value(scrape(redis_conn, settings), "video_workers", state="busy") == 0


def test_redis_down_gives_up_zero_not_an_error(settings: Settings) -> None:
    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.2)
    families = list(RedisCollector(dead, settings).collect())
    assert [(f.name, f.samples[0].value) for f in families] == [("video_metrics_redis_up", 0)]


def test_a_stage_handed_back_on_shutdown_counts_as_an_interrupted_retry(
        make_session: Callable[..., Session], small_video: Path, run_jobs: Callable[[], None],
        redis_conn: fakeredis.FakeRedis, settings: Settings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = queues.runner.STAGES["decode"]

    def interrupted(ctx: RedisStageContext) -> None:
        SHUTDOWN.set()  # what SIGTERM does in the horse
        ctx.progress(0.5)

    make_session(small_video, analysis="workout")
    monkeypatch.setitem(queues.runner.STAGES, "decode", dataclasses.replace(real, run=interrupted))
    try:
        SimpleWorker([pipeline_queue(redis_conn, settings)],
                     connection=redis_conn).work(burst=True, max_jobs=1)
    finally:
        SHUTDOWN.clear()
    samples = scrape(redis_conn, settings)
    assert value(samples, "video_stage_retries_total", stage="decode", reason="interrupted") == 1
    assert value(samples, "video_stage_duration_seconds_count", stage="decode") == 0
    monkeypatch.setitem(queues.runner.STAGES, "decode", real)
    run_jobs()
    samples = scrape(redis_conn, settings)
    assert value(samples, "video_stage_duration_seconds_count", stage="decode") == 1
    assert value(samples, "video_sessions_completed_total", analysis="workout") == 1
