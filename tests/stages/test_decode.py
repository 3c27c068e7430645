"""Decode stage: frame cache size and rate, upright frames, the ffmpeg fallback, cancellation."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest

from stages import decode
from stages.audio import load_envelope
from stages.context import NullContext
from stages.errors import StageCancelled, UnreadableVideo
from stages.ffmpeg import ffmpeg_exe
from stages.framecache import FrameCache
from stages.options import AnalysisOptions
from stages.probe import VideoInfo, probe
from stages.workspace import AUDIO, FRAMES, FRAMES_META, PROBE, Workspace
from tests.stages.conftest import CancelAfter, leftovers

WorkspaceFor = Callable[[Path], Workspace]


def test_cache_holds_every_frame_at_the_analysis_size(small_video: Path,
                                                      workspace_for: WorkspaceFor) -> None:
    ws = workspace_for(small_video)
    ctx = NullContext(ws)
    decode.run(ctx)
    cache = FrameCache.open(ws)
    assert (cache.count, cache.height, cache.width) == (100, 120, 160)  # 4 s x 25 fps
    assert cache.fps == pytest.approx(25.0)
    assert np.allclose(np.diff(cache.times), 0.04, atol=1e-4) and cache.times[0] == 0
    assert VideoInfo.from_dict(ws.read_json(PROBE)) == probe(small_video)
    assert ctx.reported[-1] == 1.0 and ctx.reported == sorted(ctx.reported)
    assert leftovers(ws) == []


def test_rate_cap_keeps_every_kth_frame(small_video: Path, workspace_for: WorkspaceFor) -> None:
    ws = workspace_for(small_video)
    decode.run(NullContext(ws, AnalysisOptions(analysis_max_fps=10, analysis_long_side=96)))
    cache = FrameCache.open(ws)
    assert decode.frame_step(25, 10) == 3
    assert cache.count == 34  # frames 0, 3, ..., 99
    assert (cache.height, cache.width) == (72, 96)
    assert cache.fps == pytest.approx(25 / 3)
    assert np.allclose(np.diff(cache.times), 0.12, atol=1e-4)


def test_sound_envelope_only_when_there_is_sound(small_video: Path,
                                                 video_factory: Callable[..., Path],
                                                 workspace_for: WorkspaceFor) -> None:
    with_sound = workspace_for(small_video)
    decode.run(NullContext(with_sound))
    envelope = load_envelope(with_sound)
    assert envelope is not None and envelope.hop == 0.01
    assert len(envelope.rms_db) == pytest.approx(400, abs=3)
    # make_video's tone: a sine at 1/8 of full scale, about -21 dB RMS.
    assert np.median(envelope.rms_db) == pytest.approx(-21, abs=1.5)

    silent = workspace_for(video_factory("silent", audio=False, seconds=2))
    decode.run(NullContext(silent))
    assert not silent.exists(AUDIO) and load_envelope(silent) is None


@pytest.mark.parametrize("rotate", [90, 180])
def test_frames_are_upright(rotate: int, video_factory: Callable[..., Path],
                            workspace_for: WorkspaceFor) -> None:
    ws = workspace_for(video_factory(f"rot{rotate}", rotate=rotate, seconds=1, audio=False))
    decode.run(NullContext(ws))
    cache = FrameCache.open(ws)
    expected = (160, 120) if rotate == 90 else (120, 160)  # taller than wide when turned
    assert (cache.height, cache.width) == expected
    shown = _ffmpeg_frame(ws.path("source"), cache.width, cache.height)
    first = cache.frames[0].astype(int)
    assert np.abs(first - shown).mean() < 4
    assert np.abs(np.rot90(first, 2) - shown).mean() > 20


def _ffmpeg_frame(path: Path, width: int, height: int) -> np.ndarray:
    """First frame as ffmpeg shows it: autorotated, scaled, gray."""
    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-frames:v", "1",
                          "-vf", f"scale={width}:{height}:flags=area,format=gray",
                          "-f", "rawvideo", "pipe:"], capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(height, width).astype(int)


@pytest.mark.parametrize("step", [1, 2])
def test_ffmpeg_fallback_matches_decord(step: int, video_factory: Callable[..., Path]) -> None:
    path = video_factory("rot90", rotate=90, seconds=1, audio=False)
    size = (160, 120)
    a = _collect(decode.decord_batches(path, size, step, batch=8))
    b = _collect(decode.ffmpeg_batches(path, size, step, batch=8, fps=25.0))
    assert a[0].shape == b[0].shape == (25 // step + (25 % step > 0), 160, 120)
    assert np.abs(a[0].astype(int) - b[0]).mean() < 4
    assert np.allclose(a[1], b[1], atol=1e-3)


def test_frames_are_exactly_a_full_decode(video_factory: Callable[..., Path]) -> None:
    """Threads or not, the cache holds what a plain, full-quality decode shows, bit for bit:
    the analysis figures were tuned on exactly those frames."""
    # B-frames, deblocking and a keyframe a second (make_video's ultrafast has neither).
    path = video_factory("bframes", seconds=4, audio=False,
                         extra_video_args=("-preset", "veryfast", "-g", "25", "-b:v", "400k"))
    plain = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path),
                            "-vf", "scale=160:120:flags=area,format=gray",
                            "-fps_mode", "passthrough", "-f", "rawvideo", "pipe:"],
                           capture_output=True, check=True).stdout
    ours = _collect(decode.ffmpeg_batches(path, (120, 160), 1, batch=16, fps=25.0))[0]
    assert ours.shape == (100, 120, 160) and decode.decoder_threads() >= 1
    assert ours.tobytes() == plain


def _collect(batches: Iterator[tuple[np.ndarray, np.ndarray, int]]) -> tuple[np.ndarray, ...]:
    frames, times = zip(*((f, t) for f, t, _ in batches), strict=True)
    return np.concatenate(frames), np.concatenate(times)


def test_file_decord_cannot_open_goes_through_ffmpeg(av1_video: Path,
                                                     workspace_for: WorkspaceFor) -> None:
    ws = workspace_for(av1_video)
    decode.run(NullContext(ws))
    cache = FrameCache.open(ws)
    assert cache.count == 50 and (cache.height, cache.width) == (120, 160)
    assert cache.frames[10].std() > 10  # a real picture, not a blank


def test_ffmpeg_failing_midway_restarts_cleanly_with_decord(small_video: Path,
                                                           workspace_for: WorkspaceFor,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    real = decode.ffmpeg_batches

    def breaks_after_one_batch(*args: object, **kwargs: object) -> Iterator:
        batches = real(*args, **kwargs)  # type: ignore[arg-type]
        yield next(batches)
        raise decode.DecodeFailed("simulated ffmpeg failure")

    monkeypatch.setattr(decode, "ffmpeg_batches", breaks_after_one_batch)
    ws = workspace_for(small_video)
    ctx = NullContext(ws)
    decode.run(ctx)
    cache = FrameCache.open(ws)
    assert cache.count == 100  # the first batch is not there twice
    assert np.allclose(np.diff(cache.times), 0.04, atol=1e-4)
    assert ctx.reported == sorted(ctx.reported)
    assert leftovers(ws) == []


def test_cancellation_stops_the_stage_and_its_decoder(small_video: Path,
                                                      workspace_for: WorkspaceFor,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    ws = workspace_for(small_video)
    # Force the ffmpeg path so there is a child process that must not outlive the stage.
    monkeypatch.setattr(decode, "decord_batches", _no_decord)
    ctx = CancelAfter(ws, calls=3)
    with pytest.raises(StageCancelled):
        decode.run(ctx)
    assert len(ctx.reported) == 3  # no work after the cancellation was seen
    assert not ws.exists(FRAMES) and not ws.exists(FRAMES_META)
    assert leftovers(ws) == []
    assert [p for p in psutil.Process().children() if p.is_running()
            and p.status() != psutil.STATUS_ZOMBIE and "ffmpeg" in p.name()] == []


def _no_decord(*args: object, **kwargs: object) -> Iterator:
    raise RuntimeError("decord unavailable")
    yield  # pragma: no cover (makes this a generator)


def test_cancellation_during_sound_extraction(small_video: Path,
                                              workspace_for: WorkspaceFor) -> None:
    ws = workspace_for(small_video)
    ctx = CancelAfter(ws, calls=10**6)
    decode.run(ctx)
    video_calls = sum(1 for f in ctx.reported if f <= decode.VIDEO_SHARE)
    ws2 = workspace_for(small_video)
    # The sound is read alongside the picture; the last call before it is saved cancels.
    late = CancelAfter(ws2, calls=video_calls)
    with pytest.raises(StageCancelled):
        decode.run(late)
    assert not ws2.exists(AUDIO) and leftovers(ws2) == []


def test_progress_is_reported_per_batch(small_video: Path, workspace_for: WorkspaceFor) -> None:
    ctx = NullContext(workspace_for(small_video))
    decode.run(ctx)
    batches = -(-100 // decode.batch_length(probe(small_video)))
    assert len(ctx.reported) >= batches


def test_unreadable_source_fails_before_any_output(tmp_path: Path,
                                                   workspace_for: WorkspaceFor) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a video\n" * 100)
    ws = workspace_for(text)
    with pytest.raises(UnreadableVideo):
        decode.run(NullContext(ws))
    assert not ws.exists(PROBE) and not ws.exists(FRAMES_META)


def test_undecodable_stream_is_unreadable(small_video: Path, workspace_for: WorkspaceFor,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """When both decoders fail, the stage reports an unreadable video, not a crash."""
    ws = workspace_for(small_video)
    monkeypatch.setattr(decode, "decord_batches", _no_decord)
    monkeypatch.setattr(decode, "ffmpeg_exe", lambda: "false")  # exits 1, writes nothing
    with pytest.raises(UnreadableVideo, match="could not be decoded"):
        decode.run(NullContext(ws))
    assert not ws.exists(FRAMES_META) and leftovers(ws) == []


def test_analysis_size_keeps_display_aspect() -> None:
    info = VideoInfo(duration=1, fps=25, width=720, height=576, coded_width=720,
                     coded_height=576, rotation=0, sample_aspect=16 / 15, has_audio=False,
                     audio_channels=0, audio_rate=0, video_codec="h264", frame_count=25)
    assert decode.analysis_size(info, 160) == (120, 160)  # 4:3 display, 5:4 stored
    assert decode.analysis_size(info, 4000) == (576, 768)  # never upscaled
