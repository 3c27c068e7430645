"""Status, results, reel, cancel and cleanup through the real app on fakeredis."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import fakeredis
import pytest
from quart.testing import QuartClient

from queues import keys
from queues.settings import Settings
from tests.api.conftest import upload
from tests.api.test_upload import assert_problem


async def new_session(client: QuartClient, video: Path, **form: str) -> str:
    response = await upload(client, video, **form)
    assert response.status_code == 202
    return (await response.get_json())["session_id"]


async def test_status_of_a_queued_session(client: QuartClient, small_video: Path) -> None:
    sid = await new_session(client, small_video)
    response = await client.get(f"/api/v1/video/status/{sid}")
    assert response.status_code == 200
    assert int(response.headers["Retry-After"]) >= 1
    body = await response.get_json()
    assert body["status"] == "queued" and body["progress"] == 0 and body["error"] is None
    assert [s["name"] for s in body["stages"]] == ["decode", "score", "select", "render"]


async def test_results_before_completion_are_202(client: QuartClient, small_video: Path) -> None:
    sid = await new_session(client, small_video)
    response = await client.get(f"/api/v1/video/results/{sid}")
    assert response.status_code == 202
    assert "Retry-After" in response.headers
    assert (await response.get_json())["status"] == "queued"


async def test_completed_highlights_session(client: QuartClient, small_video: Path,
                                            run_jobs: Callable[[], None]) -> None:
    sid = await new_session(client, small_video, target_duration="3")
    run_jobs()
    status = await client.get(f"/api/v1/video/status/{sid}")
    body = await status.get_json()
    assert body["status"] == "completed" and body["progress"] == 100
    assert "Retry-After" not in status.headers
    assert all(s["status"] == "completed" and s["progress"] == 100 for s in body["stages"])
    results = await (await client.get(f"/api/v1/video/results/{sid}")).get_json()
    assert results["session_id"] == sid and results["schema_version"] == 1
    assert results["video"]["width"] == 320 and results["video"]["has_audio"] is True
    assert results["workout"] is None
    starts = [h["start"] for h in results["highlights"]]
    assert starts == sorted(starts)
    for h in results["highlights"]:
        assert 0 <= h["start"] < h["end"] <= results["video"]["duration"] + 1e-6
        assert 0 <= h["score"] <= 1
    if results["highlights"]:
        reel = results["reel"]
        assert reel["url"] == f"/api/v1/video/results/{sid}/reel.mp4"
        total = sum(h["end"] - h["start"] for h in results["highlights"])
        assert abs(reel["duration"] - total) <= 0.5
        response = await client.get(reel["url"])
        assert response.status_code == 200 and response.content_type == "video/mp4"
        data = await response.get_data()
        ranged = await client.get(reel["url"], headers={"Range": "bytes=0-99"})
        assert ranged.status_code == 206
        assert await ranged.get_data() == data[:100]
        assert ranged.headers["Content-Range"] == f"bytes 0-99/{len(data)}"


async def test_workout_session_without_render(client: QuartClient, small_video: Path,
                                              run_jobs: Callable[[], None]) -> None:
    sid = await new_session(client, small_video, analysis="all", render="false")
    run_jobs()
    body = await (await client.get(f"/api/v1/video/status/{sid}")).get_json()
    assert body["status"] == "completed"
    assert {s["name"]: s["status"] for s in body["stages"]}["render"] == "skipped"
    results = await (await client.get(f"/api/v1/video/results/{sid}")).get_json()
    assert results["reel"] is None
    assert set(results["workout"]) >= {"total_reps", "sets", "active_seconds", "rest_seconds"}
    reel = await client.get(f"/api/v1/video/results/{sid}/reel.mp4")
    await assert_problem(reel, 404)


@pytest.mark.parametrize("route", ["status/{}", "results/{}", "results/{}/reel.mp4"])
async def test_unknown_ids_are_404(client: QuartClient, route: str) -> None:
    for sid in ("A" * 32, "not-an-id", "..%2F..%2Fetc"):
        await assert_problem(await client.get("/api/v1/video/" + route.format(sid)), 404)


async def test_cancel_queued_session(client: QuartClient, small_video: Path,
                                     run_jobs: Callable[[], None], settings: Settings) -> None:
    sid = await new_session(client, small_video)
    response = await client.post(f"/api/v1/video/cancel/{sid}")
    assert response.status_code == 200
    assert await response.get_json() == {"session_id": sid, "status": "cancelled"}
    again = await client.post(f"/api/v1/video/cancel/{sid}")
    assert again.status_code == 200 and (await again.get_json())["status"] == "cancelled"
    run_jobs()  # nothing may run after a cancel
    body = await (await client.get(f"/api/v1/video/status/{sid}")).get_json()
    assert body["status"] == "cancelled"
    assert all(s["status"] == "cancelled" for s in body["stages"])
    workspace = settings.media_root / "sessions" / sid
    assert list(workspace.iterdir()) == []  # the upload is removed as the session ends
    results = await client.get(f"/api/v1/video/results/{sid}")
    assert (await assert_problem(results, 409))["session_status"] == "cancelled"


async def test_cancel_completed_is_409(client: QuartClient, small_video: Path,
                                       run_jobs: Callable[[], None]) -> None:
    sid = await new_session(client, small_video, render="false")
    run_jobs()
    await assert_problem(await client.post(f"/api/v1/video/cancel/{sid}"), 409)
    await assert_problem(await client.post(f"/api/v1/video/cancel/{'B' * 32}"), 404)


async def test_cleanup_removes_everything_and_leaves_a_tombstone(
        client: QuartClient, small_video: Path, run_jobs: Callable[[], None],
        settings: Settings, sync_client: fakeredis.FakeRedis) -> None:
    sid = await new_session(client, small_video)
    run_jobs()
    response = await client.delete(f"/api/v1/video/cleanup/{sid}")
    assert response.status_code == 200
    assert await response.get_json() == {"session_id": sid, "status": "deleted"}
    assert not (settings.media_root / "sessions" / sid).exists()
    assert [k.decode() for k in sync_client.keys(f"*{sid}*")] == [keys.tombstone_key(sid)]
    for method, route in [("get", "status"), ("get", "results"), ("post", "cancel"),
                          ("delete", "cleanup")]:
        answer = await getattr(client, method)(f"/api/v1/video/{route}/{sid}")
        await assert_problem(answer, 410)
    sync_client.delete(keys.tombstone_key(sid))  # the tombstone expired
    await assert_problem(await client.get(f"/api/v1/video/status/{sid}"), 404)


async def test_failed_session_reports_problem(client: QuartClient, small_video: Path,
                                              run_jobs: Callable[[], None],
                                              settings: Settings) -> None:
    sid = await new_session(client, small_video)
    # The file passed the upload probe but is damaged on disk before decoding.
    (settings.media_root / "sessions" / sid / "source").write_bytes(b"garbage" * 100)
    run_jobs()
    body = await (await client.get(f"/api/v1/video/status/{sid}")).get_json()
    assert body["status"] == "failed"
    assert body["error"]["title"] and body["error"]["detail"]
    assert [s["status"] for s in body["stages"]] == ["failed", "cancelled", "cancelled",
                                                     "cancelled"]
    assert (await assert_problem(await client.get(f"/api/v1/video/results/{sid}"), 409))[
        "error"]["code"] == "unreadable_video"
