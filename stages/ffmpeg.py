"""Where the ffmpeg binary comes from: the imageio-ffmpeg wheel (libx264 + aac inside)."""

from __future__ import annotations

import functools
import os


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary; ``FFMPEG_BINARY`` overrides the wheel's."""
    import imageio_ffmpeg

    return os.environ.get("FFMPEG_BINARY") or imageio_ffmpeg.get_ffmpeg_exe()
