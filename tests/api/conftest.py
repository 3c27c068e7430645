"""Fixtures for the API: the real app factory on fakeredis, a test client, a job runner."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from quart import Quart
from quart.datastructures import FileStorage
from quart.testing import QuartClient
from rq import SimpleWorker

from api import create_app
from queues.connection import pipeline_queue
from queues.settings import Settings
from tests.api.openapi_check import CheckedClient


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
def sync_client(server: fakeredis.FakeServer) -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis(server=server)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return dataclasses.replace(Settings(), redis_url="", media_root=tmp_path / "media",
                               analysis_long_side=96, cors_origins=("https://app.example",),
                               legacy_timeout=60.0)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "openapi_unchecked: responses of this test are not "
                            "checked against the OpenAPI document (tests/api/openapi_check.py)")


@pytest.fixture
def make_app(server: fakeredis.FakeServer, sync_client: fakeredis.FakeRedis,
             settings: Settings, request: pytest.FixtureRequest) -> Callable[..., Quart]:
    checked = request.node.get_closest_marker("openapi_unchecked") is None

    def factory(**overrides: Any) -> Quart:
        app = create_app(dataclasses.replace(settings, **overrides),
                         redis_client=fakeredis.FakeAsyncRedis(server=server),
                         sync_client=sync_client)
        if checked:  # every response a test gets is checked against the OpenAPI document
            app.test_client_class = CheckedClient
        return app

    return factory


@pytest.fixture
async def app(make_app: Callable[..., Quart]) -> AsyncIterator[Quart]:
    application = make_app()
    async with application.test_app():
        yield application


@pytest.fixture
def client(app: Quart) -> QuartClient:
    return app.test_client()


@pytest.fixture
def run_jobs(sync_client: fakeredis.FakeRedis, settings: Settings,
             monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Run every queued stage job in this process (what a worker would do)."""
    import queues.runner

    monkeypatch.setattr(queues.runner, "process_settings", lambda: settings)

    def run() -> None:
        queue = pipeline_queue(sync_client, settings)
        SimpleWorker([queue], connection=sync_client).work(burst=True)

    return run


def video_file(path: Path, filename: str | None = None) -> FileStorage:
    return FileStorage(io.BytesIO(path.read_bytes()), filename=filename or path.name,
                       content_type="video/mp4")


async def upload(client: QuartClient, path: Path, *, filename: str | None = None,
                 part: str = "file", **form: str) -> Any:
    return await client.post("/api/v1/video/upload", form=form,
                             files={part: video_file(path, filename)})
