"""Webhooks through real processes: a session with a callback_url completes, its worker's
webhook job posts session.completed signed to a receiver on 127.0.0.1, which fails twice;
the workers' maintenance thread brings the retries back; the third attempt is delivered."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from tests.integration.conftest import WEBHOOK_RETRY_DELAYS, WEBHOOK_SECRET, Service
from tests.receiver import Received, Script, webhook_receiver

API = "/api/v1/video"


@pytest.fixture(scope="module")
def clip(video_factory: Callable[..., Path]) -> Path:
    return video_factory("int-webhook", seconds=4, size="320x240", fps=25)


def ended_at(service: Service, sid: str) -> float:
    """When the session ended (its status body's updated_at, set by the finish)."""
    body = service.client.get(f"{API}/status/{sid}").json()
    return datetime.fromisoformat(body["updated_at"].replace("Z", "+00:00")).timestamp()


def run_session(service: Service, clip: Path, receiver_url: str) -> str:
    reply = service.client.upload(f"{API}/upload", clip, analysis="workout",
                                  callback_url=receiver_url)
    assert reply.status == 202, reply.body
    sid: str = reply.json()["session_id"]
    assert service.client.wait(sid)[-1]["status"] == "completed"
    return sid


def wait_delivered(service: Service, sid: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (delivery,) = service.client.get(f"{API}/webhooks/{sid}").json()["deliveries"]
        if delivery["status"] != "pending":
            return delivery
        time.sleep(0.05)
    raise AssertionError(f"webhook of {sid} still pending after {timeout}s: {delivery}")


def verify(requests: list[Received], sid: str) -> dict:
    assert {r.headers["webhook-id"] for r in requests} == {f"msg_{sid}_completed"}
    payloads = [Webhook(WEBHOOK_SECRET).verify(r.body, r.headers) for r in requests]
    assert all(p == payloads[0] for p in payloads)
    return payloads[-1]


def test_a_receiver_failing_twice_gets_the_signed_event_on_the_third_try(
        service: Service, clip: Path) -> None:
    with webhook_receiver(Script(statuses=[500, 500, 204])) as receiver:
        sid = run_session(service, clip, receiver.url)
        end = ended_at(service, sid)
        requests = receiver.wait_for(3, timeout=30)
        delivery = wait_delivered(service, sid, timeout=5)
        time.sleep(1.5)  # no fourth attempt comes
        assert len(receiver.requests) == 3
    payload = verify(requests, sid)
    assert payload["type"] == "session.completed"
    assert payload["data"]["session_id"] == sid and payload["data"]["status"] == "completed"
    assert payload["data"]["error"] is None
    assert delivery["status"] == "delivered"
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 204]
    gaps = [b.at - a.at for a, b in zip(requests, requests[1:], strict=False)]
    for gap, delay in zip(gaps, WEBHOOK_RETRY_DELAYS, strict=True):
        # whole seconds in RQ's registry, then the maintenance round (every 2.5 s) queues it
        assert delay <= gap <= delay + 1 + 2.5 + 1
    print(f"\nwebhook, receiver failing twice (retry delays {WEBHOOK_RETRY_DELAYS} s): "
          f"first attempt {requests[0].at - end:.3f} s after the end, "
          f"gaps {', '.join(f'{g:.2f}' for g in gaps)} s, "
          f"delivered {requests[-1].at - end:.3f} s after the end")


def test_delivery_time_when_the_receiver_answers(service: Service, clip: Path) -> None:
    latencies = []
    with webhook_receiver() as receiver:
        for n in range(3):
            sid = run_session(service, clip, receiver.url)
            end = ended_at(service, sid)
            (request,) = receiver.wait_for(n + 1, timeout=10)[n:]
            verify([request], sid)
            latencies.append(request.at - end)
            assert wait_delivered(service, sid, timeout=5)["status"] == "delivered"
    assert max(latencies) < 2.0
    print(f"\nwebhook, receiver answering 204: end -> delivered "
          f"{', '.join(f'{x * 1000:.0f}' for x in latencies)} ms")


def test_cleanup_stops_a_pending_retry(service: Service, clip: Path) -> None:
    with webhook_receiver(Script(statuses=[503])) as receiver:
        sid = run_session(service, clip, receiver.url)
        receiver.wait_for(1, timeout=10)
        time.sleep(0.3)  # the attempt is recorded and its retry scheduled
        (delivery,) = service.client.get(f"{API}/webhooks/{sid}").json()["deliveries"]
        assert delivery["status"] == "pending" and delivery["next_attempt_at"]
        assert service.client.delete(f"{API}/cleanup/{sid}").status in (200, 204)
        assert service.client.get(f"{API}/webhooks/{sid}").status == 410
        time.sleep(WEBHOOK_RETRY_DELAYS[0] + 1 + 2.5 + 1)  # past when the retry would come
        assert len(receiver.requests) == 1
    deadline = time.monotonic() + 10  # RQ's records are purged once more after a deletion
    while leftovers := [k for k in service.redis.keys(f"*{sid}*") if b"tomb" not in k]:
        assert time.monotonic() < deadline, leftovers
        time.sleep(0.2)
