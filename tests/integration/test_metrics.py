"""Metrics and logs of the real service: two `python -m queues.worker` processes and
hypercorn with METRICS_PORT and LOG_FORMAT=json. What each worker counted adds up in one
scrape of the web's metrics port, and every line of every process is one JSON object,
those of a stage's work with its session and stage.

A scrape taken while sessions run is saved as artifacts/metrics/scrape-during-run.txt."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from queues.embedded import free_port
from tests.integration.http import Client, running_service

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = 5  # a database of its own: the counters start at zero
SESSIONS = 6
ARTIFACTS = Path(os.environ.get("METRICS_ARTIFACTS") or ROOT / "artifacts" / "metrics")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class Stack:
    client: Client
    metrics_url: str
    logs: Path


@pytest.fixture(scope="module")
def stack(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    url = redis_server.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis.Redis.from_url(url).flushdb()
    logs = tmp_path_factory.mktemp("metrics-logs")
    metrics_port = free_port()
    env = {"REDIS_URL": url, "LOG_FORMAT": "json",
           "MEDIA_ROOT": str(tmp_path_factory.mktemp("metrics-media")),
           "ANALYSIS_LONG_SIDE": "96", "METRICS_PORT": str(metrics_port)}
    with running_service(env, logs, web_args=("--access-logfile", "-")) as running:
        yield Stack(running.client, f"http://127.0.0.1:{metrics_port}/metrics", logs)


def scrape(url: str) -> tuple[str, Samples]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return text, {(s.name, tuple(sorted(s.labels.items()))): s.value
                  for f in text_string_to_metric_families(text) for s in f.samples}


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(v for (n, ls), v in samples.items()
               if n == name and set(labels.items()) <= set(ls))


def json_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_two_workers_counts_add_up_in_one_scrape(stack: Stack, small_video: Path) -> None:
    _, workers_up = scrape(stack.metrics_url)
    deadline = time.monotonic() + 20
    while total(workers_up, "video_workers") < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        _, workers_up = scrape(stack.metrics_url)
    assert total(workers_up, "video_workers") == 2
    ids = []
    for _ in range(SESSIONS):
        reply = stack.client.upload("/api/v1/video/upload", small_video, analysis="workout")
        assert reply.status == 202, reply.body
        ids.append(reply.json()["session_id"])
    assert stack.client.wait(ids[0])[-1]["status"] == "completed"
    during, _ = scrape(stack.metrics_url)  # some sessions done, the others queued or running
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "scrape-during-run.txt").write_text(during)
    for session_id in ids:
        assert stack.client.wait(session_id)[-1]["status"] == "completed"

    text, samples = scrape(stack.metrics_url)
    (ARTIFACTS / "scrape-after-run.txt").write_text(text)
    assert total(samples, "video_sessions_created_total", analysis="workout") == SESSIONS
    assert total(samples, "video_sessions_completed_total", analysis="workout") == SESSIONS
    assert total(samples, "video_sessions_failed_total") == 0
    assert total(samples, "video_uploads_total", outcome="accepted") == SESSIONS
    assert total(samples, "video_upload_bytes_total") > SESSIONS * small_video.stat().st_size
    assert total(samples, "video_sessions") == 0  # none left unfinished
    assert total(samples, "video_queue_depth") == 0

    # What each worker did, from its own JSON log: both worked, and their stages add up.
    done: Counter[str] = Counter()
    for index in range(2):
        records = json_lines(stack.logs / f"worker{index}.log")  # every line is JSON
        stages = [r for r in records if r["logger"] == "queues.runner"
                  and " done in " in str(r["message"])]
        assert all(r["session_id"] in ids and r["stage"] for r in stages)
        done[f"worker{index}"] = len(stages)
        for stage in ("decode", "score", "workout"):
            done[stage] += sum(1 for r in stages if r["stage"] == stage)
    assert done["worker0"] > 0 and done["worker1"] > 0, done
    assert done["worker0"] + done["worker1"] == 3 * SESSIONS
    for stage in ("decode", "score", "workout"):
        assert total(samples, "video_stage_duration_seconds_count", stage=stage) == \
            done[stage] == SESSIONS
        assert total(samples, "video_stage_duration_seconds_bucket", stage=stage,
                     le="+Inf") == SESSIONS


def test_every_web_line_is_json_and_an_upload_carries_its_session(stack: Stack,
                                                                  small_video: Path) -> None:
    reply = stack.client.upload("/api/v1/video/upload", b"not a video" * 50)
    assert reply.status in (415, 422)
    time.sleep(0.5)  # the access log line is written after the answer
    records = json_lines(stack.logs / "web.log")
    assert any(r["logger"] == "hypercorn.access" and "POST /api/v1/video/upload" in
               str(r["message"]) for r in records)
    assert any(r["logger"] == "api.metrics_server" for r in records)
    uploads = [r for r in records if r["logger"] == "api.intake"]
    assert uploads and all(r.get("session_id") for r in uploads)
    assert any("not accepted" in str(r["message"]) for r in uploads)
