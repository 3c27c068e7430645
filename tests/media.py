"""Generated test media: every clip is made here by ffmpeg lavfi, nothing is committed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from stages.ffmpeg import ffmpeg_exe


def make_video(path: Path, *, seconds: float = 4.0, size: str = "320x240", fps: int = 25,
               source: str = "testsrc2", audio: bool = True, rotate: int | None = None,
               extra_video_args: tuple[str, ...] = (), faststart: bool = False) -> Path:
    """Write an H.264 (+AAC) clip from a lavfi source and return its path."""
    cmd = [ffmpeg_exe(), "-v", "error", "-y",
           "-f", "lavfi", "-i", f"{source}=size={size}:rate={fps}:duration={seconds}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            *extra_video_args]
    if audio:
        cmd += ["-c:a", "aac", "-shortest"]
    if faststart:
        cmd += ["-movflags", "+faststart"]
    tmp = path.with_suffix(".tmp.mp4") if rotate else path
    subprocess.run([*cmd, str(tmp)], check=True)
    if rotate:
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-display_rotation", str(rotate),
                        "-i", str(tmp), "-c", "copy", str(path)], check=True)
        tmp.unlink()
    return path


def make_filtergraph_video(path: Path, filtergraph: str, *, seconds: float,
                           audio_filtergraph: str | None = None) -> Path:
    """Write a clip from arbitrary lavfi graphs (for clips with known motion or loudness)."""
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-t", str(seconds), "-i", filtergraph]
    if audio_filtergraph:
        cmd += ["-f", "lavfi", "-t", str(seconds), "-i", audio_filtergraph]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio_filtergraph:
        cmd += ["-c:a", "aac", "-shortest"]
    subprocess.run([*cmd, str(path)], check=True)
    return path
