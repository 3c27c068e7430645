"""How the reel's video is encoded: libx264 at a constant quality, capped in bit rate so that
a reel is never heavier than its source, nor than a ceiling for its picture size.
"""

from __future__ import annotations

CRF = 23  # x264's default quality target
# superfast's motion search with veryfast's rate control (macroblock tree over 10 frames of
# lookahead). bench/render_cost.py, 30 s 720p reel: 18 % less CPU than veryfast at the
# same SSIM (0.994) with 18 % more bits; on a real clip (Big Buck Bunny) 2 % fewer bits at
# SSIM 0.975 vs 0.976. Plain superfast takes 1.6x these bits; ultrafast loses quality.
PRESET = "superfast"
X264_PARAMS = "mbtree=1:rc-lookahead=10"
CEILING_BPS = 5_000_000  # the most a 1280x720 reel may take...
CEILING_PIXELS = 1280 * 720  # ...scaled by pixel count for other sizes
VBV_SECONDS = 1.0  # the rate cap holds over any window of this length
VBV_INIT = 0.9  # x264's initial buffer fullness: bits spendable on top of the cap


def bitrate_cap(size: tuple[int, int], source_bps: int) -> int:
    """Most bits per second the reel's video may take: the size's ceiling, and never more
    than the source's own video (``source_bps``, 0 when unknown)."""
    width, height = size
    ceiling = round(CEILING_BPS * width * height / CEILING_PIXELS)
    return min(ceiling, source_bps) if source_bps > 0 else ceiling


def vbv_maxrate(cap_bps: int, seconds: float) -> int:
    """The encoder's rate limit for a reel of ``seconds`` averaging at most ``cap_bps``.

    Under a rate limit R with a buffer of VBV_SECONDS * R starting VBV_INIT full, x264
    spends at most R * (seconds + VBV_INIT * VBV_SECONDS) bits: R is lowered to make up.
    """
    return max(1000, round(cap_bps * seconds / (seconds + VBV_INIT * VBV_SECONDS)))


def video_codec_args(size: tuple[int, int], source_bps: int, seconds: float) -> list[str]:
    """ffmpeg output options for the reel's video: H.264 High, yuv420p, capped bit rate."""
    maxrate = vbv_maxrate(bitrate_cap(size, source_bps), seconds)
    return ["-c:v", "libx264", "-preset", PRESET, "-x264-params", X264_PARAMS,
            "-crf", str(CRF), "-maxrate", str(maxrate),
            "-bufsize", str(round(maxrate * VBV_SECONDS)),
            "-profile:v", "high", "-pix_fmt", "yuv420p"]
