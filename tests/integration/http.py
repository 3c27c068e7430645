"""A tiny blocking HTTP client for the integration suite (stdlib only)."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from queues.embedded import free_port

# The web process as the Procfile runs it (``python`` + these, then ``--bind``).
WEB_ARGS = ("-m", "hypercorn", "--config", "python:api.serving.HYPERCORN", "api:create_app()")
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


class Client:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, timeout: float = 120) -> Reply:
        req = urllib.request.Request(self.base_url + path, data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return Reply(resp.status, {k.lower(): v for k, v in resp.headers.items()},
                             resp.read())
        except urllib.error.HTTPError as err:
            return Reply(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())

    def wait_ready(self, server: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
        """Poll /readyz until the server answers 200; fail with its log if it dies or hangs."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.get("/readyz", timeout=2).status == 200:
                    return
            except OSError:
                pass  # not listening yet
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"server not ready:\n{log.read_text()}")
            time.sleep(0.2)

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Reply:
        return self.request("POST", path, **kw)

    def delete(self, path: str, **kw: Any) -> Reply:
        return self.request("DELETE", path, **kw)

    def upload(self, path: str, video: Path | bytes, filename: str = "clip.mp4",
               part: str = "file", headers: dict[str, str] | None = None,
               **fields: str) -> Reply:
        boundary = secrets.token_hex(12)
        data = video if isinstance(video, bytes) else video.read_bytes()
        chunks = []
        for name, value in fields.items():
            chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'
                          f'\r\n\r\n{value}\r\n'.encode())
        chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{part}"; '
                      f'filename="{filename}"\r\nContent-Type: video/mp4\r\n\r\n'.encode())
        chunks += [data, f"\r\n--{boundary}--\r\n".encode()]
        return self.stream(path, b"".join(chunks), f"multipart/form-data; boundary={boundary}",
                           headers=headers)

    def stream(self, path: str, body: bytes, content_type: str, chunk: int = 64 * 1024,
               headers: dict[str, str] | None = None) -> Reply:
        """POST in chunks, like a browser: a server may answer (413) before reading it all."""
        parsed = urllib.parse.urlsplit(self.base_url)
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=120)
        try:
            conn.putrequest("POST", path)
            conn.putheader("Content-Type", content_type)
            conn.putheader("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                conn.putheader(name, value)
            conn.endheaders()
            try:
                for offset in range(0, len(body), chunk):
                    conn.send(body[offset:offset + chunk])
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered early and stopped reading
            resp = conn.getresponse()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    def wait(self, session_id: str, timeout: float = 120,
             until: tuple[str, ...] = ("completed", "failed", "cancelled")) -> list[dict]:
        """Poll status until one of ``until``; return every status body seen."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = self.get(f"/api/v1/video/status/{session_id}")
            assert reply.status == 200, reply.body
            seen.append(reply.json())
            if seen[-1]["status"] in until:
                return seen
            time.sleep(0.1)
        raise AssertionError(f"session {session_id} still {seen[-1]['status']} after {timeout}s")


@dataclass
class Running:
    client: Client
    web: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]


@contextmanager
def running_service(env: dict[str, str], logs: Path, workers: int = 2,
                    web_args: Sequence[str] = ()) -> Iterator[Running]:
    """The Procfile's processes (``workers`` workers and the web) with ``env`` over this
    process's environment, logging to ``logs``; stopped (then killed) on exit."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    port = free_port()
    with ExitStack() as files:
        def start(args: list[str], log: str) -> subprocess.Popen[bytes]:
            return subprocess.Popen([sys.executable, *args], env=full_env, cwd=ROOT,
                                    stdout=files.enter_context(open(logs / log, "wb")),
                                    stderr=subprocess.STDOUT)

        procs = [start(["-m", "queues.worker"], f"worker{i}.log") for i in range(workers)]
        procs.append(start([*WEB_ARGS, "--bind", f"127.0.0.1:{port}", *web_args], "web.log"))
    try:
        client = Client(f"http://127.0.0.1:{port}")
        client.wait_ready(procs[-1], logs / "web.log")
        yield Running(client, procs[-1], procs[:-1])
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
