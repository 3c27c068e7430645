"""Webhooks end to end in one process: a session's end goes to the outbox atomically, an
RQ job posts it signed to a real receiver, retries follow WEBHOOK_RETRY_DELAYS, every
attempt is recorded, a lost enqueue is made good, and a cleanup stops it all."""

from __future__ import annotations

import base64
import dataclasses
import json
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path

import fakeredis
import pytest
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from standardwebhooks import Webhook

import queues.delivery
from queues import keys
from queues.connection import pipeline_queue, session_store
from queues.endings import delete_session
from queues.session import F_CALLBACK, F_ERROR, SessionStatus, new_session_hash
from queues.settings import Settings
from queues.store import SessionStore
from queues.submit import new_session_id, submit_session
from queues.webhooks import (
    LOST_AFTER,
    DeliveryState,
    delivery_job_id,
    enqueue_delivery,
    enqueue_due_retries,
    enqueue_lost_deliveries,
    load_record,
)
from queues.worker import build_worker
from stages.workspace import SOURCE, Storage
from tests.receiver import Script, webhook_receiver

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
STAGES = ["decode", "score", "select", "render"]


@pytest.fixture
def hooks(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Webhooks on, to 127.0.0.1, with immediate retries (RQ re-enqueues at once)."""
    configured = dataclasses.replace(settings, webhook_secret=SECRET, webhook_allow_private=True,
                                     webhook_timeout=2.0, webhook_retry_delays=(0, 0))
    monkeypatch.setattr(queues.delivery, "process_settings", lambda: configured)
    return configured


def ended_session(conn: fakeredis.FakeRedis, settings: Settings, url: str,
                  status: SessionStatus = SessionStatus.COMPLETED,
                  store: SessionStore | None = None) -> str:
    """A session with a callback that just ended (through the store's own finish)."""
    sid = new_session_id()
    store = store or session_store(conn, settings)
    fields = new_session_hash("highlights", "{}", [(s, 1.0) for s in STAGES], time.time(),
                              settings.session_ttl)
    store.create(sid, {**fields, F_CALLBACK: url})
    extra = {F_ERROR: json.dumps({"code": "unreadable_video"})} \
        if status is SessionStatus.FAILED else None
    assert store.finish(sid, status, STAGES, failed_stage="decode" if extra else "",
                        extra=extra)
    return sid


def deliver(conn: fakeredis.FakeRedis, settings: Settings) -> None:
    """Run the webhook jobs queued now (and retries queued without a delay)."""
    SimpleWorker([Queue(settings.webhook_queue, connection=conn)],
                 connection=conn).work(burst=True)


def test_a_receiver_failing_twice_gets_three_signed_identical_attempts(
        redis_conn: fakeredis.FakeRedis, hooks: Settings) -> None:
    with webhook_receiver(Script(statuses=[500, 503, 204])) as receiver:
        sid = ended_session(redis_conn, hooks, receiver.url)
        assert redis_conn.zscore(keys.WEBHOOK_OUTBOX, sid) is not None
        deliver(redis_conn, hooks)
        requests = receiver.requests
    assert len(requests) == 3
    for request in requests:
        payload = Webhook(SECRET).verify(request.body, request.headers)
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["User-Agent"] == "video-analysis-webhooks/1"
    assert {r.headers["webhook-id"] for r in requests} == {f"msg_{sid}_completed"}
    assert len({r.body for r in requests}) == 1  # the same event each time
    assert payload["type"] == "session.completed"
    assert payload["data"] == {"session_id": sid, "status": "completed",
                               "analysis": "highlights",
                               "status_url": f"/api/v1/video/status/{sid}",
                               "results_url": f"/api/v1/video/results/{sid}", "error": None}
    record = load_record(redis_conn, sid)
    assert record.state is DeliveryState.DELIVERED and record.next_attempt_at is None
    assert [a.status_code for a in record.attempts] == [500, 503, 204]
    assert all(a.error is None and a.duration_ms >= 0 for a in record.attempts)
    assert redis_conn.zscore(keys.WEBHOOK_OUTBOX, sid) is None
    # the record goes when the session goes
    assert abs(redis_conn.pttl(keys.webhook_key(sid)) -
               redis_conn.pttl(keys.session_key(sid))) < 1000


def test_failed_sessions_carry_their_problem(redis_conn: fakeredis.FakeRedis,
                                             hooks: Settings) -> None:
    with webhook_receiver() as receiver:
        sid = ended_session(redis_conn, hooks, receiver.url, SessionStatus.FAILED)
        deliver(redis_conn, hooks)
        (request,) = receiver.requests
    payload = json.loads(request.body)
    assert payload["type"] == "session.failed" and payload["data"]["status"] == "failed"
    assert payload["data"]["error"] == {"code": "unreadable_video"}
    assert request.headers["webhook-id"] == f"msg_{sid}_failed"


def test_every_attempt_failing_ends_failed(redis_conn: fakeredis.FakeRedis,
                                           hooks: Settings) -> None:
    with webhook_receiver(Script(statuses=[302], headers={"Location": "/ok"})) as receiver:
        sid = ended_session(redis_conn, hooks, receiver.url, SessionStatus.CANCELLED)
        deliver(redis_conn, hooks)
        assert [r.path for r in receiver.requests] == ["/hook"] * 3  # never "/ok"
    record = load_record(redis_conn, sid)
    assert record.state is DeliveryState.FAILED
    assert [a.status_code for a in record.attempts] == [302, 302, 302]
    assert redis_conn.zscore(keys.WEBHOOK_OUTBOX, sid) is None
    job = Job.fetch(delivery_job_id(sid), connection=redis_conn)
    assert job.get_status() == JobStatus.FINISHED


def test_a_refused_destination_is_a_failed_attempt(redis_conn: fakeredis.FakeRedis,
                                                   hooks: Settings,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    strict = dataclasses.replace(hooks, webhook_allow_private=False, webhook_retry_delays=())
    monkeypatch.setattr(queues.delivery, "process_settings", lambda: strict)
    with webhook_receiver() as receiver:
        sid = ended_session(redis_conn, strict, receiver.url)
        deliver(redis_conn, strict)
        assert receiver.requests == []
    (attempt,) = load_record(redis_conn, sid).attempts
    assert attempt.status_code is None and "loopback" in (attempt.error or "")


def test_no_answer_is_a_failed_attempt_with_its_error(redis_conn: fakeredis.FakeRedis,
                                                      hooks: Settings,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    once = dataclasses.replace(hooks, webhook_retry_delays=())
    monkeypatch.setattr(queues.delivery, "process_settings", lambda: once)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, not listening: the connection is refused
        sid = ended_session(redis_conn, once, f"http://127.0.0.1:{closed.getsockname()[1]}/")
        deliver(redis_conn, once)
    record = load_record(redis_conn, sid)
    (attempt,) = record.attempts
    assert record.state is DeliveryState.FAILED and attempt.status_code is None
    assert "ConnectionRefusedError" in (attempt.error or "")


def test_a_delay_schedules_the_retry_and_cleanup_stops_it(
        redis_conn: fakeredis.FakeRedis, hooks: Settings, storage: Storage,
        monkeypatch: pytest.MonkeyPatch) -> None:
    later = dataclasses.replace(hooks, webhook_retry_delays=(60,))
    monkeypatch.setattr(queues.delivery, "process_settings", lambda: later)
    with webhook_receiver(Script(statuses=[500])) as receiver:
        sid = ended_session(redis_conn, later, receiver.url)
        deliver(redis_conn, later)
        (attempt,) = load_record(redis_conn, sid).attempts
        record = load_record(redis_conn, sid)
        assert record.state is DeliveryState.PENDING
        assert record.next_attempt_at == pytest.approx(attempt.at + 60, abs=1)
        assert redis_conn.zscore(keys.WEBHOOK_OUTBOX, sid) == record.next_attempt_at
        queue = Queue(later.webhook_queue, connection=redis_conn)
        assert queue.scheduled_job_registry.get_job_ids() == [delivery_job_id(sid)]

        delete_session(redis_conn, session_store(redis_conn, later), storage,
                       pipeline_queue(redis_conn, later), sid)
        assert not redis_conn.exists(keys.webhook_key(sid))
        assert redis_conn.zscore(keys.WEBHOOK_OUTBOX, sid) is None
        assert queue.scheduled_job_registry.get_job_ids() == []
        assert [k for k in redis_conn.keys(f"*{sid}*") if b"tomb" not in k] == []
        deliver(redis_conn, later)
        assert len(receiver.requests) == 1


def test_maintenance_queues_a_retry_once_its_delay_is_over(
        redis_conn: fakeredis.FakeRedis, hooks: Settings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    later = dataclasses.replace(hooks, webhook_retry_delays=(60,))
    monkeypatch.setattr(queues.delivery, "process_settings", lambda: later)
    with webhook_receiver(Script(statuses=[500, 204])) as receiver:
        sid = ended_session(redis_conn, later, receiver.url)
        deliver(redis_conn, later)
        assert enqueue_due_retries(redis_conn, later) == 0
        assert enqueue_due_retries(redis_conn, later, now=time.time() + 59) == 0  # not early
        assert enqueue_due_retries(redis_conn, later, now=time.time() + 62) == 1
        assert enqueue_due_retries(redis_conn, later, now=time.time() + 62) == 0  # once
        deliver(redis_conn, later)
        assert len(receiver.requests) == 2
    assert load_record(redis_conn, sid).state is DeliveryState.DELIVERED


def test_a_deleted_sessions_queued_delivery_sends_nothing(redis_conn: fakeredis.FakeRedis,
                                                          hooks: Settings) -> None:
    with webhook_receiver() as receiver:
        sid = ended_session(redis_conn, hooks, receiver.url)
        session_store(redis_conn, hooks).delete(sid)  # the job stays queued
        deliver(redis_conn, hooks)
        assert receiver.requests == []
    assert not redis_conn.exists(keys.webhook_key(sid))  # not recreated by the job


def test_a_lost_enqueue_is_made_good_by_maintenance(redis_conn: fakeredis.FakeRedis,
                                                    hooks: Settings) -> None:
    """The end is recorded atomically; if the process dies before enqueuing (a store
    without the hook stands for it), the maintenance round enqueues it, once."""
    without_hook = SessionStore(redis_conn, hooks.session_ttl, hooks.tombstone_ttl)
    with webhook_receiver() as receiver:
        sid = ended_session(redis_conn, hooks, receiver.url, store=without_hook)
        assert redis_conn.zscore(keys.WEBHOOK_OUTBOX, sid) is not None
        assert not Job.exists(delivery_job_id(sid), connection=redis_conn)
        assert enqueue_lost_deliveries(redis_conn, hooks) == 0  # not due yet
        due = time.time() + LOST_AFTER + 1
        assert enqueue_lost_deliveries(redis_conn, hooks, now=due) == 1
        assert enqueue_lost_deliveries(redis_conn, hooks, now=due + 120) == 0  # queued: alive
        assert Queue(hooks.webhook_queue, connection=redis_conn).count == 1
        deliver(redis_conn, hooks)
        assert len(receiver.requests) == 1
    assert redis_conn.zcard(keys.WEBHOOK_OUTBOX) == 0


def test_enqueuing_twice_queues_one_job(redis_conn: fakeredis.FakeRedis,
                                        hooks: Settings) -> None:
    with webhook_receiver() as receiver:
        sid = ended_session(redis_conn, hooks, receiver.url)  # enqueued by the store's hook
        assert not enqueue_delivery(redis_conn, hooks, sid)
        assert Queue(hooks.webhook_queue, connection=redis_conn).count == 1
        deliver(redis_conn, hooks)
        # a job enqueued again after delivery (a stale maintenance view) posts nothing
        Job.fetch(delivery_job_id(sid), connection=redis_conn).delete()
        assert enqueue_delivery(redis_conn, hooks, sid)
        deliver(redis_conn, hooks)
        assert len(receiver.requests) == 1


def test_sessions_without_callback_send_nothing(redis_conn: fakeredis.FakeRedis,
                                                hooks: Settings) -> None:
    store = session_store(redis_conn, hooks)
    sid = new_session_id()
    store.create(sid, new_session_hash("highlights", "{}", [("decode", 1.0)], time.time(),
                                       hooks.session_ttl))
    store.finish(sid, SessionStatus.COMPLETED, ["decode"])
    assert redis_conn.zcard(keys.WEBHOOK_OUTBOX) == 0
    assert Queue(hooks.webhook_queue, connection=redis_conn).count == 0


def test_a_real_session_posts_its_completion(redis_conn: fakeredis.FakeRedis, hooks: Settings,
                                             storage: Storage, small_video: Path,
                                             run_jobs: Callable[[], None]) -> None:
    with webhook_receiver(Script(statuses=[500, 200])) as receiver:
        sid = new_session_id()
        shutil.copyfile(small_video, storage.create(sid).path(SOURCE))
        submit_session(redis_conn, hooks, sid, hooks.analysis_options(analysis="workout"),
                       callback_url=receiver.url)
        run_jobs()
        assert session_store(redis_conn, hooks).get(sid).status is SessionStatus.COMPLETED  # type: ignore[union-attr]
        deliver(redis_conn, hooks)
        assert len(receiver.requests) == 2
        payload = Webhook(SECRET).verify(receiver.requests[-1].body, receiver.requests[-1].headers)
    assert payload["data"]["session_id"] == sid and payload["data"]["analysis"] == "workout"
    assert load_record(redis_conn, sid).state is DeliveryState.DELIVERED


def test_the_worker_takes_webhooks_first(redis_conn: fakeredis.FakeRedis,
                                         hooks: Settings) -> None:
    worker = build_worker(hooks, redis_conn)
    assert worker.queue_names() == [f"{hooks.queue_name}-webhooks", hooks.queue_name]
