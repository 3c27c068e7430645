"""Probe an upload with PyAV: what it holds, and whether it is a whole, decodable video.

Refuses empty files, text, still images, audio-only files and truncated uploads, readably.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from stages.errors import UnreadableVideo, VideoTooLong

# Demuxers and codecs that mean "a picture", not a clip.
STILL_FORMATS = frozenset({"image2", "image2pipe"})
STILL_CODECS = frozenset({"png", "mjpeg", "bmp", "gif", "webp", "tiff", "jpeg2000", "jpegxl"})
LATE_CHECK_AT = 0.9  # fraction of the duration where a truncated upload is looked for


@dataclass(frozen=True)
class VideoInfo:
    """What the pipeline needs to know about a source video."""

    duration: float  # seconds
    fps: float  # average frame rate
    width: int  # display size: after rotation
    height: int
    coded_width: int  # decoded picture size, before rotation
    coded_height: int
    rotation: int  # 0/90/180/270: rotate the decoded picture this much counter-clockwise
    sample_aspect: float  # pixel aspect ratio, 1.0 when unset
    has_audio: bool
    audio_channels: int
    audio_rate: int
    video_codec: str
    frame_count: int  # from the container index when present, else duration * fps

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VideoInfo:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def probe(path: Path | str, max_seconds: float | None = None) -> VideoInfo:
    """Describe the video at ``path``; raise UnreadableVideo or VideoTooLong."""
    path = Path(path)
    _check_file(path)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise UnreadableVideo(_open_failure(path, exc)) from exc
    with container:
        return _inspect(container, path, max_seconds)


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise UnreadableVideo("The uploaded file is missing.")
    if path.stat().st_size == 0:
        raise UnreadableVideo("The file is empty (0 bytes); upload it again.")


def _open_failure(path: Path, exc: Exception) -> str:
    with open(path, "rb") as f:
        head = f.read(512)
    if _looks_like_text(head):
        return "The file is text, not a video. Upload a video file such as MP4 or MOV."
    if head[4:8] == b"ftyp":
        return ("The MP4/MOV file is incomplete or damaged: its index could not be read, "
                "which usually means the upload or recording was interrupted. "
                f"Upload the complete file. ({_brief(exc)})")
    return ("The file is not a video format we can read, or it is damaged. "
            f"Upload an MP4, MOV, MKV or WebM video. ({_brief(exc)})")


def _looks_like_text(head: bytes) -> bool:
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # a multi-byte character cut by the 512-byte read
    return True


def _brief(exc: Exception) -> str:
    """ffmpeg's own words, shortened: useful to a maintainer, never the whole detail."""
    text = getattr(exc, "strerror", None) or str(exc)
    return f"decoder said: {text}"[:120]


def _inspect(container: av.container.InputContainer, path: Path,
             max_seconds: float | None) -> VideoInfo:
    if not container.streams.video:
        if container.streams.audio:
            raise UnreadableVideo("The file contains only audio, no video. Upload a video.")
        raise UnreadableVideo("The file contains no video stream. Upload a video.")
    stream = container.streams.video[0]
    codec = _codec_name(stream)
    if _is_still_image(container, stream):
        kind = "JPEG" if codec == "mjpeg" else codec.upper()
        raise UnreadableVideo(f"The file is a still image ({kind}), not a video.")
    fps = _frame_rate(stream)
    duration = _duration(container, stream, fps)
    if duration <= 0 or not math.isfinite(duration):
        raise UnreadableVideo("The video has no duration: it is empty or damaged.")
    if max_seconds is not None and duration > max_seconds:
        raise VideoTooLong(f"The video is {duration:.0f} s long; the limit is "
                           f"{max_seconds:.0f} s. Trim it and upload it again.")
    _check_index_complete(container, path)
    first = _first_frame(container, stream)
    _check_late_frame(container, stream, duration)
    return _describe(container, stream, first, duration, fps)


def _is_still_image(container: av.container.InputContainer, stream: av.VideoStream) -> bool:
    fmt = container.format.name
    if fmt in STILL_FORMATS or fmt.endswith("_pipe"):
        return True
    # A one-frame GIF or an MJPEG "video" of a single picture.
    lasts = bool(stream.duration and stream.time_base
                 and stream.duration * stream.time_base > 0.1)
    return _codec_name(stream) in STILL_CODECS and (stream.frames or 0) <= 1 and not lasts


def _codec_name(stream: av.VideoStream) -> str:
    """The format's name ("av1"), not the decoder's ("libdav1d")."""
    return str(stream.codec_context.codec.canonical_name)


def _frame_rate(stream: av.VideoStream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate or rate <= 0:
        raise UnreadableVideo("The video has no frame rate: it is damaged.")
    return float(rate)


def _duration(container: av.container.InputContainer, stream: av.VideoStream,
              fps: float) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    span = _scan_duration(container, stream)
    return span + 1 / fps if span > 0 else 0.0  # the last frame lasts one frame too


def _scan_duration(container: av.container.InputContainer, stream: av.VideoStream) -> float:
    """Some files (browser recordings) carry no duration: read packet times instead."""
    last = start = None
    for packet in container.demux(stream):
        if packet.pts is not None:
            start = packet.pts if start is None else min(start, packet.pts)
            last = packet.pts if last is None else max(last, packet.pts)
    container.seek(0)
    if last is None or start is None or stream.time_base is None:
        return 0.0
    return float((last - start) * stream.time_base)


def _check_index_complete(container: av.container.InputContainer, path: Path) -> None:
    """An MP4 index pointing past the end of the file means the upload was cut short."""
    size = path.stat().st_size
    for s in container.streams:
        entries = getattr(s, "index_entries", None)
        if entries and max(e.pos + e.size for e in entries) > size:
            raise UnreadableVideo(
                "The video file is truncated: its index refers to data beyond the end of "
                "the file, which usually means the upload was interrupted. "
                "Upload the complete file.")


def _first_frame(container: av.container.InputContainer,
                 stream: av.VideoStream) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except av.FFmpegError as exc:
        raise UnreadableVideo(f"The first frame of the video could not be decoded; the file "
                              f"is damaged. ({_brief(exc)})") from exc
    raise UnreadableVideo("The video stream holds no picture: the file is damaged or empty.")


def _check_late_frame(container: av.container.InputContainer, stream: av.VideoStream,
                      duration: float) -> None:
    """Seek near the end and read up to it: catches files whose index looks whole but
    whose data stops early (e.g. a faststart MP4 cut in the middle)."""
    tb = stream.time_base or Fraction(1, av.time_base)
    start = (stream.start_time or 0) * tb
    target = int((float(start) + LATE_CHECK_AT * duration) / tb)
    decoded = reached = False
    try:
        container.seek(target, stream=stream, backward=True)
        for packet in container.demux(stream):
            if packet.size == 0:  # the flush packet: end of data
                break
            if not decoded:
                decoded = bool(stream.codec_context.decode(packet))
            if packet.pts is not None and packet.pts >= target:
                reached = True
            if decoded and reached:
                return
    except av.FFmpegError as exc:
        raise UnreadableVideo(f"The end of the video could not be decoded; the file is "
                              f"damaged or incomplete. ({_brief(exc)})") from exc
    raise UnreadableVideo(
        f"The video stops early: no picture could be read near {LATE_CHECK_AT * duration:.1f} s "
        f"of its {duration:.1f} s. The file is truncated or damaged; upload it again.")


def _describe(container: av.container.InputContainer, stream: av.VideoStream,
              first: av.VideoFrame, duration: float, fps: float) -> VideoInfo:
    rotation = int(round(getattr(first, "rotation", 0) or 0)) % 360
    if rotation not in (0, 90, 180, 270):
        rotation = 0  # odd display matrices (skew, 45°) are ignored, as players do
    coded_w, coded_h = first.width, first.height
    width, height = (coded_h, coded_w) if rotation in (90, 270) else (coded_w, coded_h)
    sar = stream.sample_aspect_ratio
    audio = container.streams.audio[0] if container.streams.audio else None
    return VideoInfo(
        duration=duration,
        fps=fps,
        width=width,
        height=height,
        coded_width=coded_w,
        coded_height=coded_h,
        rotation=rotation,
        sample_aspect=float(sar) if sar and sar > 0 else 1.0,
        has_audio=audio is not None,
        audio_channels=audio.channels if audio is not None else 0,
        audio_rate=(audio.rate or 0) if audio is not None else 0,
        video_codec=_codec_name(stream),
        frame_count=int(stream.frames or round(duration * fps)),
    )
