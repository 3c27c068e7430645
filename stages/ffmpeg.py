"""Where the ffmpeg binary comes from: the imageio-ffmpeg wheel (libx264 + aac inside)."""

from __future__ import annotations

import functools


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped in the imageio-ffmpeg wheel (one known build)."""
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())
