"""Frame times of the decode stage: read from the container's packets, checked against
the session's length limit while decoding, and the length they add up to.

A container's declared duration is only a claim; the decoded frames are the evidence.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from stages.errors import VideoTooLong
from stages.limits import decoder_guard


class FrameClock:
    """Times of the kept frames (every ``step``-th source frame), read from the video
    stream's packets (the pipe carries none), relative to the file's start as
    ``ffmpeg -ss`` counts it. Without usable packet times: the average rate."""

    def __init__(self, pts: np.ndarray, fps: float, step: int) -> None:
        self.pts, self.fps, self.step = pts, fps, step

    @classmethod
    def of_file(cls, path: Path, fps: float, step: int,
                max_pixels: int | None = None) -> FrameClock:
        return cls(packet_times(path, fps, max_pixels), fps, step)

    def times(self, first: int, count: int) -> np.ndarray:
        """Times of kept frames first .. first + count - 1."""
        decoded = (first + np.arange(count)) * self.step
        if len(decoded) and decoded[-1] < len(self.pts):
            return self.pts[decoded]
        # More frames than packets: carry on from the last known time at the average rate.
        known = self.pts[decoded[decoded < len(self.pts)]]
        last = (self.pts[-1], len(self.pts) - 1) if len(self.pts) else (0.0, 0)
        guessed = last[0] + (decoded[decoded >= len(self.pts)] - last[1]) / self.fps
        return np.round(np.concatenate([known, guessed]), 6)


def packet_times(path: Path, fps: float, max_pixels: int | None = None) -> np.ndarray:
    """Presentation times (s, sorted) of the first video stream's frames, from a demux
    without decoding; empty when the container cannot be read this way or its times
    cannot tell the frames apart. ``max_pixels``: see :func:`decoder_guard`."""
    try:
        with av.open(str(path), metadata_errors="ignore",
                     options=decoder_guard(max_pixels)) as container:
            stream = container.streams.video[0]
            if stream.time_base is None:
                return np.zeros(0)
            pts = [p.pts for p in container.demux(stream)
                   if p.pts is not None and not p.is_discard]
            zero = (container.start_time or 0) / av.time_base
            base = float(stream.time_base)
    except (av.FFmpegError, IndexError):
        return np.zeros(0)
    times = np.round(np.sort(np.array(pts, dtype=np.float64)) * base - zero, 6)
    # A time base coarser than a frame (an MP4 track timescale of 1) rounds several
    # frames onto one time: such times would stack frames up, the average rate does not.
    if base > 1 / fps or np.any(np.diff(times) <= 0):
        return np.zeros(0)
    return times


class LengthGuard:
    """Stops a decode as soon as its frames run past the session's limit, whatever the
    container declared (a file can claim 10 s and hold 30 minutes)."""

    def __init__(self, max_seconds: float, max_frames: int, declared: float) -> None:
        self.max_seconds, self.max_frames, self.declared = max_seconds, max_frames, declared
        self.first: float | None = None

    def check(self, times: np.ndarray, consumed: int) -> None:
        """``times`` of the latest batch; ``consumed``: source frames decoded so far."""
        if len(times) and self.first is None:
            self.first = float(times[0])
        reached = float(times[-1]) - (self.first or 0.0) if len(times) else 0.0
        # Timestamps can lie too (all alike, or microseconds apart): the frame count
        # bounds the work whatever they say.
        if reached > self.max_seconds or consumed > self.max_frames:
            too_many = "" if reached > self.max_seconds else f" ({consumed} frames)"
            raise VideoTooLong(
                f"The video is longer than the {self.max_seconds:.0f} s limit: its pictures "
                f"go on past {self.max_seconds:.0f} s{too_many} although the file declares "
                f"{self.declared:.1f} s. Trim it and upload it again.")


def decoded_duration(times: np.ndarray, fps: float, declared: float) -> float:
    """The video's length: the decoded frames prove a video longer than declared, never
    shorter (its last frame may be held to the declared end, and a capped analysis rate
    does not see the exact last frame)."""
    if not len(times):
        return declared
    shown = float(times[-1] - times[0]) + 1 / fps  # the last frame lasts one frame too
    return round(max(declared, shown), 6)
