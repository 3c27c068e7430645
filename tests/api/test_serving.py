"""The lean access log writes the same lines as hypercorn's own, without its per-request cost."""

from __future__ import annotations

from typing import Any

import pytest
from hypercorn.config import Config
from hypercorn.logging import AccessLogAtoms

from api.serving import HYPERCORN, LazyAtoms, LeanLogger

REQUEST: dict[str, Any] = {
    "type": "http", "http_version": "1.1", "method": "GET", "scheme": "http",
    "path": "/api/v1/video/status/abc", "query_string": b"x=1", "client": ("10.0.0.7", 51234),
    "headers": [(b"host", b"example"), (b"user-agent", b"curl/8"), (b"referer", b"http://r/")],
}
RESPONSE: dict[str, Any] = {"status": 202, "headers": [(b"content-length", b"321"),
                                                       (b"retry-after", b"2")]}
FORMATS = [
    Config().access_log_format,  # hypercorn's default, which the Procfile uses
    '%(h)s %(t)s "%(R)s" %(s)s %(st)s %(B)s %(m)s %(U)s %(Uq)s %(q)s %(H)s %(S)s %(p)s',
    "%({user-agent}i)s %({Retry-After}o)s %({missing}i)s %({PATH}e)s %(T)s",
]


@pytest.mark.parametrize(("fmt", "response"), [(fmt, RESPONSE) for fmt in FORMATS]
                         + [(fmt, None) for fmt in FORMATS[:2]])  # hypercorn's own atoms fail
# on a response header when there is no response (a request cut before its answer)
def test_same_line_as_hypercorn(fmt: str, response: dict[str, Any] | None) -> None:
    ours = fmt % LazyAtoms(REQUEST, response, 0.25)
    theirs = fmt % AccessLogAtoms(REQUEST, response, 0.25)  # type: ignore[arg-type]
    assert ours == theirs


class _Untouchable(dict[str, str]):
    def __getattribute__(self, name: str) -> Any:
        raise AssertionError(f"os.environ.{name} used")


def test_the_default_line_never_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """hypercorn copies every environment variable for every request (a PaaS sets many)."""
    monkeypatch.setattr("api.serving.os.environ", _Untouchable())
    line = Config().access_log_format % LazyAtoms(REQUEST, RESPONSE, 0.001)
    assert line.startswith("10.0.0.7:51234 - - [")
    assert line.endswith('"GET /api/v1/video/status/abc 1.1" 202 321 "http://r/" "curl/8"')


def test_hypercorn_config_object() -> None:
    config = Config.from_object(HYPERCORN)
    assert config.logger_class is LeanLogger
    assert config.worker_class == "uvloop"
