"""Log lines: in JSON mode one object per line, and every line of a stage's work (its own
threads' too) carries the session id and the stage; in text mode, a line for people."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from queues.logs import (
    JsonFormatter,
    ScopeFilter,
    TextFormatter,
    configure_logging,
    current_scope,
    log_scope,
)
from queues.session import Session
from queues.settings import Settings, SettingsError

log = logging.getLogger("tests.logs")


@pytest.fixture
def lines() -> Iterator[Callable[[], list[str]]]:
    """Whatever the root logger gets at INFO, in JSON, as a list of lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ScopeFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: stream.getvalue().splitlines()
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_a_stages_lines_carry_its_session_and_stage(
        make_session: Callable[..., Session], small_video: Path, run_jobs: Callable[[], None],
        lines: Callable[[], list[str]]) -> None:
    session = make_session(small_video, analysis="workout")
    run_jobs()
    records = [json.loads(line) for line in lines()]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    done = [r for r in records if r["logger"] == "queues.runner" and " done in " in r["message"]]
    assert [r["stage"] for r in done] == ["decode", "score", "workout"]
    assert {r["session_id"] for r in done} == {session.session_id}
    for record in done:  # the stage named in the message is the one on the line
        assert record["message"].startswith(f"stage {record['stage']} of {session.session_id}")
    ours = [r for r in records if r["logger"].startswith(("queues.", "stages."))]
    assert ours and all(r.get("session_id") == session.session_id and r.get("stage")
                        for r in ours)
    assert current_scope() == (None, None)  # nothing leaks past the job


def test_threads_a_stage_starts_carry_the_scope(lines: Callable[[], list[str]]) -> None:
    def work() -> None:
        log.info("from a thread")

    with log_scope("s1", "render", process_wide=True):
        log.info("in the stage")
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    with log_scope("s2", "decode"):  # scope of this context only
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    log.info("after")
    records = [json.loads(line) for line in lines()]
    assert [(r["message"], r.get("session_id"), r.get("stage")) for r in records] == [
        ("in the stage", "s1", "render"), ("from a thread", "s1", "render"),
        ("from a thread", None, None), ("after", None, None)]


def test_an_exception_is_one_line_with_its_traceback(lines: Callable[[], list[str]]) -> None:
    with log_scope("s1", "score"):
        try:
            raise ValueError("bad frame")
        except ValueError:
            log.exception("stage crashed")
    (line,) = lines()
    record = json.loads(line)
    assert record["level"] == "ERROR" and record["message"] == "stage crashed"
    assert record["session_id"] == "s1" and record["stage"] == "score"
    assert "Traceback" in record["exception"] and "ValueError: bad frame" in record["exception"]


def test_text_mode_stays_human() -> None:
    formatter, scope = TextFormatter(), ScopeFilter()
    with log_scope("abc", "decode"):
        record = log.makeRecord("queues.runner", logging.INFO, __file__, 1,
                                "stage %s done", ("decode",), None)
        scope.filter(record)
    line = formatter.format(record)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} queues\.runner INFO "
                        r"stage decode done \[session=abc stage=decode\]", line), line
    outside = log.makeRecord("api", logging.WARNING, __file__, 1, "plain", (), None)
    scope.filter(outside)
    assert formatter.format(outside).endswith(" api WARNING plain")


def test_configure_logging_json(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("json")
        with log_scope("s9"):
            logging.getLogger("api.intake").info("upload received")
            logging.getLogger("hypercorn.error").info("Running on http://x")
        err = capsys.readouterr().err.splitlines()
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    records = [json.loads(line) for line in err]
    assert [(r["logger"], r.get("session_id")) for r in records] == [
        ("api.intake", "s9"), ("hypercorn.error", "s9")]


@pytest.mark.parametrize(("env", "message"), [
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"), ({"METRICS_PORT": "70000"}, "METRICS_PORT"),
    ({"METRICS_PORT": "-1"}, "METRICS_PORT")])
def test_settings_are_validated(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_settings_defaults() -> None:
    settings = Settings.from_env({})
    assert (settings.log_format, settings.metrics_port, settings.metrics_host) == \
        ("text", 0, "127.0.0.1")
    assert Settings.from_env({"LOG_FORMAT": "json", "METRICS_PORT": "9464"}).metrics_port == 9464
