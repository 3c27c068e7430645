"""The synchronous endpoints old clients use: same pipeline, answer when done."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from quart.testing import QuartClient

from tests.api.conftest import video_file
from tests.api.test_upload import assert_problem


async def run_while(request: asyncio.Future, run_jobs: Callable[[], None]):  # noqa: ANN201
    """Act as a worker until the request has been answered."""
    task = asyncio.ensure_future(request)
    while not task.done():
        run_jobs()  # RQ workers install signal handlers: main thread only
        await asyncio.sleep(0.05)
    return task.result()


async def test_legacy_highlights(client: QuartClient, small_video: Path,
                                 run_jobs: Callable[[], None]) -> None:
    response = await run_while(client.post("/analyze/highlights",
                                            files={"file": video_file(small_video)}), run_jobs)
    assert response.status_code == 200
    body = await response.get_json()
    assert body["status"] == "completed" and body["analysis"] == "highlights"
    assert body["workout"] is None and isinstance(body["highlights"], list)


async def test_legacy_workout(client: QuartClient, small_video: Path,
                              run_jobs: Callable[[], None]) -> None:
    response = await run_while(client.post("/analyze/workout",
                                            files={"video": video_file(small_video)}), run_jobs)
    assert response.status_code == 200
    body = await response.get_json()
    assert body["analysis"] == "workout" and body["reel"] is None
    assert body["workout"]["total_reps"] >= 0


async def test_legacy_bad_input_same_rules(client: QuartClient, tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("hello")
    response = await client.post("/analyze/highlights", files={"file": video_file(text)})
    await assert_problem(response, 422)


async def test_legacy_timeout_is_504(make_app, small_video: Path) -> None:  # noqa: ANN001
    app = make_app(legacy_timeout=0.3)
    async with app.test_app():
        response = await app.test_client().post("/analyze/highlights",
                                                files={"file": video_file(small_video)})
        body = await assert_problem(response, 504)
        status = await app.test_client().get(f"/api/v1/video/status/{body['session_id']}")
        assert (await status.get_json())["status"] == "cancelled"
