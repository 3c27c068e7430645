"""End to end through real processes: upload, poll, results, reel, cancel, cleanup, legacy."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import av
import pytest
from rq.job import Job

from tests.integration.conftest import MAX_UPLOAD, Service
from tests.media import make_video

API = "/api/v1/video"


@pytest.fixture(scope="module")
def clips(video_factory: Callable[..., Path]) -> dict[str, Path]:
    return {
        "audio": video_factory("int-audio", seconds=12, size="320x240", fps=25),
        "silent": video_factory("int-silent", seconds=10, size="320x240", fps=30, audio=False),
        "long": video_factory("int-long", seconds=90, size="640x360", fps=30),
    }


def upload_ok(service: Service, video: Path, **fields: str) -> str:
    reply = service.client.upload(f"{API}/upload", video, **fields)
    assert reply.status == 202, reply.body
    return reply.json()["session_id"]


def remaining(service: Service, sid: str) -> tuple[list[str], list[str]]:
    keys = sorted(k.decode() for k in service.redis.keys(f"*{sid}*"))
    files = [p.name for p in (service.media_root / "sessions" / sid).glob("*")]
    return keys, files


def assert_problem(reply, status: int) -> dict:  # noqa: ANN001
    assert reply.status == status, reply.body
    assert reply.content_type.startswith("application/problem+json"), reply.content_type
    body = reply.json()
    assert body["status"] == status and body["detail"] and "Traceback" not in reply.body.decode()
    return body


def test_highlights_with_audio_end_to_end(service: Service, clips: dict[str, Path],
                                          tmp_path: Path) -> None:
    sid = upload_ok(service, clips["audio"], target_duration="6", max_highlights="3")
    seen = service.client.wait(sid)
    assert seen[-1]["status"] == "completed", seen[-1]
    progress = [s["progress"] for s in seen]
    assert progress == sorted(progress) and progress[-1] == 100
    results = service.client.get(f"{API}/results/{sid}").json()
    highlights = results["highlights"]
    assert highlights and len(highlights) <= 3
    total = sum(h["end"] - h["start"] for h in highlights)
    reel = service.client.get(results["reel"]["url"])
    assert reel.status == 200 and reel.content_type == "video/mp4"
    path = tmp_path / "reel.mp4"
    path.write_bytes(reel.body)
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "h264"
        assert [a.codec_context.name for a in container.streams.audio] == ["aac"]
        assert abs(container.duration / 1e6 - total) <= 0.5
    assert reel.body.find(b"moov") < reel.body.find(b"mdat")  # +faststart
    ranged = service.client.get(results["reel"]["url"], headers={"Range": "bytes=100-199"})
    assert ranged.status == 206 and ranged.body == reel.body[100:200]


def test_workout_without_audio(service: Service, clips: dict[str, Path]) -> None:
    sid = upload_ok(service, clips["silent"], analysis="workout")
    assert service.client.wait(sid)[-1]["status"] == "completed"
    results = service.client.get(f"{API}/results/{sid}").json()
    assert results["video"]["has_audio"] is False and results["reel"] is None
    assert results["highlights"] == [] and results["workout"]["total_reps"] >= 0


def test_two_sessions_run_concurrently(service: Service, clips: dict[str, Path]) -> None:
    sids = [upload_ok(service, clips["long"], analysis="workout") for _ in range(2)]
    for sid in sids:
        assert service.client.wait(sid, timeout=180)[-1]["status"] == "completed"
    decodes = [Job.fetch(f"vs-decode-{sid}", connection=service.redis) for sid in sids]
    assert decodes[0].worker_name != decodes[1].worker_name
    first, second = sorted(decodes, key=lambda j: j.started_at)
    assert second.started_at < first.ended_at, "the two decodes did not overlap"


def test_workers_and_their_ffmpeg_run_below_the_web(service: Service,
                                                   clips: dict[str, Path]) -> None:
    import psutil

    sid = upload_ok(service, clips["long"], render="false")
    service.client.wait(sid, until=("processing",))
    own = psutil.Process().nice()
    niced = {}
    deadline = time.monotonic() + 30
    while not any("ffmpeg" in name for name in niced) and time.monotonic() < deadline:
        for worker in service.workers:
            for proc in [psutil.Process(worker.pid), *psutil.Process(worker.pid).children(True)]:
                try:
                    niced[f"{proc.name()}-{proc.pid}"] = proc.nice()
                except psutil.NoSuchProcess:
                    continue
        time.sleep(0.05)
    assert any("ffmpeg" in name for name in niced), niced
    assert set(niced.values()) == {own + 10}, niced  # the default WORKER_NICE
    assert service.client.wait(sid, timeout=120)[-1]["status"] == "completed"


def test_cancel_mid_stage(service: Service, clips: dict[str, Path]) -> None:
    sid = upload_ok(service, clips["long"])
    seen = service.client.wait(sid, until=("processing",))
    while seen[-1]["stage"] != "decode" or seen[-1]["stages"][0]["progress"] < 5:
        seen = service.client.wait(sid, until=("processing",))
    reply = service.client.post(f"{API}/cancel/{sid}")
    asked = time.monotonic()
    assert reply.status in (200, 202) and reply.json()["status"] in ("cancelling", "cancelled")
    final = service.client.wait(sid, timeout=10)[-1]
    assert final["status"] == "cancelled" and time.monotonic() - asked < 2.5
    time.sleep(1)  # nothing may start or appear afterwards
    final = service.client.get(f"{API}/status/{sid}").json()
    assert final["status"] == "cancelled"
    assert [s["status"] for s in final["stages"]] == ["cancelled"] * 4
    assert remaining(service, sid)[1] == []  # the upload is removed as the session ends
    assert_problem(service.client.get(f"{API}/results/{sid}"), 409)
    assert service.client.post(f"{API}/cancel/{sid}").status == 200


def test_cleanup_leaves_nothing(service: Service, clips: dict[str, Path]) -> None:
    sid = upload_ok(service, clips["audio"], target_duration="3")
    assert service.client.wait(sid)[-1]["status"] == "completed"
    assert service.client.delete(f"{API}/cleanup/{sid}").json()["status"] == "deleted"
    keys, files = remaining(service, sid)
    assert keys == [f"vs:tomb:{sid}"] and files == []
    assert not (service.media_root / "sessions" / sid).exists()
    for route in ("status", "results"):
        assert_problem(service.client.get(f"{API}/{route}/{sid}"), 410)


def test_cleanup_of_a_running_session(service: Service, clips: dict[str, Path]) -> None:
    sid = upload_ok(service, clips["long"])
    service.client.wait(sid, until=("processing",))
    assert service.client.delete(f"{API}/cleanup/{sid}").status == 200
    time.sleep(2)  # a stage that was running must not write anything back
    keys, files = remaining(service, sid)
    assert keys == [f"vs:tomb:{sid}"] and files == []


def test_legacy_endpoints(service: Service, clips: dict[str, Path]) -> None:
    reply = service.client.upload("/analyze/highlights", clips["audio"])
    assert reply.status == 200, reply.body
    assert reply.json()["status"] == "completed" and reply.json()["highlights"]
    reply = service.client.upload("/analyze/workout", clips["silent"], part="video")
    assert reply.status == 200, reply.body
    assert reply.json()["workout"] is not None


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    import subprocess

    from stages.ffmpeg import ffmpeg_exe

    d = tmp_path_factory.mktemp("bad-int")
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x64",
                    "-frames:v", "1", str(d / "img.png")], check=True)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=2",
                    "-c:a", "aac", str(d / "a.m4a")], check=True)
    full = make_video(d / "full.mp4", seconds=3).read_bytes()
    return {"empty": b"", "text": b"hello, not a video\n" * 50,
            "truncated": full[: len(full) // 2], "image": (d / "img.png").read_bytes(),
            "audio_only": (d / "a.m4a").read_bytes()}


@pytest.mark.parametrize("kind", ["empty", "text", "truncated", "image", "audio_only"])
def test_bad_uploads_get_readable_errors(service: Service, bad_inputs: dict[str, bytes],
                                         clips: dict[str, Path], kind: str) -> None:
    reply = service.client.upload(f"{API}/upload", bad_inputs[kind], filename="clip.mp4")
    assert_problem(reply, 422)
    sid = upload_ok(service, clips["audio"], render="false")
    assert service.client.wait(sid)[-1]["status"] == "completed"


def test_oversized_upload_is_413(service: Service) -> None:
    reply = service.client.upload(f"{API}/upload", b"\0" * (MAX_UPLOAD + 1024))
    assert_problem(reply, 413)


def test_unknown_id_and_path_like_names(service: Service, clips: dict[str, Path]) -> None:
    assert_problem(service.client.get(f"{API}/status/{'x' * 32}"), 404)
    assert_problem(service.client.get(f"{API}/status/..%2F..%2Fetc%2Fpasswd"), 404)
    sid = upload_ok(service, clips["audio"], render="false")
    reply = service.client.upload(f"{API}/upload", clips["audio"], filename="../../evil.mp4")
    assert reply.status == 202
    assert not (service.media_root.parent / "evil.mp4").exists()
    assert service.client.wait(sid)[-1]["status"] == "completed"
