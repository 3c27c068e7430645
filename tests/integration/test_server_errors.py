"""What the real hypercorn process answers to hostile HTTP: always problem+json.

Its own 400/431/501 (api/server_errors.py) come before the app sees the request, and a
trickling upload is cut off while hypercorn still streams the body, so only a real server
over a raw socket shows them.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from queues.embedded import free_port
from tests.integration.conftest import ROOT
from tests.integration.http import WEB_ARGS, Client

UPLOAD_HEAD = (b"POST /api/v1/video/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
               b"Content-Type: multipart/form-data; boundary=b\r\n\r\n--b\r\n"
               b'Content-Disposition: form-data; name="file"; filename="a.mp4"\r\n\r\n')


@dataclass
class Web:
    port: int
    media: Path


@pytest.fixture(scope="module")
def web(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    """``hypercorn "api:create_app()"`` as the Procfile runs it; uploads may idle 1 s."""
    media, port = tmp_path_factory.mktemp("media"), free_port()
    log = tmp_path_factory.mktemp("logs") / "web.log"
    env = {**os.environ, "REDIS_URL": redis_server.rsplit("/", 1)[0] + "/2",
           "MEDIA_ROOT": str(media), "UPLOAD_IDLE_TIMEOUT": "1", "UPLOAD_MIN_RATE": "1000",
           "PYTHONPATH": str(ROOT)}
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, *WEB_ARGS, "--bind", f"127.0.0.1:{port}"],
                                env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        Client(f"http://127.0.0.1:{port}").wait_ready(proc, log)
        yield Web(port, media)
    finally:
        proc.terminate()
        proc.wait(15)


def exchange(port: int, *parts: bytes, pause: float = 0.0) -> bytes:
    """Send ``parts`` ``pause`` s apart until the server answers; read its answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        for part in parts:
            conn.sendall(part)
            # Stop sending once it answered: writing on would make it reset the connection.
            if select.select([conn], [], [], pause)[0]:
                break
        answer = b""
        while not _complete(answer) and (chunk := conn.recv(65536)):
            answer += chunk
    return answer


def _complete(answer: bytes) -> bool:
    """Headers and Content-Length bytes of body received (some answers leave it open)."""
    head, found, body = answer.partition(b"\r\n\r\n")
    length = [line.split(b":", 1)[1] for line in head.lower().split(b"\r\n")
              if line.startswith(b"content-length:")]
    return bool(found and length and len(body) >= int(length[0]))


def assert_problem(answer: bytes, status: int) -> dict:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith(f"HTTP/1.1 {status} "), lines[0]
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    assert headers["content-type"] == "application/problem+json"
    assert int(headers["content-length"]) == len(body)
    problem = json.loads(body)
    assert problem["status"] == status and problem["type"] and problem["title"]
    assert problem["detail"]
    return problem


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n", 431),
    (b"POST /api/v1/video/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked"
     b"\r\n\r\n", 501),
    (b"GET /api/v1//video/status/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
     400),
], ids=["malformed-request-line", "100KB-header", "unknown-transfer-coding", "double-slash",
        "websocket-without-key"])
def test_hostile_http_gets_problem_json(web: Web, request_bytes: bytes, status: int) -> None:
    assert_problem(exchange(web.port, request_bytes), status)


def test_trickling_upload_is_408_and_leaves_nothing(web: Web) -> None:
    started = time.monotonic()
    answer = exchange(web.port, UPLOAD_HEAD, *[b"\0"] * 100, pause=0.05)  # 20 bytes/s
    assert assert_problem(answer, 408)["code"] == "upload_too_slow"
    assert time.monotonic() - started < 4  # cut after its first 1 s window, not at the end
    sessions = web.media / "sessions"
    assert not sessions.exists() or list(sessions.iterdir()) == []
