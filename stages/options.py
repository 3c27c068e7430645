"""What one analysis was asked to do, as plain values every stage can read."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

ANALYSES = ("highlights", "workout", "all")


@dataclass(frozen=True)
class AnalysisOptions:
    """Per-session options; filled from the request and the server settings."""

    analysis: str = "highlights"
    target_duration: float = 30.0  # wanted reel length, seconds
    max_highlights: int = 5  # upper bound on the number of segments
    render: bool = True  # False: segments only, no reel
    min_clip: float = 2.0  # shortest segment, seconds
    max_clip: float = 10.0  # longest segment, seconds
    padding: float = 0.5  # added before and after the action, seconds
    analysis_long_side: int = 160  # frame cache size: longest side in pixels
    analysis_max_fps: float = 30.0  # frame cache rate cap
    render_max_height: int = 720  # reel height cap (never upscaled)
    crossfade: float = 0.0  # seconds of overlap between reel segments; 0 = hard cuts
    max_video_seconds: float = 900.0  # longer videos are refused
    max_picture_side: int = 4096  # pictures wider or taller than this (pixels) are refused
    max_frame_rate: float = 240.0  # videos with more frames per second are refused
    max_streams: int = 16  # files with more streams (video, audio, subtitles...) are refused

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AnalysisOptions:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in json.loads(text).items() if k in known})
