"""rq-dashboard against a real redis-server: the pages a user clicks answer, chained jobs too,
only after a login, and nothing changes on a request from another site."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq_dashboard.cli import make_flask_app  # type: ignore[import-untyped]
from rq_dashboard.web import setup_rq_connection  # type: ignore[import-untyped]

from queues.dashboard import (
    DashboardSettings,
    DashboardSettingsError,
    as_job_id,
    create_dashboard_app,
)
from queues.embedded import free_port

QUEUE = "pipeline"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "operator", "correct horse battery"
SAME_ORIGIN = "http://localhost"  # Flask's test client sends Host: localhost


def basic_auth(user: str = USER, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def add(a: int, b: int) -> int:
    return a + b


def explode() -> None:
    raise RuntimeError("stage exploded")


@dataclass(frozen=True)
class Jobs:
    """One job per state a user finds in the dashboard, named after its registry."""

    finished: Job  # ran by the burst worker
    failed: Job  # ran by the burst worker, raised
    queued: Job  # depends on `finished`, so it was enqueued when that one finished
    deferred: Job  # depends on `queued`, still waiting


@pytest.fixture
def jobs(real_redis: redis.Redis) -> Jobs:
    queue = Queue(QUEUE, connection=real_redis)
    first = queue.enqueue(add, 1, 2)
    failing = queue.enqueue(explode)
    second = queue.enqueue(add, 3, 4, depends_on=first)
    third = queue.enqueue(add, 5, 6, depends_on=second)
    assert second.get_status() == JobStatus.DEFERRED
    SimpleWorker([queue], connection=real_redis).work(
        burst=True, max_jobs=2, logging_level="WARNING")
    made = Jobs(finished=first, failed=failing, queued=second, deferred=third)
    for state in ("finished", "failed", "queued", "deferred"):
        assert getattr(made, state).get_status() == state
    return made


@pytest.fixture
def dashboard_app(redis_server: str, real_redis: redis.Redis) -> Iterator[Flask]:
    app = create_dashboard_app(DashboardSettings(redis_url=redis_server, password=PASSWORD))
    yield app
    app.redis_conn.close()  # type: ignore[attr-defined]


@pytest.fixture
def dashboard(dashboard_app: Flask) -> FlaskClient:
    """A client logged in with the right credentials (on every request it sends)."""
    client = dashboard_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = basic_auth()
    return client


def get_json(client: FlaskClient, path: str) -> dict:
    response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_queues_json_counts_the_pipeline_registries(dashboard: FlaskClient, jobs: Jobs) -> None:
    queues = {q["name"]: q for q in get_json(dashboard, "/0/data/queues.json")["queues"]}
    assert queues[QUEUE]["count"] == 1
    assert queues[QUEUE]["deferred_job_registry_count"] == 1
    assert queues[QUEUE]["finished_job_registry_count"] == 1
    assert queues[QUEUE]["failed_job_registry_count"] == 1


@pytest.mark.parametrize("registry", ["queued", "deferred", "finished", "failed"])
@pytest.mark.parametrize("order", ["asc", "dsc"])
def test_registry_lists_its_job(
        dashboard: FlaskClient, jobs: Jobs, registry: str, order: str) -> None:
    body = get_json(dashboard, f"/0/data/jobs/{QUEUE}/{registry}/8/{order}/1.json")
    assert [job["id"] for job in body["jobs"]] == [getattr(jobs, registry).id]


@pytest.mark.parametrize(("state", "parent"), [("deferred", "queued"), ("queued", "finished")])
def test_chained_job_json_lists_its_dependency(
        dashboard: FlaskClient, jobs: Jobs, state: str, parent: str) -> None:
    body = get_json(dashboard, f"/0/data/job/{getattr(jobs, state).id}.json")
    assert body["status"] == state
    assert body["depends_on"] == [getattr(jobs, parent).id]
    assert body["depends_on_status"] == ["active"]


def test_dependency_whose_job_is_gone_shows_expired(dashboard: FlaskClient, jobs: Jobs) -> None:
    jobs.finished.delete()
    body = get_json(dashboard, f"/0/data/job/{jobs.queued.id}.json")
    assert body["depends_on"] == [jobs.finished.id]
    assert body["depends_on_status"] == ["expired"]


def test_finished_job_json_shows_its_result(dashboard: FlaskClient, jobs: Jobs) -> None:
    body = get_json(dashboard, f"/0/data/job/{jobs.finished.id}.json")
    assert (body["status"], body["result"], body["origin"]) == ("finished", 3, QUEUE)
    assert "depends_on" not in body


def test_failed_job_json_shows_its_traceback(dashboard: FlaskClient, jobs: Jobs) -> None:
    body = get_json(dashboard, f"/0/data/job/{jobs.failed.id}.json")
    assert body["status"] == "failed"
    assert "RuntimeError: stage exploded" in body["exc_info"]


@pytest.mark.parametrize("path", [
    "/",
    "/0/view/workers",
    "/0/data/workers.json",
    "/0/view/jobs/pipeline/deferred/8/asc/1",
    "/0/view/job/{deferred}",
    "/0/view/job/{finished}",
    "/0/view/job/{failed}",
    "/static/css/main.css",
])
def test_page_answers(dashboard: FlaskClient, jobs: Jobs, path: str) -> None:
    ids = {state: getattr(jobs, state).id for state in ("deferred", "finished", "failed")}
    response = dashboard.get(path.format(**ids))
    assert response.status_code == 200
    response.close()


def test_upstream_job_info_still_breaks_on_chained_jobs(
        redis_server: str, jobs: Jobs, caplog: pytest.LogCaptureFixture) -> None:
    """rq-dashboard as installed, without our shim, in this same process: the chained job's
    JSON answers 500 from ``.decode()`` on a str id. If this fails, upstream has fixed it:
    delete the shim in queues/dashboard.py (and this test)."""
    upstream_app = make_flask_app(None, None, None, "")
    upstream_app.config["RQ_DASHBOARD_REDIS_URL"] = redis_server
    setup_rq_connection(upstream_app)
    path = f"/0/data/job/{jobs.deferred.id}.json"

    assert upstream_app.test_client().get(path).status_code == 500
    [error] = [record.exc_info for record in caplog.records if record.exc_info]
    assert error[0] is AttributeError and "decode" in str(error[1])
    patched_app = create_dashboard_app(DashboardSettings(redis_url=redis_server,
                                                         password=PASSWORD))
    response = patched_app.test_client().get(path, headers={"Authorization": basic_auth()})
    assert response.status_code == 200
    for app in (upstream_app, patched_app):
        app.redis_conn.close()


@pytest.mark.parametrize(("dependency_id", "job_id"), [
    ("abc-1", "abc-1"),  # rq >= 2.6
    (b"abc-1", "abc-1"),  # rq < 2.6
    (b"rq:job:abc-1", "abc-1"),  # older rq stored the job key
])
def test_as_job_id_accepts_str_and_bytes(dependency_id: str | bytes, job_id: str) -> None:
    assert as_job_id(dependency_id) == job_id


def test_settings_default_to_loopback_and_read_the_environment() -> None:
    assert DashboardSettings.from_env({"DASHBOARD_PASSWORD": PASSWORD}) == DashboardSettings(
        redis_url="redis://localhost:6379/0", host="127.0.0.1", port=9181,
        user="operator", password=PASSWORD)
    env = {"REDIS_URL": "redis://r:6380/2", "DASHBOARD_HOST": "10.0.0.5", "DASHBOARD_PORT": "80",
           "DASHBOARD_USER": "ops", "DASHBOARD_PASSWORD": PASSWORD}
    assert DashboardSettings.from_env(env) == DashboardSettings(
        "redis://r:6380/2", "10.0.0.5", 80, "ops", PASSWORD)
    for bad in ("web", "0", "70000"):
        with pytest.raises(ValueError, match="DASHBOARD_PORT"):
            DashboardSettings.from_env({"DASHBOARD_PORT": bad, "DASHBOARD_PASSWORD": PASSWORD})
    assert PASSWORD not in repr(DashboardSettings.from_env({"DASHBOARD_PASSWORD": PASSWORD}))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "127.0.0.1"])
def test_refuses_to_start_without_a_password(host: str) -> None:
    """Loopback too: it is shared by every local process, and DNS rebinding reaches it."""
    with pytest.raises(DashboardSettingsError, match=f"DASHBOARD_PASSWORD is not set.*{host}"):
        DashboardSettings.from_env({"DASHBOARD_HOST": host})


@pytest.mark.parametrize(("env", "complaint"), [
    ({"DASHBOARD_PASSWORD": "short"}, "DASHBOARD_PASSWORD is shorter than 12"),
    ({"DASHBOARD_PASSWORD": PASSWORD, "DASHBOARD_USER": "a:b"}, "DASHBOARD_USER")])
def test_refuses_weak_or_unusable_credentials(env: dict[str, str], complaint: str) -> None:
    with pytest.raises(DashboardSettingsError, match=complaint):
        DashboardSettings.from_env(env)


def test_module_entry_exits_with_the_reason_when_unconfigured() -> None:
    env = {"PATH": "/usr/bin:/bin", "DASHBOARD_HOST": "0.0.0.0"}
    run = subprocess.run([sys.executable, "-m", "queues.dashboard"], cwd=PROJECT_ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "DASHBOARD_PASSWORD is not set" in run.stderr


@pytest.mark.parametrize("path", ["/", "/0/data/queues.json", "/static/css/main.css"])
@pytest.mark.parametrize("authorization", ["", basic_auth(password="wrong password!")],
                         ids=["no-login", "wrong-password"])
def test_every_page_needs_the_login(dashboard_app: Flask, path: str, authorization: str) -> None:
    response = dashboard_app.test_client().get(path, headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="rq-dashboard"'


def test_right_login_gets_the_page(dashboard: FlaskClient) -> None:
    response = dashboard.get("/")
    assert response.status_code == 200
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(("headers", "status"), [
    ({"Origin": "https://evil.example"}, 403), ({"Referer": "https://evil.example/"}, 403),
    ({}, 403), ({"Origin": SAME_ORIGIN}, 200),
], ids=["other-origin", "other-referer", "neither", "same-origin"])
def test_delete_only_from_the_dashboards_own_pages(dashboard: FlaskClient, jobs: Jobs,
                                                    real_redis: redis.Redis, headers: dict,
                                                    status: int) -> None:
    """Logged in every time: browsers send basic-auth credentials on cross-site posts too."""
    assert dashboard.post(f"/job/{jobs.failed.id}/delete", headers=headers).status_code == status
    assert Job.exists(jobs.failed.id, connection=real_redis) is (status == 403)


@pytest.mark.parametrize(("headers", "status", "requeued"), [
    ({"Sec-Fetch-Site": "cross-site"}, 403, False),  # a cross-site link or <img>
    ({"Referer": f"{SAME_ORIGIN}/"}, 200, True),
], ids=["cross-site", "same-origin"])
def test_requeue_all_by_get_is_guarded_too(dashboard: FlaskClient, jobs: Jobs, headers: dict,
                                           status: int, requeued: bool) -> None:
    """rq-dashboard 0.9.0 requeues every failed job on a GET as well as on a POST."""
    assert dashboard.get(f"/requeue/{QUEUE}", headers=headers).status_code == status
    assert (jobs.failed.get_status() == JobStatus.QUEUED) is requeued


def test_dashboard_imports_neither_api_nor_stages() -> None:
    code = ("import sys, queues.dashboard; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('api', 'stages')))")
    run = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True,
                         text=True, check=True, timeout=60)
    assert run.stdout.strip() == "[]"


@pytest.mark.integration
def test_module_entry_serves_the_dashboard(redis_server: str, jobs: Jobs) -> None:
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "REDIS_URL": redis_server, "DASHBOARD_HOST": "127.0.0.1",
           "DASHBOARD_PORT": str(port), "DASHBOARD_PASSWORD": PASSWORD}
    server = subprocess.Popen([sys.executable, "-m", "queues.dashboard"], cwd=PROJECT_ROOT,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        body = fetch_json_when_up(f"http://127.0.0.1:{port}/0/data/job/{jobs.deferred.id}.json",
                                  server)
        assert body["depends_on"] == [jobs.queued.id]
    finally:
        server.terminate()
        server.wait(10)


def fetch_json_when_up(url: str, server: subprocess.Popen, wait: float = 15.0) -> dict:
    deadline = time.monotonic() + wait
    request = urllib.request.Request(url, headers={"Authorization": basic_auth()})
    while True:
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.load(response)
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise
            time.sleep(0.1)
