"""Frame-exact check of a rendered reel against the barcodes burnt into its source.

Each reel frame's barcode names the source frame it shows; runs of consecutive source
frames are the reel's segments. Sound sync: each segment's audio is cross-correlated
with the source's audio at the place its first frame came from.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np

from stages.ffmpeg import ffmpeg_exe
from tests.groundtruth.framecode import Strip, read_codes

READ_WIDTH = 320  # reel frames are read at this width (the barcode stays readable)
AUDIO_RATE = 16000
MAX_LAG = 0.1  # seconds searched either way for the audio offset
AAC_FRAME = 1024 / 48000  # one audio frame of the reel: the sync tolerance


@dataclass
class ReelReport:
    segments: int  # segments requested
    exact_start: int = 0  # starting on the requested source frame
    length_ok: int = 0  # lasting the requested length, within one frame
    offsets_ms: list[float] = field(default_factory=list)  # audio - video, per segment
    problems: list[str] = field(default_factory=list)
    clean_decode: bool = True  # `ffmpeg -v error -i reel -f null -` printed nothing
    streams_ok: bool = True  # H.264 High yuv420p (+ AAC), moov before mdat

    @property
    def exact(self) -> int:
        return min(self.exact_start, self.length_ok)


def check_reel(reel: Path, source: Path, truth: dict[str, Any],
               segments: Sequence[tuple[float, float]]) -> ReelReport:
    report = ReelReport(len(segments))
    times = np.asarray(truth["frame_times"])
    expected = [_frames_in(times, start, end) for start, end in segments]
    index_of = {frame_id: i for i, frame_id in enumerate(truth["frame_ids"])}
    pts, codes = _reel_codes(reel, truth)
    indices = np.array([index_of.get(int(c), -1) for c in codes])
    if np.any(indices < 0):
        report.problems.append(f"{int(np.sum(indices < 0))} reel frames unreadable")
    runs = _runs(indices)
    if len(runs) != len(segments):
        report.problems.append(f"{len(runs)} runs of source frames for {len(segments)} segments")
    for (first, last, _), (want_first, want_count) in zip(runs, expected, strict=False):
        report.exact_start += first == want_first
        report.length_ok += abs((last - first + 1) - want_count) <= 1
        if first != want_first or abs((last - first + 1) - want_count) > 1:
            report.problems.append(f"segment from frame {want_first} ({want_count} frames): "
                                   f"reel shows {first}..{last}")
    if truth["has_audio"]:
        report.offsets_ms = _audio_offsets(reel, source, runs, pts, times)
    report.clean_decode = _decodes_cleanly(reel)
    report.streams_ok = _streams_ok(reel, truth["has_audio"], report.problems)
    return report


def _frames_in(times: np.ndarray, start: float, end: float) -> tuple[int, int]:
    """(first source frame, frame count) of [start, end): frames are taken by time."""
    eps = 1e-4
    inside = np.flatnonzero((times >= start - eps) & (times < end - eps))
    return (int(inside[0]), len(inside)) if len(inside) else (-1, 0)


def _reel_codes(reel: Path, truth: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Presentation times and barcodes of every reel frame."""
    turn = {0: 0, 90: -1, 180: 2, 270: 1}[truth["rotation"] % 360]  # back to coded
    pts, frames = [], []
    with av.open(str(reel)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            height = max(2, round(READ_WIDTH * frame.height / frame.width))
            gray = frame.reformat(width=READ_WIDTH, height=height, format="gray").to_ndarray()
            frames.append(np.rot90(gray, turn))
            pts.append(float(frame.pts * frame.time_base))
    stack = np.ascontiguousarray(np.stack(frames))
    return np.array(pts), read_codes(stack, Strip(**truth["strip"]))


def _runs(indices: np.ndarray) -> list[tuple[int, int, int]]:
    """(first source frame, last source frame, first reel frame) of each consecutive run."""
    runs: list[tuple[int, int, int]] = []
    for i, index in enumerate(indices.tolist()):
        if runs and index == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], index, runs[-1][2])
        else:
            runs.append((index, index, i))
    return runs


def _audio_offsets(reel: Path, source: Path, runs: list[tuple[int, int, int]],
                   reel_pts: np.ndarray, source_times: np.ndarray) -> list[float]:
    """Per segment: how far (ms) the reel's sound sits from where its pictures came from."""
    reel_audio, source_audio = _mono(reel), _mono(source)
    lag = round(MAX_LAG * AUDIO_RATE)
    offsets = []
    for first, last, reel_first in runs:
        if first < 0:
            continue
        seconds = min(1.5, float(source_times[last] - source_times[first])) - 0.2
        if seconds < 0.3:
            continue
        r0 = round((reel_pts[reel_first] + 0.1) * AUDIO_RATE)
        s0 = round((source_times[first] + 0.1) * AUDIO_RATE)
        n = round(seconds * AUDIO_RATE)
        window = reel_audio[r0:r0 + n]
        region = source_audio[max(0, s0 - lag):s0 + n + lag]
        if len(window) < n or len(region) < n + 2 * lag or not window.any():
            continue
        offsets.append(_best_lag(window, region, lag) / AUDIO_RATE * 1000)
    return offsets


def _best_lag(window: np.ndarray, region: np.ndarray, lag: int) -> int:
    dots = np.correlate(region, window, mode="valid")
    energy = np.convolve(region * region, np.ones(len(window)), mode="valid")
    ncc = dots / np.sqrt(np.maximum(energy, 1e-12))
    return int(np.argmax(ncc)) - lag


def _mono(path: Path) -> np.ndarray:
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path), "-map",
                          "0:a:0", "-ac", "1", "-ar", str(AUDIO_RATE), "-f", "s16le", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, "<i2").astype(np.float64)


def _decodes_cleanly(reel: Path) -> bool:
    done = subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(reel),
                           "-f", "null", "-"], capture_output=True)
    return done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip()


def _streams_ok(reel: Path, has_audio: bool, problems: list[str]) -> bool:
    with av.open(str(reel)) as container:
        video = container.streams.video[0].codec_context
        ok = video.name == "h264" and video.profile == "High" and video.pix_fmt == "yuv420p"
        audio = container.streams.audio
        ok &= (bool(audio) and audio[0].codec_context.name == "aac") if has_audio else not audio
    boxes = top_level_boxes(reel.read_bytes())
    ok &= "moov" in boxes and "mdat" in boxes and boxes.index("moov") < boxes.index("mdat")
    if not ok:
        problems.append("streams: not H.264 High yuv420p (+AAC) with +faststart")
    return ok


def top_level_boxes(data: bytes) -> list[str]:
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset:offset + 4], "big")
        boxes.append(data[offset + 4:offset + 8].decode("latin-1"))
        if size == 1:  # a 64-bit size follows the type
            size = int.from_bytes(data[offset + 8:offset + 16], "big")
        if size < 8:
            break
        offset += size
    return boxes
