"""Logging for every process: lines for people (LOG_FORMAT=text) or one JSON object per line
for a log pipeline (json), each carrying the session and stage whose work it belongs to.

The scope is a context variable, set by the runner around a stage's work and by the web
around an upload; asyncio tasks and ``asyncio.to_thread`` inherit it. Threads a stage
starts itself (decode, render, lease renewal) do not inherit context variables, so a work
horse, which runs one job at a time, also sets the scope process-wide for them.
"""

from __future__ import annotations

import json
import logging
import logging.config
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s%(scope)s"

Scope = tuple[str | None, str | None]  # (session id, stage)
_scope: ContextVar[Scope | None] = ContextVar("log_scope", default=None)
_process_scope: Scope | None = None  # a work horse's one job, for threads it starts


@contextmanager
def log_scope(session_id: str, stage: str | None = None, *,
              process_wide: bool = False) -> Iterator[None]:
    """Lines logged inside carry ``session_id`` (and ``stage``); with ``process_wide``,
    also those of threads without a scope of their own (a work horse runs one job)."""
    global _process_scope  # noqa: PLW0603 - the one process-wide value, reset below
    token = _scope.set((session_id, stage))
    before = _process_scope
    if process_wide:
        _process_scope = (session_id, stage)
    try:
        yield
    finally:
        _scope.reset(token)
        if process_wide:
            _process_scope = before


def current_scope() -> Scope:
    return _scope.get() or _process_scope or (None, None)


class ScopeFilter(logging.Filter):
    """Puts ``session_id`` and ``stage`` on every record (None outside a session's work)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "session_id"):
            record.session_id, record.stage = current_scope()
        return True


class TextFormatter(logging.Formatter):
    """The human format, with `` [session=... stage=...]`` after a session's lines."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        session_id, stage = getattr(record, "session_id", None), getattr(record, "stage", None)
        parts = [f"session={session_id}" if session_id else "", f"stage={stage}" if stage else ""]
        scope = " ".join(p for p in parts if p)
        record.scope = f" [{scope}]" if scope else ""
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, session_id and stage when
    in a session's work, exception when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for key in ("session_id", "stage"):
            value = getattr(record, key, None)
            if value:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def logging_config(log_format: str, level: str = "INFO", *,
                   access_log: bool = False) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the whole process: one stderr handler on the root
    logger. hypercorn's error log goes through it; with ``access_log`` (JSON only) its
    access log too, as the message of a JSON line."""
    formatter = {"()": JsonFormatter if log_format == "json" else TextFormatter}
    config: dict[str, Any] = {
        "version": 1, "disable_existing_loggers": False,
        "filters": {"scope": {"()": ScopeFilter}},
        "formatters": {"line": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                "formatter": "line", "filters": ["scope"]}},
        "root": {"level": level, "handlers": ["stderr"]},
        # hypercorn gives its error log a handler of its own: one line, not two
        "loggers": {"hypercorn.error": {"propagate": True}},
    }
    if access_log and log_format == "json":
        config["loggers"]["hypercorn.access"] = {"handlers": ["stderr"], "propagate": False}
    return config


def configure_logging(log_format: str, level: str = "INFO") -> None:
    """Set up this process's logging (worker, dashboard, ``python -m api``)."""
    logging.config.dictConfig(logging_config(log_format, level))
