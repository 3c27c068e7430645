"""Frame scorers, chosen by name: ``make_scorers(("motion", "scene"), audio)``."""

from __future__ import annotations

from collections.abc import Iterable

from stages.audio import AudioEnvelope
from stages.scorers.base import FrameBatch, Scorer
from stages.scorers.loudness import LoudnessScorer
from stages.scorers.motion import MotionScorer
from stages.scorers.scene import SceneScorer

SCORERS: dict[str, type] = {cls.name: cls for cls in (MotionScorer, SceneScorer, LoudnessScorer)}
DEFAULT_SCORERS = ("motion", "scene", "loudness")

__all__ = ["DEFAULT_SCORERS", "SCORERS", "FrameBatch", "Scorer", "make_scorers"]


def make_scorers(names: Iterable[str], audio: AudioEnvelope | None) -> list[Scorer]:
    """Instantiate the named scorers; an unknown name is a configuration error (KeyError)."""
    names = tuple(names)
    unknown = [n for n in names if n not in SCORERS]
    if unknown:
        raise KeyError(f"unknown scorer(s) {unknown}; known: {sorted(SCORERS)}")
    return [SCORERS[n](audio) if getattr(SCORERS[n], "needs_audio", False) else SCORERS[n]()
            for n in names]
