"""The baseline every speed figure is a ratio to: a plain ffmpeg decode of the same file."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from stages.ffmpeg import ffmpeg_exe


def ffmpeg_null_seconds(path: Path) -> float:
    """Wall time of `ffmpeg -i path -f null -` (decode everything, write nothing)."""
    started = time.perf_counter()
    subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path), "-f", "null", "-"],
                   check=True)
    return time.perf_counter() - started
