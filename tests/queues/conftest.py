"""Fixtures for the queue layer: fakeredis, settings on a temp media root, session factory."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import fakeredis
import pytest
from rq import SimpleWorker

from queues.connection import pipeline_queue, session_store
from queues.session import Session
from queues.settings import Settings
from queues.store import SessionStore
from queues.submit import new_session_id, submit_session
from stages.workspace import SOURCE, Storage


@pytest.fixture
def redis_conn() -> Iterator[fakeredis.FakeRedis]:
    conn = fakeredis.FakeRedis()
    yield conn
    conn.flushall()


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Test settings; ``parametrize("settings", [{...}], indirect=True)`` overrides some."""
    return dataclasses.replace(Settings(), redis_url="", media_root=tmp_path / "media",
                               analysis_long_side=96, **getattr(request, "param", {}))


@pytest.fixture
def store(redis_conn: fakeredis.FakeRedis, settings: Settings) -> SessionStore:
    return session_store(redis_conn, settings)


@pytest.fixture
def storage(settings: Settings) -> Storage:
    return Storage(settings.media_root)


@pytest.fixture
def make_session(redis_conn: fakeredis.FakeRedis, settings: Settings,
                 storage: Storage) -> Callable[..., Session]:
    """Create a session whose source is ``video`` (copied), jobs enqueued, not yet run."""

    def factory(video: Path, **options: object) -> Session:
        session_id = new_session_id()
        workspace = storage.create(session_id)
        shutil.copyfile(video, workspace.path(SOURCE))
        return submit_session(redis_conn, settings, session_id,
                              settings.analysis_options(**options))

    return factory


@pytest.fixture
def run_jobs(redis_conn: fakeredis.FakeRedis, settings: Settings,
             monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Run every queued job in this process (RQ SimpleWorker, burst mode)."""
    import queues.runner

    monkeypatch.setattr(queues.runner, "process_settings", lambda: settings)

    def run() -> None:
        worker = SimpleWorker([pipeline_queue(redis_conn, settings)], connection=redis_conn)
        worker.work(burst=True)

    return run
