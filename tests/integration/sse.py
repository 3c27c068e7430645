"""A blocking Server-Sent Events client for the integration suite (stdlib only)."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from typing import Any


class EventStream:
    """GET an event stream; read it block by block (an event, or a comment ":")."""

    def __init__(self, base_url: str, path: str, headers: dict[str, str] | None = None,
                 timeout: float = 30) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        self.conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)
        self.conn.request("GET", path, headers=headers or {})
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.headers = {k.lower(): v for k, v in self.response.getheaders()}

    def block(self) -> dict[str, str] | None:
        """The next block as {field: value} (":" holds a comment); None at the stream's end."""
        fields: dict[str, str] = {}
        while True:
            line = self.response.readline()
            if not line:
                return None
            text = line.decode().rstrip("\n")
            if text == "":
                if fields:
                    return fields
                continue
            name, _, value = text.partition(":")
            fields[name or ":"] = value.removeprefix(" ")

    def event(self) -> dict[str, Any] | None:
        """The next event with its data decoded (comments and retry skipped); None at the end."""
        while (block := self.block()) is not None:
            if "event" in block:
                data = json.loads(block["data"])
                return {**block, "data": data}
        return None

    def events(self) -> list[dict[str, Any]]:
        """Every event up to the stream's end."""
        found = []
        while (event := self.event()) is not None:
            found.append(event)
        return found

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
