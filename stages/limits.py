"""What one upload may ask of the decoders: picture size, frame rate and stream count.

Checked from the stream headers before any frame is decoded (a 1 KB file can claim a
16000 x 16000 picture), and handed to the decoders as their own guard.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stages.errors import FrameRateTooHigh, PictureTooLarge, TooManyStreams
from stages.options import AnalysisOptions


def decoder_guard(max_pixels: int | None) -> dict[str, str]:
    """PyAV open options under which no decoder allocates a picture over ``max_pixels``."""
    return {"max_pixels": str(max_pixels)} if max_pixels else {}


def ffmpeg_guard(max_pixels: int | None) -> list[str]:
    """The same for the ffmpeg command line, before an ``-i``."""
    return ["-max_pixels", str(max_pixels)] if max_pixels else []


_DEFAULTS = AnalysisOptions()


@dataclass(frozen=True)
class MediaLimits:
    """One session's bounds; the defaults are the options' (and the settings') defaults."""

    max_side: int = _DEFAULTS.max_picture_side  # pixels, either side of the coded picture
    max_fps: float = _DEFAULTS.max_frame_rate
    max_streams: int = _DEFAULTS.max_streams

    @classmethod
    def of(cls, options: AnalysisOptions) -> MediaLimits:
        return cls(options.max_picture_side, options.max_frame_rate, options.max_streams)

    @property
    def max_pixels(self) -> int:
        """For the decoders' own guard (ffmpeg's max_pixels): a header that changes the
        picture size mid-stream is refused by the decoder before it allocates anything."""
        return self.max_side * self.max_side

    def decoder_options(self) -> dict[str, str]:
        """For PyAV: opening a file decodes a few frames to learn the codec parameters."""
        return decoder_guard(self.max_pixels)

    def max_frames(self, seconds: float) -> int:
        """The most source frames an allowed video ``seconds`` long can hold."""
        return math.ceil(seconds * self.max_fps) + 1

    def check_streams(self, count: int) -> None:
        if count > self.max_streams:
            raise TooManyStreams(
                f"The file holds {count} streams (video, audio, subtitle and data tracks); "
                f"the limit is {self.max_streams}. Export it with one video and one audio "
                "track and upload it again.")

    def check_picture(self, width: int, height: int) -> None:
        if max(width, height) > self.max_side:
            raise PictureTooLarge(
                f"The video's picture is {width}x{height} pixels; the limit is "
                f"{self.max_side} pixels on either side. Export it at a smaller size "
                "(e.g. 1920x1080) and upload it again.")

    def check_frame_rate(self, fps: float) -> None:
        if fps > self.max_fps:
            raise FrameRateTooHigh(
                f"The video has {fps:.4g} frames per second; the limit is {self.max_fps:g}. "
                "Export it at a lower frame rate (e.g. 30 or 60) and upload it again.")
