"""What a generated highlight or cut clip is: its spec, the shared constants of the
generators, and the frames a variable-rate clip keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

VERSION = 7  # bump when the generated media change: the eval's cache key
LOW_RES = 480  # backgrounds are drawn this wide and scaled up (cheap at 1080p)
QUIET = 0.02  # amplitude of the room noise (about -40 dBFS)
LOUD = 0.5  # amplitude of a loud burst (about -12 dBFS)
SHAKE = 0.02  # camera-shake amplitude during motion highlights, fraction of the width
FADE_SECONDS = 1.0
GAP = 5.0  # s at least between two highlights (well apart from merging)
EDGE = 2.5  # s at least between a highlight and either end of the clip


@dataclass(frozen=True)
class ClipSpec:
    """One generated clip. ``kind`` is "highlights" or "cuts"."""

    name: str
    kind: str
    seconds: float
    width: int  # coded size
    height: int
    fps: int
    seed: int
    audio: str | None = "stereo"  # "stereo", "5.1" or None
    bitrate: str = "2M"
    gop: int = 250
    rotation: int = 0  # display rotation metadata, degrees
    sar: tuple[int, int] = (1, 1)
    vfr: bool = False  # drop every other frame in alternate 10 s stretches
    highlights: int = 4  # highlight clips: how many
    shots: int = 1  # highlight clips: filler shots (shots - 1 hard cuts)
    high_motion: str = "life"  # cut clips: source of the long high-motion shot
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return round(self.seconds * self.fps)


def vfr_keeps(n: int, fps: int) -> bool:
    return n % (20 * fps) < 10 * fps or n % 2 == 0


def audio_layout(audio: str) -> str:
    if audio == "5.1":
        return "pan=5.1|c0=c0|c1=c0|c2=c0|c4=c0|c5=c0"
    return "pan=stereo|c0=c0|c1=c0"
