"""Web and workers on separate disks: only Redis and an S3 server (moto) are shared.

Each process gets a MEDIA_ROOT of its own (scratch space); the whole contract is driven
through the web: upload, progress, results, the reel (302 to the store, Range there),
cancel, cleanup and expiry, with nothing left in the store or on any disk afterwards.
"""

from __future__ import annotations

import http.client
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from queues.embedded import free_port
from tests.integration.conftest import ROOT
from tests.integration.http import WEB_ARGS, Client
from tests.s3server import S3Endpoint, remove_bucket

API = "/api/v1/video"


@dataclass
class Split:
    client: Client
    s3: Any  # a boto3 client on the test bucket
    bucket: str
    roots: dict[str, Path]  # process name -> its MEDIA_ROOT

    def objects(self, sid: str = "") -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=f"media/sessions/{sid}")
        return sorted(o["Key"] for o in listed.get("Contents", []))

    def scratch(self) -> list[str]:
        return sorted(str(p.relative_to(root)) for root in self.roots.values()
                      for p in root.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def split(redis_server: str, s3_endpoint: S3Endpoint,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Split]:
    base = tmp_path_factory.mktemp("split")
    s3 = s3_endpoint.client()
    bucket = f"split-{secrets.token_hex(6)}"
    s3_endpoint.create_bucket(s3, bucket)
    url = redis_server.rsplit("/", 1)[0] + "/3"
    with redis.Redis.from_url(url) as conn:
        conn.flushdb()
    common = {**os.environ, "REDIS_URL": url, "STORAGE_URL": f"s3://{bucket}/media",
              "AWS_ENDPOINT_URL": s3_endpoint.url, "AWS_ACCESS_KEY_ID": s3_endpoint.access_key,
              "AWS_SECRET_ACCESS_KEY": s3_endpoint.secret_key,
              "AWS_DEFAULT_REGION": s3_endpoint.region, "PYTHONPATH": str(ROOT),
              "ANALYSIS_LONG_SIDE": "128", "SESSION_TTL": "4", "SWEEP_INTERVAL": "1"}
    port = free_port()
    roots = {name: base / name for name in ("web", "worker0", "worker1")}
    procs: list[subprocess.Popen[bytes]] = []
    with ExitStack() as files:
        for name, root in roots.items():
            command = ([*WEB_ARGS, "--bind", f"127.0.0.1:{port}"]
                       if name == "web" else ["-m", "queues.worker"])
            log = files.enter_context(open(base / f"{name}.log", "wb"))
            procs.append(subprocess.Popen([sys.executable, *command], cwd=ROOT,
                                          env={**common, "MEDIA_ROOT": str(root)},
                                          stdout=log, stderr=subprocess.STDOUT))
    client = Client(f"http://127.0.0.1:{port}")
    try:
        client.wait_ready(procs[0], base / "web.log")
        yield Split(client, s3, bucket, roots)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(20)
        remove_bucket(s3, bucket)
        s3.close()


@pytest.fixture(scope="module")
def clip(video_factory: Callable[..., Path]) -> Path:
    return video_factory("split", seconds=8, size="320x240", fps=25)


def upload(split: Split, clip: Path, **fields: str) -> str:
    reply = split.client.upload(f"{API}/upload", clip, **fields)
    assert reply.status == 202, reply.body
    return str(reply.json()["session_id"])


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                timeout=30) as resp:
        return resp.status, resp.read()


def test_whole_contract_with_nothing_shared_but_redis_and_the_store(split: Split,
                                                                    clip: Path) -> None:
    sid = upload(split, clip, analysis="all", target_duration="4")
    assert split.objects(sid) == [f"media/sessions/{sid}/source"]  # upload went to the store
    seen = split.client.wait(sid, timeout=120)
    assert seen[-1]["status"] == "completed", seen[-1]
    progress = [b["progress"] for b in seen]
    assert progress == sorted(progress)
    body = split.client.get(f"{API}/results/{sid}").json()
    assert body["workout"] is not None and body["reel"] is not None

    reply = _no_follow(split.client.base_url + body["reel"]["url"])
    assert reply[0] == 302 and reply[1].startswith(split.s3.meta.endpoint_url)
    status, whole = fetch(reply[1])
    assert status == 200 and whole[4:8] == b"ftyp"
    status, part = fetch(reply[1], {"Range": "bytes=100-199"})
    assert status == 206 and part == whole[100:200]
    deadline = time.monotonic() + 10  # a worker's copies go once the session has ended
    while split.scratch():
        assert time.monotonic() < deadline, split.scratch()
        time.sleep(0.2)

    assert split.client.delete(f"{API}/cleanup/{sid}").status == 200
    assert split.objects(sid) == []
    assert split.client.get(f"{API}/results/{sid}").status == 410


def test_cancel_removes_outputs_from_the_store(split: Split,
                                               video_factory: Callable[..., Path]) -> None:
    long_clip = video_factory("split-long", seconds=90, size="640x360", fps=30)
    sid = upload(split, long_clip, analysis="all")
    deadline = time.monotonic() + 60
    while True:  # decode has published its outputs; the rest still runs
        body = split.client.get(f"{API}/status/{sid}").json()
        if {s["name"]: s["status"] for s in body["stages"]}["decode"] == "completed":
            break
        assert body["status"] in ("queued", "processing") and time.monotonic() < deadline
        time.sleep(0.05)
    assert any("/decode-" in key for key in split.objects(sid))
    reply = split.client.post(f"{API}/cancel/{sid}")
    assert reply.status in (200, 202), reply.body
    final = split.client.wait(sid, timeout=30)[-1]
    assert final["status"] == "cancelled"
    time.sleep(1)
    assert split.objects(sid) == []  # the upload too: the session has ended


def test_expiry_removes_every_object(split: Split, clip: Path) -> None:
    sid = upload(split, clip, render="false")
    assert split.client.wait(sid, timeout=120)[-1]["status"] == "completed"
    deadline = time.monotonic() + 30  # SESSION_TTL 4 s, a sweep every second
    while split.objects(sid):
        assert time.monotonic() < deadline, split.objects(sid)
        time.sleep(0.5)
    assert split.client.get(f"{API}/status/{sid}").status == 410


def _no_follow(url: str) -> tuple[int, str]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=30) as resp:
            return resp.status, ""
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Location", "")


def multipart_uploads(split: Split) -> list[str]:
    listed = split.s3.list_multipart_uploads(Bucket=split.bucket)
    return [u["Key"] for u in listed.get("Uploads", [])]


def test_refused_and_interrupted_uploads_leave_nothing(split: Split, clip: Path) -> None:
    """The upload streams into the store while it arrives (a multipart upload of 12 MB
    here): a video the probe refuses, or a body cut off mid-way, leaves no object, no
    multipart upload and no scratch file."""
    noise = os.urandom(12 * 1024 * 1024)  # several parts, and not a video
    before = split.objects()
    assert split.client.upload(f"{API}/upload", noise).status == 422
    boundary = "cut"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="v.mp4"\r\n\r\n').encode()
    conn = http.client.HTTPConnection("127.0.0.1", int(split.client.base_url.rsplit(":", 1)[1]))
    conn.putrequest("POST", f"{API}/upload")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(head) + 2 * len(noise)))
    conn.endheaders()
    conn.send(head + noise)  # half of what it announced, then the client goes away
    conn.close()
    deadline = time.monotonic() + 15
    while multipart_uploads(split) or split.scratch():
        assert time.monotonic() < deadline, (multipart_uploads(split), split.scratch())
        time.sleep(0.2)
    assert split.objects() == before
