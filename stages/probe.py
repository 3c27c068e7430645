"""Probe an upload with PyAV: what it holds, and whether it is a whole, decodable video.

Refuses empty files, text, still images, audio-only files, truncated uploads and files
beyond the session's limits (length, picture size, frame rate, stream count), readably.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import av

from stages.errors import UnreadableVideo, VideoTooLong
from stages.limits import MediaLimits
from stages.records.jsonfile import load_json, save_json
from stages.truncation import (
    Opener,
    brief,
    check_index_complete,
    check_reaches_end,
    measure_duration,
)
from stages.workspace import PROBE, Workspace

# Demuxers and codecs that mean "a picture", not a clip.
STILL_FORMATS = frozenset({"image2", "image2pipe"})
STILL_CODECS = frozenset({"png", "mjpeg", "bmp", "gif", "webp", "tiff", "jpeg2000", "jpegxl"})
DEFAULT_LIMITS = MediaLimits()


@dataclass(frozen=True)
class VideoInfo:
    """What the pipeline needs to know about a source video.

    The probe record: written by the decode stage (PROBE, JSON of these fields) with the
    length its decoded frames show; read by select, render, workout and results. The web
    process also probes uploads, but keeps only the verdict.
    """

    duration: float  # seconds
    fps: float  # average frame rate, frames per second
    width: int  # display size in pixels: after rotation
    height: int
    coded_width: int  # decoded picture size in pixels, before rotation
    coded_height: int
    rotation: int  # 0/90/180/270: rotate the decoded picture this much counter-clockwise
    sample_aspect: float  # pixel aspect ratio, 1.0 when unset
    has_audio: bool  # the file has an audio stream (which may still fail to decode)
    audio_channels: int  # 0 without audio
    audio_rate: int  # samples per second, 0 without audio
    video_codec: str  # the format's name ("h264", "av1")
    frame_count: int  # from the container index when present, else duration * fps
    # Average bit rate of the video stream, bit/s; 0 when the file does not tell (and in
    # records written before this field existed: it has a default so they still load).
    video_bitrate: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VideoInfo:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, workspace: Workspace) -> None:
        save_json(workspace, PROBE, self.to_dict())

    @classmethod
    def load(cls, workspace: Workspace) -> VideoInfo:
        return cls.from_dict(load_json(
            workspace, PROBE, "The probe result is missing: the decode stage has not run."))


def probe(path: Path | str, max_seconds: float | None = None,
          limits: MediaLimits = DEFAULT_LIMITS) -> VideoInfo:
    """Describe the video at ``path``; raise UnreadableVideo, VideoTooLong or, before any
    frame is decoded, the refusal of a limit (PictureTooLarge, FrameRateTooHigh...)."""
    path = Path(path)
    _check_file(path)
    try:
        container = _open(path, limits)
    except av.FFmpegError as exc:
        raise UnreadableVideo(_open_failure(path, exc)) from exc
    with container:
        try:
            return _inspect(container, path, max_seconds, limits)
        except av.FFmpegError as exc:  # a read failure the checks did not foresee
            raise UnreadableVideo(f"The video could not be read; the file is damaged. "
                                  f"({brief(exc)})") from exc


def _open(path: Path, limits: MediaLimits) -> av.container.InputContainer:
    # Opening decodes a few frames to learn the codec parameters: the decoder's own
    # guard keeps a header that claims a huge picture from allocating it, and one thread
    # keeps the decoder from sizing a context per thread for it (the web probes uploads
    # side by side; a few frames decode as fast on one).
    options = {**limits.decoder_options(), "threads": "1"}
    container = av.open(str(path), metadata_errors="ignore", options=options)
    for stream in container.streams.video:
        stream.codec_context.options = options
    return container


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
                f"Upload the complete file. ({brief(exc)})")
    return ("The file is not a video format we can read, or it is damaged. "
            f"Upload an MP4, MOV, MKV or WebM video. ({brief(exc)})")


def _looks_like_text(head: bytes) -> bool:
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # a multi-byte character cut by the 512-byte read
    return True


def _inspect(container: av.container.InputContainer, path: Path,
             max_seconds: float | None, limits: MediaLimits) -> VideoInfo:
    limits.check_streams(len(container.streams))
    stream = _video_stream(container)
    # From the headers: nothing below decodes a picture of a size not checked here.
    limits.check_picture(stream.codec_context.width, stream.codec_context.height)
    codec = _codec_name(stream)
    if _is_still_image(container, stream):
        kind = "JPEG" if codec == "mjpeg" else codec.upper()
        raise UnreadableVideo(f"The file is a still image ({kind}), not a video.")
    duration, fps = _timing(container, stream, lambda: _open(path, limits))
    limits.check_frame_rate(fps)
    _check_length(duration, max_seconds)
    check_index_complete(container, path)
    first = _first_frame(container, stream)
    limits.check_picture(first.width, first.height)  # headers may not have said
    last = check_reaches_end(container, duration, fps, lambda: _open(path, limits))
    # The pictures may go on far past what the container declares.
    _check_length(last, max_seconds, f" (the file declares {duration:.0f} s)")
    return _describe(container, stream, first, duration, fps)


def _video_stream(container: av.container.InputContainer) -> av.VideoStream:
    if not container.streams.video:
        if container.streams.audio:
            raise UnreadableVideo("The file contains only audio, no video. Upload a video.")
        raise UnreadableVideo("The file contains no video stream. Upload a video.")
    return container.streams.video[0]


def _check_length(seconds: float, max_seconds: float | None, declared: str = "") -> None:
    if max_seconds is None or seconds <= max_seconds:
        return
    raise VideoTooLong(f"The video is {seconds:.0f} s long{declared}; the limit is "
                       f"{max_seconds:.0f} s. Trim it and upload it again.")


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


def _timing(container: av.container.InputContainer, stream: av.VideoStream,
            reopen: Opener) -> tuple[float, float]:
    """(duration, frame rate), each checked against the other."""
    rate = _frame_rate(stream)
    duration = _duration(container, stream, rate, reopen)
    if duration <= 0 or not math.isfinite(duration):
        raise UnreadableVideo("The video has no duration: it is empty or damaged.")
    return duration, _plausible_rate(rate, duration, stream.frames or 0)


def _frame_rate(stream: av.VideoStream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate or rate <= 0:
        raise UnreadableVideo("The video has no frame rate: it is damaged.")
    return float(rate)


def _plausible_rate(rate: float, duration: float, frames: int) -> float:
    """One frame cannot outlast the whole video: such a rate comes from a broken time base
    (an MP4 track timescale of 1 makes each frame last hundreds of seconds), so count
    the frames over the duration instead."""
    if 1 / rate <= duration * 1.01 or frames < 2:  # 1 %: rounding of a one-frame video
        return rate
    return frames / duration


def _duration(container: av.container.InputContainer, stream: av.VideoStream,
              fps: float, reopen: Opener) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    # Browser recordings and raw H.264/HEVC streams declare no duration: measure it.
    return measure_duration(reopen, fps)


def _first_frame(container: av.container.InputContainer,
                 stream: av.VideoStream) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except av.FFmpegError as exc:
        raise UnreadableVideo(f"The first frame of the video could not be decoded; the file "
                              f"is damaged. ({brief(exc)})") from exc
    raise UnreadableVideo("The video stream holds no picture: the file is damaged or empty.")


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
        video_bitrate=video_bitrate(container),
    )


def video_bitrate(container: av.container.InputContainer) -> int:
    """The first video stream's average bit rate in bit/s, 0 when the file does not tell.

    MP4/MOV give it per stream; other formats give at most the whole file's, less the audio
    streams' where known: an over-estimate, never an under-estimate.
    """
    if not container.streams.video:
        return 0
    if container.streams.video[0].bit_rate:
        return int(container.streams.video[0].bit_rate)
    audio = sum(int(s.bit_rate or 0) for s in container.streams.audio)
    return max(0, int(container.bit_rate or 0) - audio)
