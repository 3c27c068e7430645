"""Idempotent uploads through the real web process: a retry after a dropped connection."""

from __future__ import annotations

import http.client
import secrets
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from queues import keys
from tests.integration.conftest import Service

UPLOAD = "/api/v1/video/upload"


def send_half_and_drop(base_url: str, video: bytes, key: str) -> None:
    """What a phone losing its network does: half the body, then the connection is gone."""
    boundary = secrets.token_hex(12)
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"'
            f"\r\nContent-Type: video/mp4\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    parsed = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
    conn.putrequest("POST", UPLOAD)
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(head) + len(video) + len(tail)))
    conn.putheader("Idempotency-Key", key)
    conn.endheaders()
    conn.send(head + video[:len(video) // 2])
    time.sleep(0.3)  # the server has claimed the key and is receiving
    conn.close()


def test_retry_after_a_dropped_upload_then_a_replay(
        service: Service, video_factory: Callable[..., Path]) -> None:
    video = video_factory("int-idem", seconds=6, size="320x240", fps=25)
    key = secrets.token_urlsafe(16)
    send_half_and_drop(service.client.base_url, video.read_bytes(), key)
    deadline = time.monotonic() + 10
    while True:  # the web notices the dropped connection and frees the key
        first = service.client.upload(UPLOAD, video, headers={"Idempotency-Key": key})
        if first.status != 409 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert first.status == 202, first.body
    replay = service.client.upload(UPLOAD, video, headers={"Idempotency-Key": key})
    assert replay.status == 202 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    sid = first.json()["session_id"]
    assert replay.headers["location"] == f"/api/v1/video/status/{sid}"
    other = service.client.upload(UPLOAD, video, headers={"Idempotency-Key": key},
                                  analysis="workout")
    assert other.status == 422 and other.json()["code"] == "idempotency_key_reused"
    assert service.client.wait(sid)[-1]["status"] == "completed"
    known = {m.decode() for m in service.redis.zrange(keys.SESSIONS_BY_EXPIRY, 0, -1)}
    dirs = {p.name for p in (service.media_root / "sessions").iterdir()}
    assert sid in known and sid in dirs
    assert not dirs - known  # the dropped upload and the retries left no workspace behind
