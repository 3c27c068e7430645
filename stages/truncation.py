"""Is an upload whole? Its index must lie inside the file and its video packets must go on
to near the end it declares. Files that declare no length (browser recordings, raw
H.264/HEVC streams) are measured the same way: by where their packets end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from stages.errors import UnreadableVideo

LATE_CHECK_AT = 0.9  # the video's packets must reach this fraction of its duration

Opener = Callable[[], av.container.InputContainer]  # a fresh container, at the file's start


@dataclass(frozen=True)
class Reach:
    """What one pass over the video packets found (times in seconds)."""

    decoded: bool  # a picture came out of the decoder
    first: float | None  # where the earliest frame starts; None: no packet times
    last: float | None  # where the latest frame starts
    end: float | None  # where the latest frame ends, by its packet's word


def check_index_complete(container: av.container.InputContainer, path: Path) -> None:
    """An MP4 index pointing past the end of the file means the upload was cut short."""
    size = path.stat().st_size
    for s in container.streams:
        entries = getattr(s, "index_entries", None)
        if entries and max(e.pos + e.size for e in entries) > size:
            raise UnreadableVideo(
                "The video file is truncated: its index refers to data beyond the end of "
                "the file, which usually means the upload was interrupted. "
                "Upload the complete file.")


def measure_duration(reopen: Opener, fps: float) -> float:
    """Length of a video that declares none: from its first frame to the end of its last."""
    with reopen() as container:
        reach = _from_start(container, want_picture=False, fps=fps)
    if reach.first is None or reach.end is None:
        return 0.0
    return reach.end - reach.first


def check_reaches_end(container: av.container.InputContainer, duration: float, fps: float,
                      reopen: Opener) -> float:
    """Raise UnreadableVideo unless the video's packets reach near ``duration`` and a
    picture decodes late in the file; return where its last frame starts (s from the
    video's start: a frame's start, unlike its claimed length, proves the video lasts).

    Catches files whose index looks whole but whose data stops early (e.g. a faststart MP4
    cut in the middle, an MKV without an index cut in half)."""
    stream = container.streams.video[0]
    start = float((stream.start_time or 0) * _time_base(stream))
    target = start + LATE_CHECK_AT * duration
    try:
        reach = _from_late_keyframe(container, target, fps)
        if not reach.decoded:
            # No keyframe after the late point, or a raw stream that cannot seek: read the
            # packets from the start (the first picture is known to decode).
            with reopen() as again:
                reach = _from_start(again, want_picture=False, fps=fps)
    except av.FFmpegError as exc:
        raise UnreadableVideo(f"The end of the video could not be decoded; the file is "
                              f"damaged or incomplete. ({brief(exc)})") from exc
    # The last frame lasts until pts + its duration; one more frame interval of slack.
    if reach.end is None or reach.end + 1 / fps < target:
        raise UnreadableVideo(
            f"The video stops early: no picture could be read near {target - start:.1f} s "
            f"of its {duration:.1f} s. The file is truncated or damaged; upload it again.")
    return (start if reach.last is None else reach.last) - start


def brief(exc: Exception) -> str:
    """ffmpeg's own words, shortened: useful to a maintainer, never the whole detail."""
    text = getattr(exc, "strerror", None) or str(exc)
    return f"decoder said: {text}"[:120]


def _from_late_keyframe(container: av.container.InputContainer, target: float,
                        fps: float) -> Reach:
    stream = container.streams.video[0]
    try:
        container.seek(int(target / _time_base(stream)), stream=stream, backward=True)
    except av.FFmpegError:  # raw elementary streams cannot seek at all
        return Reach(False, None, None, None)
    # A seek may land between keyframes (MPEG-TS seeks by time, not by index): decoding
    # starts at the next keyframe, which is all a decoder can start from.
    return _read(container, want_picture=True, from_keyframe=True, clock=None, fps=fps)


def _from_start(container: av.container.InputContainer, want_picture: bool,
                fps: float) -> Reach:
    stream = container.streams.video[0]
    # Raw streams have no packet times: their clock counts packet durations from 0.
    return _read(container, want_picture, from_keyframe=False,
                 clock=stream.start_time or 0, fps=fps)


def _read(container: av.container.InputContainer, want_picture: bool, from_keyframe: bool,
          clock: int | None, fps: float) -> Reach:
    """Demux the video stream to its end, decoding only until a picture comes out."""
    stream = container.streams.video[0]
    tb = _time_base(stream)
    frame_ticks = max(1, round(1 / (fps * tb)))  # packets that do not say their duration
    first = last = end = None
    decoded = not want_picture
    for packet in container.demux(stream):
        if packet.size == 0:  # the flush packet: end of data
            break
        begins = packet.pts if packet.pts is not None else clock
        if begins is not None:
            clock = begins + (packet.duration or frame_ticks)
            first = begins if first is None else min(first, begins)
            last = begins if last is None else max(last, begins)
            end = clock if end is None else max(end, clock)
        if not decoded and (packet.is_keyframe or not from_keyframe):
            from_keyframe = False
            decoded = bool(stream.codec_context.decode(packet))
    if not decoded and not from_keyframe:
        decoded = bool(stream.codec_context.decode(None))  # pictures held back till the end
    return Reach(decoded, *(None if t is None else float(t * tb) for t in (first, last, end)))


def _time_base(stream: av.VideoStream) -> Fraction:
    return stream.time_base or Fraction(1, av.time_base)
