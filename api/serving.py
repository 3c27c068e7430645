"""How hypercorn serves the app: ``hypercorn --config python:api.serving.HYPERCORN``.

Logging is set up as in every process (``queues.logs``, LOG_FORMAT), unless hypercorn is
given a logging config of its own.

Two things make a status poll cheap enough for 1,000+ requests a second per process:

- uvloop's event loop instead of asyncio's own (about a third less CPU per request);
- an access log that computes only the fields its format uses. Hypercorn's own builds a
  dict of every request header, every response header and *every environment variable*
  for each request (``AccessLogAtoms``), about 0.3 ms of CPU on a PaaS-sized environment
  to write one line.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from http import HTTPStatus
from typing import Any

from hypercorn.config import Config
from hypercorn.logging import Logger

from queues.logs import logging_config
from queues.settings import Settings


class LazyAtoms(Mapping[str, str]):
    """hypercorn's access log atoms, each computed when the format asks for it."""

    def __init__(self, request: Any, response: Any, request_time: float) -> None:
        self.request, self.response, self.request_time = request, response, request_time

    def __getitem__(self, key: str) -> str:
        if key.startswith("{"):
            return self._header(key)
        value = self._atom(key)
        return "-" if value is None else str(value)

    def _header(self, key: str) -> str:
        name, kind = key[1:-2].lower(), key[-1]
        if kind == "e":
            return os.environ.get(name.upper(), os.environ.get(name, "-"))
        source = (self.request.get("headers", []) if kind == "i"
                  else (self.response or {}).get("headers", []))
        wanted = name.encode("latin1")
        for header, value in source:
            if header.lower() == wanted:
                return str(value.decode("latin1"))
        return "-"

    def _atom(self, key: str) -> object:  # noqa: PLR0911 - one return per atom
        request, response, seconds = self.request, self.response, self.request_time
        if key == "h":
            client = request.get("client")
            return None if client is None else ":".join(str(part) for part in client)
        if key in ("r", "R", "U", "Uq", "q", "m", "H", "S"):
            return self._request_line(key)
        if key == "s":
            return None if response is None else response["status"]
        if key == "st":
            return None if response is None else _phrase(response["status"])
        if key in ("b", "B"):
            return self._header("{content-length}o")
        if key == "f":
            return self._header("{referer}i")
        if key == "a":
            return self._header("{user-agent}i")
        if key == "t":
            return time.strftime("[%d/%b/%Y:%H:%M:%S %z]")
        if key in ("T", "D", "L"):
            return {"T": int(seconds), "D": int(seconds * 1_000_000),
                    "L": f"{seconds:.6f}"}[key]
        if key == "p":
            return f"<{os.getpid()}>"
        return None  # "l" and anything unknown

    def _request_line(self, key: str) -> str:
        request = self.request
        method = request["method"] if request["type"] == "http" else "GET"
        protocol = request.get("http_version", "ws")
        query = request["query_string"].decode()
        path_qs = request["path"] + ("?" + query if query else "")
        return {"r": f"{method} {request['path']} {protocol}",
                "R": f"{method} {path_qs} {protocol}", "U": request["path"], "Uq": path_qs,
                "q": query, "m": method, "H": protocol, "S": request["scheme"]}[key]

    def __iter__(self) -> Iterator[str]:
        return iter(("h", "l", "t", "r", "s", "b", "f", "a"))

    def __len__(self) -> int:
        return 8


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"<???{status}???>"


class LeanLogger(Logger):
    def __init__(self, config: Config) -> None:
        if config.logconfig is None and config.logconfig_dict is None:
            config.logconfig_dict = logging_config(Settings.from_env().log_format,
                                                   access_log=True)
        super().__init__(config)

    def atoms(self, request: Any, response: Any, request_time: float) -> Mapping[str, str]:
        return LazyAtoms(request, response, request_time)


class HYPERCORN:  # noqa: N801 - hypercorn reads the attributes of this object as its config
    logger_class = LeanLogger
    worker_class = "uvloop"
