"""Probe: field values of good clips, rotation sign, and a readable refusal for each bad input."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from stages.errors import UnreadableVideo, VideoTooLong
from stages.ffmpeg import ffmpeg_exe
from stages.probe import VideoInfo, probe
from tests.media import make_video
from tests.stages.conftest import ffmpeg


def _truncate(source: Path, target: Path, fraction: float) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def _empty(d: Path) -> Path:
    (d / "empty.mp4").write_bytes(b"")
    return d / "empty.mp4"


def _text(d: Path) -> Path:
    (d / "notes.mp4").write_text("These are my holiday notes, not a video.\n" * 20)
    return d / "notes.mp4"


def _png(d: Path) -> Path:
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1", str(d / "p.png"))
    return d / "p.png"


def _jpeg(d: Path) -> Path:
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1", str(d / "p.jpg"))
    return d / "p.jpg"


def _audio_only(d: Path) -> Path:
    ffmpeg("-f", "lavfi", "-i", "sine=duration=2", "-c:a", "aac", str(d / "a.m4a"))
    return d / "a.m4a"


def _mp4_cut_short(d: Path) -> Path:
    """Index (moov) at the end, upload cut in half: the index is gone."""
    return _truncate(make_video(d / "full.mp4", seconds=2), d / "cut.mp4", 0.5)


def _faststart_cut_short(d: Path) -> Path:
    """Index first, data cut at 95 %: the file opens and its start decodes."""
    full = make_video(d / "full.mp4", seconds=2, faststart=True)
    return _truncate(full, d / "cut.mp4", 0.95)


def _mkv_cut_short(d: Path) -> Path:
    """No sample index at all: only reading near the end reveals the missing data."""
    full = d / "full.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=4",
           "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", str(full))
    return _truncate(full, d / "cut.mkv", 0.5)


BAD_INPUTS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "empty": (_empty, "empty"),
    "text": (_text, "text"),
    "png": (_png, "still image"),
    "jpeg": (_jpeg, "still image"),
    "audio-only": (_audio_only, "only audio"),
    "mp4-cut-short": (_mp4_cut_short, "incomplete"),
    "faststart-cut-short": (_faststart_cut_short, "truncated"),
    "mkv-cut-short": (_mkv_cut_short, "stops early"),
}


@pytest.mark.parametrize("kind", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_is_refused_with_a_readable_detail(kind: str, tmp_path: Path) -> None:
    make, words = BAD_INPUTS[kind]
    with pytest.raises(UnreadableVideo) as caught:
        probe(make(tmp_path))
    detail = caught.value.detail
    assert words in detail
    assert len(detail) < 400
    # ffmpeg's own message may be quoted in brackets, never be the whole story.
    assert not detail.startswith(("[Errno", "Invalid data"))


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UnreadableVideo, match="missing"):
        probe(tmp_path / "nothing-here.mp4")


def test_good_clip_fields(small_video: Path) -> None:
    info = probe(small_video)
    assert info.duration == pytest.approx(4.0, abs=0.05)
    assert info.fps == pytest.approx(25.0)
    assert (info.width, info.height) == (320, 240)
    assert (info.coded_width, info.coded_height) == (320, 240)
    assert info.rotation == 0
    assert info.sample_aspect == 1.0
    assert info.has_audio and info.audio_channels == 1 and info.audio_rate == 48000
    assert info.video_codec == "h264"
    assert info.frame_count == 100


def test_clip_without_sound(video_factory: Callable[..., Path]) -> None:
    info = probe(video_factory("silent", audio=False, seconds=2))
    assert not info.has_audio
    assert (info.audio_channels, info.audio_rate) == (0, 0)


def test_too_long(small_video: Path) -> None:
    with pytest.raises(VideoTooLong, match="limit is 3 s"):
        probe(small_video, max_seconds=3)
    assert probe(small_video, max_seconds=5).duration < 5


def test_info_round_trips_through_json(small_video: Path) -> None:
    info = probe(small_video)
    assert VideoInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info


def test_record_written_before_the_bitrate_field_still_loads(small_video: Path) -> None:
    record = probe(small_video).to_dict()
    del record["video_bitrate"]
    assert VideoInfo.from_dict(record).video_bitrate == 0  # "unknown"


def test_video_bitrate_from_the_stream_or_at_most_the_whole_file(small_video: Path,
                                                                tmp_path: Path) -> None:
    with av.open(str(small_video)) as container:
        stream_bps = container.streams.video[0].bit_rate
        file_bps = container.bit_rate
    assert stream_bps and file_bps and stream_bps < file_bps  # the sound is the rest
    assert probe(small_video).video_bitrate == stream_bps
    # Matroska gives no per-stream rate: the whole file's (an over-estimate, never under).
    mkv = tmp_path / "same.mkv"
    ffmpeg("-i", str(small_video), "-c", "copy", str(mkv))
    assert stream_bps <= probe(mkv).video_bitrate <= 1.2 * file_bps


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_rotation_matches_what_ffmpeg_shows(rotate: int,
                                            video_factory: Callable[..., Path]) -> None:
    path = video_factory(f"rot{rotate}", rotate=rotate, seconds=1, audio=False)
    info = probe(path)
    assert info.rotation == rotate
    assert (info.coded_width, info.coded_height) == (320, 240)
    expected = (240, 320) if rotate in (90, 270) else (320, 240)
    assert (info.width, info.height) == expected
    # The sign: rotating the decoded picture counter-clockwise by `rotation` must give
    # exactly what ffmpeg's autorotation shows.
    with av.open(str(path)) as container:
        stored = next(container.decode(video=0)).to_ndarray(format="gray")
    shown = _ffmpeg_first_frame(path, info.width, info.height)
    upright = np.rot90(stored, info.rotation // 90)
    assert np.abs(upright.astype(int) - shown).mean() < 2
    assert np.abs(np.rot90(upright, 2).astype(int) - shown).mean() > 20


def _ffmpeg_first_frame(path: Path, width: int, height: int) -> np.ndarray:
    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-frames:v", "1",
                          "-vf", "format=gray", "-f", "rawvideo", "pipe:"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(height, width).astype(int)


def test_recording_without_a_duration(tmp_path: Path) -> None:
    """Browser recordings (WebM written as a stream) carry no duration: it is measured."""
    path = tmp_path / "recording.webm"
    with open(path, "wb") as out:
        subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi",
                        "-i", "testsrc2=size=320x240:rate=25:duration=3", "-c:v", "libvpx-vp9",
                        "-deadline", "realtime", "-cpu-used", "8", "-f", "webm", "pipe:"],
                       stdout=out, check=True)
    with av.open(str(path)) as container:
        assert container.duration is None  # the case under test
    info = probe(path)
    assert info.duration == pytest.approx(3.0)
    assert info.frame_count == 75 and info.video_codec == "vp9"
