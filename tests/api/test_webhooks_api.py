"""callback_url at upload (checked, refused with 400) and GET /api/v1/video/webhooks/<id>."""

from __future__ import annotations

import base64
import dataclasses
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from quart import Quart
from quart.testing import QuartClient
from rq import Queue, SimpleWorker
from standardwebhooks import Webhook

import queues.delivery
import queues.destinations
from api.callbacks import callback_url
from api.routes.video import results_url, status_url
from queues import keys
from queues.session import F_CALLBACK
from queues.settings import Settings
from queues.webhooks import delivery_job_id, event_body
from tests.api.conftest import upload
from tests.receiver import Script, webhook_receiver

SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
API = "/api/v1/video"
DNS = {"hooks.example": ["93.184.215.14"], "intranet.example": ["10.1.2.3"],
       "metadata.example": ["169.254.169.254"]}


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Names other than localhost resolve from a table: the tests send no DNS query."""
    real = queues.destinations.resolve

    def resolve(host: str, port: int) -> list[str]:
        if host in DNS:
            return DNS[host]
        if host == "localhost" or host[0].isdigit() or ":" in host:  # /etc/hosts, literals
            return real(host, port)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(queues.destinations, "resolve", resolve)


HOOKS = dict(webhook_secret=SECRET, webhook_timeout=2.0, webhook_allow_private=True,
             webhook_retry_delays=(0, 0))  # immediate retries: one burst runs them all


@pytest.fixture
def hooked(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    configured = dataclasses.replace(settings, **HOOKS)  # type: ignore[arg-type]
    monkeypatch.setattr(queues.delivery, "process_settings", lambda: configured)
    return configured


async def app_with(make_app: Callable[..., Quart], **overrides: Any) -> AsyncIterator[Quart]:
    app = make_app(**{**HOOKS, **overrides})
    async with app.test_app():
        yield app


@pytest.fixture
async def hook_client(make_app: Callable[..., Quart],
                      hooked: Settings) -> AsyncIterator[QuartClient]:
    async for app in app_with(make_app):
        yield app.test_client()


def deliver(sync_client: fakeredis.FakeRedis, settings: Settings) -> None:
    SimpleWorker([Queue(settings.webhook_queue, connection=sync_client)],
                 connection=sync_client).work(burst=True)


def problem_of(reply_json: dict[str, Any], status: int, code: str) -> str:
    assert reply_json["status"] == status and reply_json["code"] == code, reply_json
    return str(reply_json["detail"])


async def test_fails_twice_then_delivered_three_attempts_visible(
        hook_client: QuartClient, hooked: Settings, small_video: Path,
        sync_client: fakeredis.FakeRedis, run_jobs: Callable[[], None]) -> None:
    with webhook_receiver(Script(statuses=[500, 502, 200])) as receiver:
        reply = await upload(hook_client, small_video, callback_url=receiver.url,
                             analysis="workout")
        assert reply.status_code == 202, await reply.get_data()
        sid = (await reply.get_json())["session_id"]
        assert sync_client.hget(keys.session_key(sid), F_CALLBACK) == receiver.url.encode()
        before = await hook_client.get(f"{API}/webhooks/{sid}")
        assert (await before.get_json()) == {"session_id": sid, "deliveries": []}
        run_jobs()
        deliver(sync_client, hooked)
        assert len(receiver.requests) == 3
        Webhook(SECRET).verify(receiver.requests[-1].body, receiver.requests[-1].headers)
    reply = await hook_client.get(f"{API}/webhooks/{sid}")
    assert reply.status_code == 200
    (delivery,) = (await reply.get_json())["deliveries"]
    assert delivery["webhook_id"] == f"msg_{sid}_completed"
    assert delivery["type"] == "session.completed" and delivery["url"] == receiver.url
    assert delivery["status"] == "delivered" and delivery["next_attempt_at"] is None
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 502, 200]
    for attempt in delivery["attempts"]:
        assert attempt["at"].endswith("Z") and attempt["error"] is None
        assert isinstance(attempt["duration_ms"], float | int)


@pytest.mark.parametrize("url, why", [
    ("http://127.0.0.1:9/hook", "loopback"),
    ("http://localhost/hook", "loopback"),
    ("http://10.0.0.8/hook", "private"),
    ("http://intranet.example/hook", "10.1.2.3, a private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://metadata.example/", "link-local"),
    ("http://[::1]:8080/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("ftp://hooks.example/hook", "http:// or https://"),
    ("http://user:pass@hooks.example/hook", "user name or password"),
    ("https://nowhere.invalid/hook", "could not be resolved"),
    ("hooks.example/hook", "http:// or https://"),
])
async def test_refused_callbacks_get_400_and_keep_nothing(
        make_app: Callable[..., Quart], hooked: Settings, small_video: Path,
        sync_client: fakeredis.FakeRedis, url: str, why: str) -> None:
    async for app in app_with(make_app, webhook_allow_private=False):
        reply = await upload(app.test_client(), small_video, callback_url=url)
        assert reply.status_code == 400
        assert reply.content_type.startswith("application/problem+json")
        assert why in problem_of(await reply.get_json(), 400, "callback_url_refused")
    assert sync_client.keys(f"{keys.PREFIX}:session:*") == []
    assert list((hooked.media_root / "sessions").glob("*")) == []


async def test_a_public_callback_is_accepted(hook_client: QuartClient, small_video: Path,
                                             sync_client: fakeredis.FakeRedis) -> None:
    reply = await upload(hook_client, small_video, callback_url="https://hooks.example/h?a=1")
    assert reply.status_code == 202
    sid = (await reply.get_json())["session_id"]
    assert sync_client.hget(keys.session_key(sid), F_CALLBACK) == b"https://hooks.example/h?a=1"


async def test_a_callback_without_a_secret_is_refused(client: QuartClient,
                                                      small_video: Path) -> None:
    reply = await upload(client, small_video, callback_url="https://hooks.example/h")
    assert reply.status_code == 400
    problem_of(await reply.get_json(), 400, "webhooks_disabled")
    assert (await upload(client, small_video)).status_code == 202  # without one: fine


async def test_webhook_url_is_the_default(make_app: Callable[..., Quart], hooked: Settings,
                                          small_video: Path,
                                          sync_client: fakeredis.FakeRedis) -> None:
    async for app in app_with(make_app, webhook_url="https://hooks.example/default"):
        client = app.test_client()
        own = await (await upload(client, small_video,
                                  callback_url="https://hooks.example/mine")).get_json()
        plain = await (await upload(client, small_video)).get_json()
    assert sync_client.hget(keys.session_key(own["session_id"]), F_CALLBACK) == \
        b"https://hooks.example/mine"
    assert sync_client.hget(keys.session_key(plain["session_id"]), F_CALLBACK) == \
        b"https://hooks.example/default"


def test_the_legacy_routes_take_no_callback(hooked: Settings) -> None:
    fields = {"callback_url": "ftp://ignored"}
    assert callback_url(fields, hooked, "highlights") == ""
    assert callback_url({}, dataclasses.replace(hooked, webhook_url="https://h.example/"),
                        "workout") == ""


async def test_unknown_and_deleted_sessions(hook_client: QuartClient, hooked: Settings,
                                            small_video: Path, sync_client: fakeredis.FakeRedis,
                                            run_jobs: Callable[[], None],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Cleanup answers 410 after, removes the record and stops a pending retry."""
    reply = await hook_client.get(f"{API}/webhooks/{'x' * 32}")
    assert reply.status_code == 404
    later = dataclasses.replace(hooked, webhook_retry_delays=(3600,))
    monkeypatch.setattr(queues.delivery, "process_settings", lambda: later)
    with webhook_receiver(Script(statuses=[503])) as receiver:
        sid = (await (await upload(hook_client, small_video, callback_url=receiver.url,
                                   analysis="workout")).get_json())["session_id"]
        run_jobs()
        deliver(sync_client, later)
        (delivery,) = (await (await hook_client.get(f"{API}/webhooks/{sid}")).get_json())[
            "deliveries"]
        assert delivery["status"] == "pending" and delivery["next_attempt_at"] is not None
        assert [a["status_code"] for a in delivery["attempts"]] == [503]
        queue = Queue(later.webhook_queue, connection=sync_client)
        assert queue.scheduled_job_registry.get_job_ids() == [delivery_job_id(sid)]
        assert (await hook_client.delete(f"{API}/cleanup/{sid}")).status_code in (200, 204)
        reply = await hook_client.get(f"{API}/webhooks/{sid}")
        assert reply.status_code == 410
        assert not sync_client.exists(keys.webhook_key(sid))
        assert sync_client.zscore(keys.WEBHOOK_OUTBOX, sid) is None
        assert queue.scheduled_job_registry.get_job_ids() == []
        assert len(receiver.requests) == 1


def test_event_urls_are_the_apis() -> None:
    from queues.session import Session, SessionStatus
    session = Session("abc", SessionStatus.COMPLETED, "all", "{}", (), {}, None, False,
                      0.0, 1.0, 2.0)
    data = event_body(session)["data"]
    assert data["status_url"] == status_url("abc") and data["results_url"] == results_url("abc")
