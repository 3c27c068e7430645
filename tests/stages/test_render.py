"""Render stage: codec, frame-exact cuts, size cap, rotation, faststart, cancellation."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from stages import render
from stages.context import NullContext
from stages.errors import RenderFailed, StageCancelled
from stages.ffmpeg import ffmpeg_exe
from stages.probe import VideoInfo, probe
from stages.records.highlights import Segment, Selection
from stages.render import Reel, reel_size, render_reel
from stages.workspace import REEL, REEL_META, SOURCE, Workspace
from tests.stages.conftest import CancelAfter, leftovers

WorkspaceFor = Callable[[Path], Workspace]

FPS = 25
# Starts on exact frame times and between frames (0.5 s lies between frames 12 and 13).
SEGMENTS = [(0.5, 1.5), (3.04, 4.0), (2.0, 2.52)]
FIRST_FRAMES = [13, 76, 50]  # the first source frame at or after each start
FRAME_COUNTS = [25, 24, 13]  # frames whose time lies in [start, end)


@pytest.fixture(scope="module")
def clip(video_factory: Callable[..., Path]) -> Path:
    """6 s testsrc2 (every frame differs), 320x240 at 25 fps, with AAC audio."""
    return video_factory("render-src", seconds=6, fps=FPS)


def make_reel(tmp_path: Path, source: Path, segments: list[tuple[float, float]],
              max_height: int = 720) -> tuple[Reel | None, Path]:
    out = tmp_path / "reel.mp4"
    return render_reel(source, segments, probe(source), out, max_height, lambda _: None), out


def gray_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="gray").astype(np.int16) for f in container.decode(video=0)]


def top_level_boxes(path: Path) -> list[str]:
    """The MP4's top-level atoms in file order."""
    boxes, data = [], path.read_bytes()
    offset = 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset:offset + 4], "big")
        boxes.append(data[offset + 4:offset + 8].decode("latin-1"))
        if size == 1:  # 64-bit size follows the type
            size = int.from_bytes(data[offset + 8:offset + 16], "big")
        if size < 8:
            break
        offset += size
    return boxes


def test_reel_is_browser_playable_h264_high_with_stereo_aac(tmp_path: Path, clip: Path) -> None:
    reel, out = make_reel(tmp_path, clip, SEGMENTS)
    with av.open(str(out)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264"
        assert video.codec_context.profile == "High"
        assert video.codec_context.pix_fmt == "yuv420p"
        assert audio.codec_context.name == "aac"
        assert audio.codec_context.channels == 2
    boxes = top_level_boxes(out)
    assert boxes.index("moov") < boxes.index("mdat")  # +faststart
    assert reel is not None and (reel.width, reel.height) == (320, 240)
    assert reel.duration == pytest.approx(2.48, abs=1 / FPS)


def test_silent_source_gives_a_reel_without_audio(tmp_path: Path,
                                                  video_factory: Callable[..., Path]) -> None:
    silent = video_factory("render-silent", seconds=3, audio=False)
    reel, out = make_reel(tmp_path, silent, [(0.4, 1.4), (2.0, 2.8)])
    with av.open(str(out)) as container:
        assert len(container.streams.video) == 1
        assert not container.streams.audio
    assert reel is not None and reel.duration == pytest.approx(1.8, abs=1 / FPS)


def test_every_segment_starts_on_its_frame_and_keeps_its_length(tmp_path: Path,
                                                                clip: Path) -> None:
    _, out = make_reel(tmp_path, clip, SEGMENTS)
    source, reel = gray_frames(clip), gray_frames(out)
    assert len(reel) == sum(FRAME_COUNTS)
    first_in_reel = np.cumsum([0, *FRAME_COUNTS[:-1]])
    for reel_index, expected in zip(first_in_reel, FIRST_FRAMES, strict=True):
        # Neighbouring testsrc2 frames differ clearly; lossy coding differs a little.
        candidates = range(expected - 2, expected + 3)
        diffs = [np.abs(reel[reel_index] - source[i]).mean() for i in candidates]
        assert candidates[int(np.argmin(diffs))] == expected


def test_audio_lasts_as_long_as_the_video(tmp_path: Path, clip: Path) -> None:
    _, out = make_reel(tmp_path, clip, SEGMENTS)
    with av.open(str(out)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.duration and video.time_base and audio.duration and audio.time_base
        video_seconds = float(video.duration * video.time_base)
        audio_seconds = float(audio.duration * audio.time_base)
    assert audio_seconds == pytest.approx(video_seconds, abs=0.05)


@pytest.mark.parametrize(("max_height", "size"), [(120, (160, 120)), (720, (320, 240))],
                         ids=["capped", "never-upscaled"])
def test_height_is_capped_without_upscaling(tmp_path: Path, clip: Path, max_height: int,
                                            size: tuple[int, int]) -> None:
    reel, _ = make_reel(tmp_path, clip, [(1.0, 2.0)], max_height=max_height)
    assert reel is not None and (reel.width, reel.height) == size


def test_non_square_pixels_come_out_square(tmp_path: Path,
                                           video_factory: Callable[..., Path]) -> None:
    stretched = video_factory("render-sar", seconds=2, audio=False,
                              extra_video_args=("-vf", "setsar=2"))
    reel, out = make_reel(tmp_path, stretched, [(0.0, 1.0)])
    assert reel is not None and (reel.width, reel.height) == (640, 240)
    with av.open(str(out)) as container:
        assert container.streams.video[0].sample_aspect_ratio in (None, Fraction(1))


def test_rotated_source_comes_out_upright(tmp_path: Path,
                                          video_factory: Callable[..., Path]) -> None:
    rotated = video_factory("render-rot", seconds=3, audio=False, rotate=90)
    reel, out = make_reel(tmp_path, rotated, [(1.0, 2.0)])
    assert reel is not None and (reel.width, reel.height) == (240, 320)
    source, frames = gray_frames(rotated), gray_frames(out)
    # Display rotation 90 means "turn the stored picture a quarter counter-clockwise".
    upright = np.rot90(source[FPS], 1)
    assert np.abs(frames[0] - upright).mean() < 0.1 * np.abs(frames[0] - upright[::-1, ::-1]).mean()
    with av.open(str(out)) as container:
        first = next(container.decode(video=0))
        assert not first.rotation  # no display matrix left to rotate it twice


@pytest.mark.parametrize(("size", "rotation", "sar", "cap", "expected"), [
    ((1920, 1080), 0, 1.0, 720, (1280, 720)),
    ((1920, 1080), 90, 1.0, 720, (404, 720)),
    ((720, 576), 0, 16 / 15, 1080, (768, 576)),
    ((321, 241), 180, 1.0, 720, (320, 240)),
], ids=["landscape", "portrait", "pal-4:3", "odd-dims"])
def test_reel_size(size: tuple[int, int], rotation: int, sar: float, cap: int,
                   expected: tuple[int, int]) -> None:
    assert reel_size(*size, rotation, sar, cap) == expected


def test_no_segments_render_nothing(tmp_path: Path, clip: Path) -> None:
    reel, out = make_reel(tmp_path, clip, [])
    assert reel is None and not out.exists()


def write_session(ws: Workspace, segments: list[tuple[float, float]]) -> Workspace:
    """SOURCE is there; add what the probe and select stages would have written."""
    info = probe(ws.path(SOURCE))
    info.save(ws)
    # The frame numbers are the select stage's bookkeeping; render cuts by the times.
    Selection([Segment(s, e, 0.5, round(s * info.fps), round(e * info.fps))
               for s, e in segments]).save(ws)
    return ws


def test_run_commits_reel_and_meta(workspace_for: WorkspaceFor, clip: Path) -> None:
    ws = write_session(workspace_for(clip), SEGMENTS)
    ctx = NullContext(ws)
    render.run(ctx)
    assert ws.read_json(REEL_META) == {"duration": pytest.approx(2.48, abs=1 / FPS),
                                       "width": 320, "height": 240}
    assert ws.exists(REEL) and leftovers(ws) == []
    assert ctx.reported[-1] == 1.0


def test_run_without_segments_leaves_no_reel(workspace_for: WorkspaceFor, clip: Path) -> None:
    ws = write_session(workspace_for(clip), [])
    render.run(NullContext(ws))
    assert not ws.exists(REEL) and not ws.exists(REEL_META)


def test_cancellation_kills_ffmpeg_and_leaves_no_partial_file(
        workspace_for: WorkspaceFor, video_factory: Callable[..., Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Big enough that encoding outlasts the first progress poll on a fast machine.
    big = video_factory("render-big", seconds=4, size="1280x720", audio=False)
    ws = write_session(workspace_for(big), [(0.0, 4.0)])
    started: list[subprocess.Popen[str]] = []
    real_popen = subprocess.Popen

    def spy(*args: object, **kwargs: object) -> subprocess.Popen[str]:
        started.append(real_popen(*args, **kwargs))  # type: ignore[call-overload]
        return started[-1]

    monkeypatch.setattr(render.subprocess, "Popen", spy)
    begun = time.monotonic()
    with pytest.raises(StageCancelled):
        render.run(CancelAfter(ws, 1))
    assert time.monotonic() - begun < 2.0
    assert started[0].returncode == -9  # killed mid-encode, and reaped
    assert leftovers(ws) == []
    assert not ws.exists(REEL) and not ws.exists(REEL_META)


def test_ffmpeg_failure_is_render_failed_with_a_short_detail(tmp_path: Path,
                                                             clip: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all\n" * 100)
    out = tmp_path / "reel.mp4"
    info: VideoInfo = probe(clip)
    with pytest.raises(RenderFailed) as failure:
        render_reel(broken, [(0.0, 1.0)], info, out, 720, lambda _: None)
    assert "ffmpeg exited" in failure.value.detail
    assert len(failure.value.detail) < 800
    assert not out.exists()


def test_reel_decodes_without_any_error(tmp_path: Path, clip: Path) -> None:
    _, out = make_reel(tmp_path, clip, SEGMENTS)
    check = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(out), "-f", "null", "-"],
                           capture_output=True, text=True, check=True)
    assert check.stderr == "" and check.stdout == ""


def test_crossfade_overlaps_neighbours(tmp_path: Path, clip: Path) -> None:
    out = tmp_path / "xfade.mp4"
    reel = render_reel(clip, SEGMENTS, probe(clip), out, 720, lambda _: None, crossfade=0.2)
    assert reel is not None
    # three segments, two joins of 0.2 s each
    assert reel.duration == pytest.approx(sum(FRAME_COUNTS) / FPS - 0.4, abs=1.5 / FPS)
    frames = gray_frames(out)
    first = gray_frames(clip)[FIRST_FRAMES[0]]
    assert np.abs(frames[0] - first).mean() < 8  # the first segment starts unblended
    with av.open(str(out)) as container:
        audio = container.streams.audio[0]
        assert audio.duration and audio.time_base
        assert float(audio.duration * audio.time_base) == pytest.approx(reel.duration, abs=0.05)
