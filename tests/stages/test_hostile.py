"""Hostile and unusual inputs: lying lengths, picture bombs, raw streams, sparse keyframes,
coarse time bases. Each reproduces a defect a hostile-input probe found."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from stages import decode, probe, render, score, select, workout
from stages.context import NullContext
from stages.errors import FrameRateTooHigh, PictureTooLarge, TooManyStreams, VideoTooLong
from stages.ffmpeg import ffmpeg_exe
from stages.framecache import FrameCache
from stages.frametimes import FrameClock, packet_times
from stages.limits import MediaLimits
from stages.options import AnalysisOptions
from stages.results import video_summary
from stages.workspace import (
    FRAMES_META,
    HIGHLIGHTS,
    PROBE,
    REEL,
    SOURCE,
    WORKOUT,
    Workspace,
)
from tests import hostile
from tests.hostile import ffmpeg
from tests.stages.conftest import leftovers

WorkspaceFor = Callable[[Path], Workspace]


# 1. A container that understates its length.

def test_probe_measures_past_an_understated_length(tmp_path: Path) -> None:
    liar = hostile.lying_mkv(tmp_path / "liar.mkv", real=60, declared=2)
    assert probe.probe(liar).duration == 2.0  # what the header claims
    with pytest.raises(VideoTooLong) as caught:
        probe.probe(liar, max_seconds=5)
    assert caught.value.code == "video_too_long"
    assert "60 s long (the file declares 2 s); the limit is 5 s" in caught.value.detail


def test_decode_stops_once_frames_pass_the_limit(tmp_path: Path, workspace_for: WorkspaceFor,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Even when the probe is fooled, decoding stops soon after the limit, not at the end."""
    liar = hostile.lying_mkv(tmp_path / "liar.mkv", real=60, declared=2)
    monkeypatch.setattr(decode, "probe", lambda path, *_, **__: probe.probe(path))
    frames_out = []
    real_batches = decode.ffmpeg_batches

    def counted(*args: object, **kwargs: object) -> Iterator:
        for batch in real_batches(*args, **kwargs):  # type: ignore[arg-type]
            frames_out.append(len(batch[0]))
            yield batch

    monkeypatch.setattr(decode, "ffmpeg_batches", counted)
    ws = workspace_for(liar)
    with pytest.raises(VideoTooLong, match="past 5 s although the file declares 2.0 s"):
        decode.run(NullContext(ws, AnalysisOptions(max_video_seconds=5)))
    assert 5 * 30 < sum(frames_out) < 8 * 30  # of the 1800 frames there are
    assert not ws.exists(FRAMES_META) and not ws.exists(PROBE) and leftovers(ws) == []


def test_results_report_the_decoded_duration(tmp_path: Path,
                                             workspace_for: WorkspaceFor) -> None:
    liar = hostile.lying_mkv(tmp_path / "liar.mkv", real=4, declared=2)
    ws = workspace_for(liar)
    decode.run(NullContext(ws, AnalysisOptions(max_video_seconds=5)))
    assert video_summary(probe.VideoInfo.load(ws))["duration"] == pytest.approx(4.0)


# 2. Limits on picture size, frame rate and stream count, from the headers.

def test_picture_over_the_limit_is_refused_before_any_frame_is_decoded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clip = hostile.big_picture(tmp_path / "wide.mp4", 2600, 1500)
    monkeypatch.setattr(probe, "_first_frame", _no_decoding)
    with pytest.raises(PictureTooLarge) as caught:
        probe.probe(clip, limits=MediaLimits(max_side=1920))
    assert caught.value.code == "picture_too_large" and caught.value.status == 422
    assert "2600x1500 pixels; the limit is 1920 pixels" in caught.value.detail


def _no_decoding(*_: object) -> None:
    raise AssertionError("a frame was decoded before the picture size was checked")


# The child's own peak is VmHWM: ru_maxrss would also count the memory of the process it
# was forked from (Linux folds the pre-exec peak in), i.e. the whole pytest run's.
_PEAK_MB = """
def peak_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status
                    if line.startswith("VmHWM:"))
"""
_PROBE_MEMORY = _PEAK_MB + """
import sys
from stages.probe import probe
try:
    probe(sys.argv[1])
except Exception as error:
    print(getattr(error, "detail", repr(error)))
print(peak_mb())
"""


def test_header_claiming_a_huge_picture_is_refused_cheaply(tmp_path: Path) -> None:
    """A 700-byte stream claiming 16000x16000 cost ~1 GB to open; the default limit
    refuses it from its header, and opening it allocates no such picture."""
    bomb = hostile.picture_bomb(tmp_path / "bomb.h264")
    assert bomb.stat().st_size < 2000
    out = subprocess.run([sys.executable, "-c", _PROBE_MEMORY, str(bomb)], check=True,
                         capture_output=True, text=True, cwd=Path(__file__).parents[2]).stdout
    detail, peak_mb = out.strip().splitlines()
    assert "16000x16000 pixels; the limit is 4096" in detail
    assert int(peak_mb) < 400  # one 16000x16000 picture alone is 384 MB


_WORKER_MEMORY = _PEAK_MB + """
import resource, sys
from pathlib import Path
from stages import decode, render
from stages.context import NullContext
from stages.records.highlights import Segment, Selection
from stages.workspace import Workspace
ws = Workspace(Path(sys.argv[1]))
decode.run(NullContext(ws))
Selection([Segment(0.0, 1.0, 1.0, 0, 25)]).save(ws)
render.run(NullContext(ws))
print(max(peak_mb(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024))
"""


def test_picture_growing_mid_stream_is_not_decoded(tmp_path: Path) -> None:
    """The decoders' guard holds after the probe: a later header claiming 16000x16000
    costs decode and render no such picture (they took 1.2-1.4 GB and seconds)."""
    ws = tmp_path / "ws"
    ws.mkdir()
    hostile.growing_stream(ws / SOURCE)
    assert probe.probe(ws / SOURCE).coded_width == 64  # the probe sees the first header
    out = subprocess.run([sys.executable, "-c", _WORKER_MEMORY, str(ws)], check=True,
                         capture_output=True, text=True, cwd=Path(__file__).parents[2]).stdout
    assert int(out.strip().splitlines()[-1]) < 600  # MB, the peak of any process
    assert FrameCache.open(Workspace(ws)).count >= 4  # the small pictures are there
    assert Workspace(ws).exists(REEL)


def test_frame_rate_over_the_limit_is_refused(tmp_path: Path) -> None:
    clip = hostile.high_frame_rate(tmp_path / "fast.mp4", 300)
    with pytest.raises(FrameRateTooHigh, match="300 frames per second; the limit is 240"):
        probe.probe(clip)


def test_too_many_streams_are_refused(tmp_path: Path) -> None:
    clip = hostile.many_tracks(tmp_path / "tracks.mkv", 16)
    with pytest.raises(TooManyStreams, match="holds 17 streams"):
        probe.probe(clip)
    assert probe.probe(clip, limits=MediaLimits(max_streams=17)).duration > 0


# 3. Raw H.264 / HEVC elementary streams (no container, no timestamps, no seeking).

@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_raw_stream_is_analysed(codec: str, tmp_path: Path,
                                workspace_for: WorkspaceFor) -> None:
    raw = hostile.raw_stream(tmp_path / f"clip.{codec}", codec)
    info = probe.probe(raw)
    assert (info.duration, info.fps, info.frame_count, info.video_codec) == (2.0, 25.0, 50,
                                                                              codec)
    ws = workspace_for(raw)
    decode.run(NullContext(ws))
    cache = FrameCache.open(ws)
    assert cache.count == 50 and np.allclose(cache.times, np.arange(50) / 25)
    # Cut from the middle: ffmpeg cannot seek in the stream, the reel must still be right.
    reel = render.render_reel(raw, [(0.52, 1.52)], info, tmp_path / "reel.mp4", 720,
                              lambda _: None)
    assert reel is not None and reel.duration == pytest.approx(1.0, abs=0.05)
    first = _gray_frames(tmp_path / "reel.mp4", 1)[0]
    source = _gray_frames(raw, 14)
    assert np.abs(first - source[13]).mean() < np.abs(first - source[0]).mean() / 4


def _gray_frames(path: Path, count: int) -> np.ndarray:
    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-frames:v",
                          str(count), "-vf", "scale=160:90,format=gray", "-f", "rawvideo",
                          "pipe:"], capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(count, 90, 160).astype(int)


# 4. Valid clips the end-of-file check took for truncated ones.

VALID_CLIPS = {  # ffmpeg output options, file type, frame rate, seconds
    "ts-keyframe-every-15": (("-g", "15"), "ts", 25, 3.0),
    "ts-keyframe-every-250": (("-g", "250"), "ts", 25, 2.0),
    "1s-at-5fps": ((), "mp4", 5, 1.0),
    "5s-at-1fps": ((), "mp4", 1, 5.0),
}


@pytest.mark.parametrize("kind", VALID_CLIPS, ids=list(VALID_CLIPS))
def test_valid_clip_is_not_taken_for_truncated(kind: str, tmp_path: Path,
                                               workspace_for: WorkspaceFor) -> None:
    args, ext, fps, seconds = VALID_CLIPS[kind]
    clip = tmp_path / f"clip.{ext}"
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s=160x90:r={fps}:d={seconds}", "-c:v", "libx264",
           "-preset", "ultrafast", *args, str(clip))
    info = probe.probe(clip)
    assert info.duration == pytest.approx(seconds, abs=0.05) and info.fps == fps
    ws = workspace_for(clip)
    decode.run(NullContext(ws))
    assert FrameCache.open(ws).count == round(seconds * fps)


# 5. An MP4 whose video time unit is a whole second.

def test_timescale_of_one_second_keeps_times_and_reasons_right(
        tmp_path: Path, workspace_for: WorkspaceFor) -> None:
    clip = hostile.timescale_one_mp4(tmp_path / "ts1.mp4")
    assert len(packet_times(clip, 25.0)) == 0  # 1 s ticks cannot tell 25 fps frames apart
    ws = workspace_for(clip)
    ctx = NullContext(ws, AnalysisOptions(analysis="all"))
    for stage in (decode, score, select, workout):
        stage.run(ctx)
    info = probe.VideoInfo.from_dict(ws.read_json(PROBE))
    assert (info.duration, info.fps) == (4.0, 25.0)  # not 1/512 fps
    assert ws.read_json(HIGHLIGHTS)["reason"] != select.NOTHING_ASKED
    assert ws.read_json(WORKOUT)["rest_seconds"] == 4.0  # was 512


def test_frame_clock_without_usable_packet_times_uses_the_average_rate() -> None:
    clock = FrameClock(np.zeros(0), fps=25.0, step=2)
    assert np.allclose(clock.times(3, 2), [0.24, 0.32])
