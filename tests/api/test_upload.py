"""POST /api/v1/video/upload: acceptance, validation and every kind of bad input."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import fakeredis
import pytest
from quart.datastructures import FileStorage
from quart.testing import QuartClient

from queues import keys
from queues.settings import Settings
from tests.api.conftest import upload, video_file
from tests.media import make_video


def workspaces(settings: Settings) -> list[Path]:
    root = settings.media_root / "sessions"
    return sorted(root.iterdir()) if root.exists() else []


async def assert_problem(response, status: int) -> dict:  # noqa: ANN001
    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    body = await response.get_json()
    assert body["status"] == status and body["title"] and body["type"]
    assert body["detail"] and "Traceback" not in body["detail"]
    return body


async def test_upload_is_accepted(client: QuartClient, small_video: Path, settings: Settings,
                                  sync_client: fakeredis.FakeRedis) -> None:
    response = await upload(client, small_video, analysis="all", target_duration="6")
    assert response.status_code == 202
    body = await response.get_json()
    sid = body["session_id"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", sid)
    assert response.headers["Location"] == f"/api/v1/video/status/{sid}"
    assert body["status"] == "queued" and body["analysis"] == "all"
    assert body["status_url"] == f"/api/v1/video/status/{sid}"
    assert body["results_url"] == f"/api/v1/video/results/{sid}"
    assert body["created_at"] < body["expires_at"]
    stored = settings.media_root / "sessions" / sid / "source"
    assert stored.read_bytes() == small_video.read_bytes()
    assert sync_client.exists(keys.session_key(sid))


async def test_part_named_video_is_accepted(client: QuartClient, small_video: Path) -> None:
    response = await upload(client, small_video, part="video")
    assert response.status_code == 202


async def test_ids_are_unique(client: QuartClient, small_video: Path) -> None:
    ids = {(await (await upload(client, small_video)).get_json())["session_id"] for _ in range(3)}
    assert len(ids) == 3


async def test_path_like_filename_never_becomes_a_path(client: QuartClient, small_video: Path,
                                                       settings: Settings, tmp_path: Path) -> None:
    response = await upload(client, small_video, filename="../../../../tmp/evil.mp4")
    assert response.status_code == 202
    sid = (await response.get_json())["session_id"]
    assert sorted(p.name for p in (settings.media_root / "sessions" / sid).iterdir()) == ["source"]
    assert not Path("/tmp/evil.mp4").exists()


@pytest.mark.parametrize("kind", ["empty", "text", "png", "audio_only", "truncated"])
async def test_undecodable_uploads_are_refused(client: QuartClient, settings: Settings,
                                               tmp_path: Path, small_video: Path,
                                               bad_file: dict[str, Path], kind: str) -> None:
    response = await upload(client, bad_file[kind], filename="clip.mp4")
    body = await assert_problem(response, 422)
    assert body["code"] in ("unreadable_video",)
    assert workspaces(settings) == []
    # the service keeps working after a bad upload
    assert (await upload(client, small_video)).status_code == 202


async def test_oversized_upload_is_413_and_leaves_nothing(make_app, settings: Settings,  # noqa: ANN001
                                                          small_video: Path) -> None:
    app = make_app(max_upload_bytes=10_000)
    async with app.test_app():
        response = await upload(app.test_client(), small_video)
        body = await assert_problem(response, 413)
        assert "limit" in body["detail"]
    assert workspaces(settings) == []


async def test_missing_file_is_400(client: QuartClient) -> None:
    response = await client.post("/api/v1/video/upload", form={"analysis": "highlights"})
    await assert_problem(response, 400)


async def test_non_multipart_is_400(client: QuartClient) -> None:
    response = await client.post("/api/v1/video/upload", json={"file": "x"})
    await assert_problem(response, 400)


@pytest.mark.parametrize("form", [
    {"analysis": "dance"}, {"target_duration": "-3"}, {"target_duration": "abc"},
    {"target_duration": "nan"}, {"max_highlights": "0"}, {"max_highlights": "2.5"},
    {"render": "maybe"}, {"max_highlights": "1" * 400}, {"target_duration": "9" * 400},
    {"padding": "1" * 400 + ".5"}, {"max_highlights": " 12 "}, {"max_highlights": "1_0"},
    {"max_highlights": "١٢"}, {"target_duration": "1e1"}, {"analysis": " all"},
], ids=lambda f: "-".join(f"{k}={v[:12]}" for k, v in f.items()))
async def test_bad_options_are_400(client: QuartClient, small_video: Path, settings: Settings,
                                   form: dict[str, str]) -> None:
    response = await upload(client, small_video, **form)
    body = await assert_problem(response, 400)
    assert next(iter(form)) in body["detail"]
    assert workspaces(settings) == []


async def test_redis_down_is_503_with_retry_after(make_app, small_video: Path,  # noqa: ANN001
                                                  server: fakeredis.FakeServer,
                                                  settings: Settings) -> None:
    app = make_app()
    async with app.test_app():
        server.connected = False
        response = await upload(app.test_client(), small_video)
        await assert_problem(response, 503)
        assert int(response.headers["Retry-After"]) > 0
    assert workspaces(settings) == []


@pytest.fixture(scope="module")
def bad_file(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One file per kind of bad upload."""
    import subprocess

    from stages.ffmpeg import ffmpeg_exe

    d = tmp_path_factory.mktemp("bad")
    files = {"empty": d / "empty.mp4", "text": d / "text.mp4", "png": d / "image.png",
             "audio_only": d / "audio.m4a", "truncated": d / "truncated.mp4"}
    files["empty"].write_bytes(b"")
    files["text"].write_text("this is not a video\n" * 100)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=64x64", "-frames:v", "1", str(files["png"])], check=True)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    "sine=duration=2", "-c:a", "aac", str(files["audio_only"])], check=True)
    full = make_video(d / "full.mp4", seconds=3)
    files["truncated"].write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    return files


async def test_every_part_counts_towards_the_limit(make_app, settings: Settings,  # noqa: ANN001
                                                   small_video: Path) -> None:
    app = make_app(max_upload_bytes=10_000)
    async with app.test_app():
        padding = FileStorage(io.BytesIO(b"\0" * (2 * 1024 * 1024)), filename="pad.bin")
        response = await app.test_client().post(
            "/api/v1/video/upload", files={"extra": padding, "file": video_file(small_video)})
        body = await assert_problem(response, 413)
        assert body["code"] == "too_large"
    assert workspaces(settings) == []


async def test_form_without_a_chosen_file_is_400(client: QuartClient) -> None:
    empty = FileStorage(io.BytesIO(b""), filename="", content_type="application/octet-stream")
    response = await client.post("/api/v1/video/upload", files={"file": empty})
    assert "No video" in (await assert_problem(response, 400))["detail"]


async def test_file_sent_as_a_plain_field_is_explained(client: QuartClient) -> None:
    body = (b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nclip.mp4\r\n'
            b"--b--\r\n")
    response = await client.post("/api/v1/video/upload", data=body, headers={
        "Content-Type": "multipart/form-data; boundary=b"})
    assert "file upload" in (await assert_problem(response, 400))["detail"]


async def test_stalled_upload_times_out(tmp_path: Path) -> None:
    from api.errors import RequestTimeout
    from api.pace import UploadLimits
    from api.upload import receive_upload
    from stages.workspace import Storage

    async def stalling_body():  # noqa: ANN202
        yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n\r\n"
        await asyncio.sleep(5)

    workspace = Storage(tmp_path).create("S" * 32)
    limits = UploadLimits(1000, idle_timeout=0.1, deadline=10, min_rate=0)
    with pytest.raises(RequestTimeout) as caught:
        await receive_upload("multipart/form-data; boundary=b", stalling_body(), workspace,
                             limits, check_fields=lambda fields: None)
    assert caught.value.code == "upload_stalled"


async def test_selection_can_be_steered(client: QuartClient, small_video: Path,
                                        sync_client: fakeredis.FakeRedis) -> None:
    import json

    response = await upload(client, small_video, min_clip="1.5", max_clip="3", padding="0.25")
    assert response.status_code == 202
    sid = (await response.get_json())["session_id"]
    options = json.loads(sync_client.hget(keys.session_key(sid), "options"))
    assert (options["min_clip"], options["max_clip"], options["padding"]) == (1.5, 3.0, 0.25)
    bad = await upload(client, small_video, min_clip="5", max_clip="2")
    assert "min_clip" in (await assert_problem(bad, 400))["detail"]
