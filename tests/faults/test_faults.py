"""Restarts, crashes and Redis outages, as a platform causes them: every session completes
(or fails for a true reason), and nothing is left waiting forever."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from tests.faults.conftest import (
    API,
    Cluster,
    horse_of,
    running_worker,
    tree,
    with_signal,
)

Record = Callable[..., None]


def attempts(body: dict, stage: str) -> int:
    return next(int(s["attempts"]) for s in body["stages"] if s["name"] == stage)


def assert_progress_never_fell(seen: list[dict]) -> None:
    progress = [b["progress"] for b in seen]
    assert progress == sorted(progress), progress


def signal_tree(worker: subprocess.Popen[bytes], sig: int) -> int:
    """Send ``sig`` to the worker and every process under it at once; how many got it."""
    procs = tree(worker.pid)
    for proc in procs:
        with_signal(proc, sig)
    return len(procs)


@pytest.mark.parametrize("stage", ["decode", "render"])
def test_sigterm_to_the_whole_tree_hands_the_stage_back(
        cluster: Cluster, fault_clip: Path, record: Record, stage: str) -> None:
    worker = cluster.start_worker()
    sid = cluster.upload(fault_clip, analysis="highlights")
    cluster.wait_for_stage(sid, stage)
    fault = time.monotonic()
    assert signal_tree(worker, signal.SIGTERM) >= 2  # the worker, its horse (and ffmpeg)
    assert worker.wait(30) == 0
    exited = time.monotonic() - fault
    assert exited <= 5, cluster.log("worker0")
    handed_back = cluster.status(sid)
    assert handed_back["status"] == "processing"
    assert {s["name"]: s["status"] for s in handed_back["stages"]}[stage] == "pending"
    cluster.start_worker()  # the platform starts a fresh one
    final, seen = cluster.wait_end(sid)
    assert final["status"] == "completed", final
    assert_progress_never_fell(seen)
    assert attempts(final, stage) == 2 and attempts(final, "decode") <= 2
    if stage == "render":
        assert attempts(final, "decode") == 1  # a finished stage is not run again
    reel = cluster.client.get(f"{API}/results/{sid}/reel.mp4")
    assert reel.status == 200 and len(reel.body) > 1000
    record(f"SIGTERM to worker tree mid-{stage}", final["status"], time.monotonic() - fault,
           attempts(final, stage), f"old worker exited in {exited:.1f} s")


def test_sigterm_to_the_worker_alone(cluster: Cluster, fault_clip: Path,
                                     record: Record) -> None:
    worker = cluster.start_worker()
    sid = cluster.upload(fault_clip, render="false")
    cluster.wait_for_stage(sid, "decode")
    fault = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    exited = time.monotonic() - fault
    assert exited <= 5
    cluster.start_worker()
    final, seen = cluster.wait_end(sid)
    assert final["status"] == "completed", final
    assert_progress_never_fell(seen)
    record("SIGTERM to the worker process alone", final["status"], time.monotonic() - fault,
           attempts(final, "decode"), f"old worker exited in {exited:.1f} s")


def test_sigkill_to_the_whole_tree_then_a_fresh_worker(cluster: Cluster, fault_clip: Path,
                                                       record: Record) -> None:
    worker = cluster.start_worker()
    sid = cluster.upload(fault_clip, render="false")
    cluster.wait_for_stage(sid, "decode")
    fault = time.monotonic()
    signal_tree(worker, signal.SIGKILL)
    worker.wait(10)
    cluster.start_worker()
    # detected as abandoned (lease) and requeued within 15 s
    deadline = fault + 15
    while time.monotonic() < deadline:
        body = cluster.status(sid)
        if attempts(body, "decode") >= 2:
            break
        time.sleep(0.1)
    detected = time.monotonic() - fault
    assert detected < 15, cluster.status(sid)
    final, seen = cluster.wait_end(sid)
    assert final["status"] == "completed", final
    assert_progress_never_fell(seen)
    record("SIGKILL to worker tree, fresh worker", final["status"], time.monotonic() - fault,
           attempts(final, "decode"), f"restarted after {detected:.1f} s")


def test_sigkill_of_the_work_horse_alone(cluster: Cluster, fault_clip: Path,
                                         record: Record) -> None:
    cluster.start_worker()
    sid = cluster.upload(fault_clip, render="false")
    cluster.wait_for_stage(sid, "decode")
    horse = horse_of(running_worker(cluster))
    fault = time.monotonic()
    horse.kill()  # what the OOM killer does
    final, seen = cluster.wait_end(sid)
    assert final["status"] == "completed", final
    assert attempts(final, "decode") == 2
    record("SIGKILL of the work horse alone", final["status"], time.monotonic() - fault,
           attempts(final, "decode"))


def test_a_video_that_kills_every_attempt_fails_with_a_true_error(
        cluster: Cluster, fault_clip: Path, record: Record) -> None:
    cluster.start_worker()
    sid = cluster.upload(fault_clip, render="false")
    started = time.monotonic()
    fault = 0.0
    killed = 0
    while True:
        body = cluster.status(sid)
        if body["status"] not in ("queued", "processing"):
            break
        decode = next(s for s in body["stages"] if s["name"] == "decode")
        if decode["status"] == "running" and decode["attempts"] > killed:
            horse_of(running_worker(cluster)).kill()  # dies every time, like a memory hog
            fault = fault or time.monotonic()
            killed += 1
        assert time.monotonic() - started < 90, body
        time.sleep(0.05)
    final = cluster.status(sid)
    assert final["status"] == "failed", final
    assert final["error"]["code"] == "worker_lost"
    assert "3 time(s)" in final["error"]["detail"]
    assert killed == attempts(final, "decode") == 3
    ended = time.monotonic() - fault
    time.sleep(3)  # and nothing runs it again
    assert cluster.status(sid)["status"] == "failed"
    record("poison video: horse killed every attempt", final["status"], ended,
           attempts(final, "decode"), "worker_lost after 3 attempts")


def test_redis_paused_for_5_s_mid_stage(cluster: Cluster, fault_clip: Path,
                                        record: Record) -> None:
    cluster.start_worker()
    sid = cluster.upload(fault_clip, render="false")
    cluster.wait_for_stage(sid, "decode")
    redis_proc = psutil.Process(cluster.redis_server.proc.pid)  # type: ignore[union-attr]
    fault = time.monotonic()
    redis_proc.suspend()
    try:
        answers = []
        for path in (f"{API}/status/{sid}", f"{API}/results/{sid}", "/readyz"):
            started = time.monotonic()
            reply = cluster.client.get(path, timeout=5)
            answers.append((path, reply.status, time.monotonic() - started))
            assert reply.status == 503, (path, reply.body)
            assert reply.headers.get("retry-after"), path
            assert reply.content_type.startswith("application/problem+json")
        started = time.monotonic()
        upload = cluster.client.upload(f"{API}/upload", fault_clip)
        answers.append(("upload", upload.status, time.monotonic() - started))
        assert upload.status == 503
        healthz = cluster.client.get("/healthz", timeout=5)
        assert healthz.status == 200
        slowest = max(seconds for _, _, seconds in answers[:3])
        assert slowest < 1.0, answers
        time.sleep(max(0.0, 5 - (time.monotonic() - fault)))
    finally:
        redis_proc.resume()
    final, _ = cluster.wait_end(sid)
    assert final["status"] == "completed", final
    sessions = cluster.media_sessions()
    assert sessions == {sid}, sessions  # the upload refused meanwhile kept no file
    record("Redis SIGSTOP 5 s mid-decode", final["status"], time.monotonic() - fault,
           attempts(final, "decode"), f"API answered 503 in <= {slowest * 1000:.0f} ms")


def test_redis_restarted_with_its_data_mid_stage(cluster: Cluster, fault_clip: Path,
                                                 record: Record) -> None:
    cluster.start_worker()
    sid = cluster.upload(fault_clip, render="false")
    cluster.wait_for_stage(sid, "decode")
    fault = time.monotonic()
    cluster.redis_server.stop()  # SIGTERM: AOF is fsynced on every write
    time.sleep(2)
    cluster.redis_server.start()
    final, _ = cluster.wait_end(sid)
    assert final["status"] == "completed", (final, cluster.log("worker0")[-3000:])
    assert all(w.poll() is None for w in cluster.workers)  # no crash loop
    record("Redis restarted (AOF) mid-decode", final["status"], time.monotonic() - fault,
           attempts(final, "decode"))


@pytest.mark.parametrize("action", ["cancel", "delete"])
def test_cancel_or_delete_while_a_stage_waits_for_its_retry(
        cluster: Cluster, fault_clip: Path, record: Record, action: str) -> None:
    worker = cluster.start_worker()
    sid = cluster.upload(fault_clip, render="false")
    cluster.wait_for_stage(sid, "decode")
    signal_tree(worker, signal.SIGTERM)  # a deploy: handed back, no worker to retry it yet
    assert worker.wait(30) == 0
    waiting = cluster.status(sid)
    assert {s["name"]: s["status"] for s in waiting["stages"]}["decode"] == "pending"
    fault = time.monotonic()
    if action == "cancel":
        reply = cluster.client.post(f"{API}/cancel/{sid}")
        assert reply.status in (200, 202), reply.body
        final, _ = cluster.wait_end(sid, timeout=10)
        assert final["status"] == "cancelled", final
    else:
        reply = cluster.client.delete(f"{API}/cleanup/{sid}")
        assert reply.status == 200, reply.body
        assert cluster.client.get(f"{API}/status/{sid}").status == 410
    ended = time.monotonic() - fault
    assert ended <= 2, ended
    cluster.start_worker()  # the new release's worker: nothing of the session runs again
    time.sleep(6)
    if action == "cancel":
        body = cluster.status(sid)
        assert body["status"] == "cancelled" and attempts(body, "decode") == 1
        assert cluster.stored(sid) == []  # no attempt's output is left, nor the upload
    else:
        assert cluster.client.get(f"{API}/status/{sid}").status == 410
        assert sid not in cluster.media_sessions()
        assert cluster.keys(f"*{sid}*") == [f"vs:tomb:{sid}"]
    record(f"{action} during the retry wait", "cancelled" if action == "cancel" else "deleted",
           ended, 1, "nothing re-ran afterwards")
