"""A frame-number barcode burnt into generated clips, so any output frame names its source frame.

Sixteen Gray-coded bits in a strip at the bottom-left of the coded picture: one block
changes from one frame to the next, which keeps the strip's own "motion" negligible.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

BITS = 16  # 65 536 frames: 18 min at 60 fps
BLOCK_WIDTH = 1 / 32  # of the picture width, per bit
STRIP_HEIGHT = 1 / 20  # of the picture height


@dataclass(frozen=True)
class Strip:
    """Where the code sits, as fractions of the coded picture (before display rotation)."""

    x: float
    y: float
    width: float
    height: float
    bits: int = BITS

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def strip_geometry(width: int, height: int) -> tuple[int, int]:
    """(block width, strip height) in pixels for a coded picture, both even."""
    block = max(2, 2 * round(width * BLOCK_WIDTH / 2))
    strip = max(2, 2 * round(height * STRIP_HEIGHT / 2))
    return block, strip


def overlay_graph(main: str, out: str, width: int, height: int, fps: float) -> tuple[str, Strip]:
    """Filtergraph chain that burns the code of each frame's number into ``[main]``."""
    block, strip = strip_geometry(width, height)
    # Gray code bit X of frame N: bit X of N xor bit X+1 of N.
    bit = "mod(floor(N/pow(2,X))+floor(N/pow(2,X+1)),2)"
    graph = (f"nullsrc=s={BITS}x1:r={fps},format=gray,geq=lum='255*{bit}',"
             f"scale={BITS * block}:{strip}:flags=neighbor,format=yuv420p[code];"
             # Frame n at n / fps exactly, in a 1/fps time base: concat and xfade leave
             # rounded times behind, which would pair a picture with its neighbour's code.
             f"[{main}]settb=1/{fps},setpts=N[timed];"
             f"[timed][code]overlay=x=0:y={height - strip}:shortest=1[{out}]")
    geometry = Strip(0.0, (height - strip) / height, BITS * block / width, strip / height)
    return graph, geometry


def read_codes(frames: np.ndarray, strip: Strip) -> np.ndarray:
    """Frame numbers read from gray frames (n, h, w) in coded orientation; -1 if unreadable."""
    n, h, w = frames.shape
    y0, y1 = strip.y * h, (strip.y + strip.height) * h
    ys = slice(int(np.ceil(y0 + 0.25 * (y1 - y0))), int(np.floor(y1 - 0.25 * (y1 - y0))) or None)
    levels = np.empty((n, strip.bits))
    for k in range(strip.bits):
        x0 = (strip.x + k * strip.width / strip.bits) * w
        x1 = x0 + strip.width / strip.bits * w
        xs = slice(int(np.ceil(x0 + 0.25 * (x1 - x0))), int(np.floor(x1 - 0.25 * (x1 - x0))))
        levels[:, k] = frames[:, ys, xs].reshape(n, -1).mean(axis=1)
    bits = levels > 128
    ambiguous = np.any(np.abs(levels - 128) < 50, axis=1)
    gray = (bits * (1 << np.arange(strip.bits))).sum(axis=1)
    codes = _from_gray(gray.astype(np.int64))
    codes[ambiguous] = -1
    return codes


def _from_gray(gray: np.ndarray) -> np.ndarray:
    value = gray.copy()
    shift = gray >> 1
    while np.any(shift):
        value ^= shift
        shift >>= 1
    return value
