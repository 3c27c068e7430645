"""rq-dashboard against a real redis-server: the pages a user clicks answer, chained jobs too."""

from __future__ import annotations

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
from flask.testing import FlaskClient
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq_dashboard.cli import make_flask_app  # type: ignore[import-untyped]
from rq_dashboard.web import setup_rq_connection  # type: ignore[import-untyped]

from queues.dashboard import DashboardSettings, as_job_id, create_dashboard_app
from queues.embedded import free_port

QUEUE = "pipeline"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


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
def dashboard(redis_server: str, real_redis: redis.Redis) -> Iterator[FlaskClient]:
    app = create_dashboard_app(redis_server)
    yield app.test_client()
    app.redis_conn.close()  # type: ignore[attr-defined]


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
    patched_app = create_dashboard_app(redis_server)
    assert patched_app.test_client().get(path).status_code == 200
    for app in (upstream_app, patched_app):
        app.redis_conn.close()


@pytest.mark.parametrize(("dependency_id", "job_id"), [
    ("abc-1", "abc-1"),  # rq >= 2.6
    (b"abc-1", "abc-1"),  # rq < 2.6
    (b"rq:job:abc-1", "abc-1"),  # older rq stored the job key
])
def test_as_job_id_accepts_str_and_bytes(dependency_id: str | bytes, job_id: str) -> None:
    assert as_job_id(dependency_id) == job_id


def test_settings_defaults_and_environment() -> None:
    assert DashboardSettings.from_env({}) == DashboardSettings(
        redis_url="redis://localhost:6379/0", host="0.0.0.0", port=9181)
    env = {"REDIS_URL": "redis://r:6380/2", "DASHBOARD_HOST": "127.0.0.1", "DASHBOARD_PORT": "80"}
    assert DashboardSettings.from_env(env) == DashboardSettings("redis://r:6380/2", "127.0.0.1", 80)
    for bad in ("web", "0", "70000"):
        with pytest.raises(ValueError, match="DASHBOARD_PORT"):
            DashboardSettings.from_env({"DASHBOARD_PORT": bad})


def test_dashboard_imports_neither_api_nor_stages() -> None:
    code = ("import sys, queues.dashboard; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('api', 'stages')))")
    run = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True,
                         text=True, check=True, timeout=60)
    assert run.stdout.strip() == "[]"


@pytest.mark.integration
def test_module_entry_serves_the_dashboard(redis_server: str, jobs: Jobs) -> None:
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "REDIS_URL": redis_server,
           "DASHBOARD_HOST": "127.0.0.1", "DASHBOARD_PORT": str(port)}
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
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.load(response)
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise
            time.sleep(0.1)
