"""A real webhook receiver for the tests: an HTTP server on 127.0.0.1 in a thread that
records every request and answers from a script (e.g. 500, 500, then 204)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when the request was read in full


@dataclass
class Script:
    """What the receiver answers: ``statuses`` in turn (the last one repeats)."""

    statuses: list[int] = field(default_factory=lambda: [204])
    delay: float = 0.0  # seconds to wait before answering
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class Receiver:
    def __init__(self, server: ThreadingHTTPServer, script: Script) -> None:
        self.server = server
        self.script = script
        self.requests: list[Received] = []
        self.arrived = threading.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def next_status(self) -> int:
        statuses = self.script.statuses
        return statuses[min(len(self.requests) - 1, len(statuses) - 1)]

    def wait_for(self, count: int, timeout: float) -> list[Received]:
        """Block until ``count`` requests arrived (or time out); every request so far."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.requests) >= count, timeout)
            return list(self.requests)


@contextmanager
def webhook_receiver(script: Script | None = None) -> Iterator[Receiver]:
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.arrived:
                receiver.requests.append(Received(self.path, dict(self.headers.items()), body,
                                                  time.time()))
                status = receiver.next_status()
                receiver.arrived.notify_all()
            time.sleep(receiver.script.delay)
            try:
                self.send_response(status)
                for name, value in receiver.script.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(receiver.script.body)))
                self.end_headers()
                self.wfile.write(receiver.script.body)
            except OSError:
                pass  # the client gave up (a timeout test)

        def do_GET(self) -> None:  # noqa: N802
            self.do_POST()  # a followed redirect would show up as a request too

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(server, script or Script())
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="webhook-receiver",
                              daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
