"""The README's run command (embedded Redis) and the local command-line analysis."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import av

from queues.embedded import free_port
from tests.integration.conftest import ROOT
from tests.integration.http import Client


def test_one_command_service_with_embedded_redis(small_video: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(PORT=str(port), MEDIA_ROOT=str(tmp_path / "media"), WORKERS="1")
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "api"], env=env, cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT)
    client = Client(f"http://127.0.0.1:{port}")
    try:
        client.wait_ready(proc, log)
        reply = client.upload("/api/v1/video/upload", small_video, render="false")
        assert reply.status == 202, reply.body
        assert client.wait(reply.json()["session_id"])[-1]["status"] == "completed"
        redis_port = int(log.read_text().split("redis://127.0.0.1:")[1].split("/")[0])
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, log.read_text()
    with socket.socket() as s:  # the embedded redis-server went away with the service
        assert s.connect_ex(("127.0.0.1", redis_port)) != 0


def test_local_cli_prints_results_and_writes_the_reel(small_video: Path, tmp_path: Path) -> None:
    reel = tmp_path / "out.mp4"
    done = subprocess.run([sys.executable, "-m", "queues.cli", str(small_video), "--analysis",
                           "all", "--target-duration", "3", "--reel", str(reel)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "REDIS_URL"})
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["status"] == "completed" and body["schema_version"] == 1
    assert body["workout"] is not None and body["highlights"]
    assert body["reel"]["url"] == str(reel.resolve())
    with av.open(str(reel)) as container:
        assert abs(container.duration / 1e6 - body["reel"]["duration"]) < 0.1


def test_local_cli_explains_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    done = subprocess.run([sys.executable, "-m", "queues.cli", str(bad)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "error:" in done.stderr and "Traceback" not in done.stderr
