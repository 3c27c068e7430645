"""Hostile and unusual uploads through the API: refused with a 422 a person can act on, or
analysed; never a 500."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from quart import Quart
from quart.testing import QuartClient

from queues.settings import Settings
from tests import hostile
from tests.api.conftest import upload, video_file
from tests.api.test_legacy import run_while
from tests.api.test_upload import assert_problem, workspaces

# kind: (make the file, settings overrides, problem code, words of the detail)
REFUSED: dict[str, tuple[Callable[[Path], Path], dict[str, object], str, str]] = {
    "understated-length": (lambda d: hostile.lying_mkv(d / "liar.mkv", real=60, declared=2),
                           {"max_video_seconds": 5}, "video_too_long", "declares 2 s"),
    "picture-over-limit": (lambda d: hostile.big_picture(d / "wide.mp4", 2600, 1500),
                           {"max_picture_side": 1920}, "picture_too_large", "2600x1500"),
    "picture-bomb": (lambda d: hostile.picture_bomb(d / "bomb.h264"), {},
                     "picture_too_large", "16000x16000"),
    "frame-rate": (lambda d: hostile.high_frame_rate(d / "fast.mp4", 300), {},
                   "frame_rate_too_high", "the limit is 240"),
    "streams": (lambda d: hostile.many_tracks(d / "tracks.mkv", 16), {},
                "too_many_streams", "17 streams"),
}


@pytest.mark.parametrize("kind", REFUSED, ids=list(REFUSED))
async def test_upload_beyond_a_limit_is_422(kind: str, make_app: Callable[..., Quart],
                                            settings: Settings, tmp_path: Path) -> None:
    make, overrides, code, words = REFUSED[kind]
    app = make_app(**overrides)
    async with app.test_app():
        body = await assert_problem(await upload(app.test_client(), make(tmp_path)), 422)
    assert body["code"] == code and body["type"] == f"/problems/{code.replace('_', '-')}"
    assert words in body["detail"]
    assert workspaces(settings) == []


@pytest.mark.parametrize("codec", ["h264", "hevc"])
async def test_raw_stream_upload_is_analysed(codec: str, client: QuartClient, tmp_path: Path,
                                             run_jobs: Callable[[], None]) -> None:
    raw = hostile.raw_stream(tmp_path / f"clip.{codec}", codec)
    response = await upload(client, raw, analysis="all")
    assert response.status_code == 202  # was 500: the probe's seek raised
    sid = (await response.get_json())["session_id"]
    run_jobs()
    results = await (await client.get(f"/api/v1/video/results/{sid}")).get_json()
    assert results["status"] == "completed" and results["video"]["duration"] == 2.0
    assert results["reel"] is not None and results["workout"] is not None


async def test_raw_stream_on_the_legacy_endpoint(client: QuartClient, tmp_path: Path,
                                                 run_jobs: Callable[[], None]) -> None:
    raw = hostile.raw_stream(tmp_path / "clip.h264", "h264")
    response = await run_while(client.post("/analyze/highlights",
                                            files={"file": video_file(raw)}), run_jobs)
    assert response.status_code == 200
    assert (await response.get_json())["status"] == "completed"


async def test_sparse_keyframe_ts_is_accepted(client: QuartClient, tmp_path: Path) -> None:
    clip = hostile.sparse_keyframe_ts(tmp_path / "clip.ts")
    assert (await upload(client, clip)).status_code == 202  # was 422 "stops early"
