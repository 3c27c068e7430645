"""Decode stage: probe the upload, fill the gray analysis frame cache, extract the loudness.

The picture is decoded once, by ffmpeg, straight to small gray frames on a pipe (about the
cost of a plain `ffmpeg -i video -f null -`); frame times come from the container's
packets. When ffmpeg fails, decoding restarts with decord.
"""

from __future__ import annotations

import logging
import math
import subprocess
import tempfile
import threading
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import av
import cv2
import numpy as np

from stages import audio
from stages.context import StageContext
from stages.errors import StageStopped, UnreadableVideo
from stages.ffmpeg import ffmpeg_exe
from stages.framecache import FrameCacheWriter
from stages.probe import VideoInfo, probe
from stages.workspace import PROBE, SOURCE, Workspace

log = logging.getLogger(__name__)

# (gray frames (n, h, w), their times in seconds, source frames consumed so far)
Batches = Generator[tuple[np.ndarray, np.ndarray, int], None, None]

BATCH_PIXELS = 30_000_000  # source pixels per batch: ~0.1 s of decoding between progress calls
VIDEO_SHARE = 0.9  # share of stage progress for the picture when there is sound too (the
# sound is read alongside; the rest is reported once it is in)


class DecodeFailed(Exception):
    """A decoder stopped with an error."""


def analysis_size(info: VideoInfo, long_side: int) -> tuple[int, int]:
    """(height, width) of cache frames: upright, display aspect kept, never upscaled, even."""
    display_w, display_h = info.width * info.sample_aspect, float(info.height)
    scale = min(1.0, long_side / max(display_w, display_h))
    return _even(display_h * scale), _even(display_w * scale)


def _even(x: float) -> int:
    return max(2, 2 * round(x / 2))


def frame_step(fps: float, max_fps: float) -> int:
    """Keep every k-th source frame so the cache rate stays at or below ``max_fps``."""
    return max(1, math.ceil(fps / max_fps - 1e-9))


def batch_length(info: VideoInfo) -> int:
    """Source frames per batch: small for big pictures so progress (and cancel) stays timely."""
    return int(np.clip(BATCH_PIXELS // max(1, info.coded_width * info.coded_height), 8, 64))


def decord_batches(path: Path, size: tuple[int, int], step: int, batch: int) -> Batches:
    import decord  # imported late: loading its bundled ffmpeg costs time and memory

    height, width = size
    # decord applies the display rotation itself, then scales to width x height.
    reader = decord.VideoReader(str(path), width=width, height=height, num_threads=0)
    total = len(reader)
    for start in range(0, total, batch):
        # Consecutive indices decode sequentially; strided ones would seek (slower).
        indices = list(range(start, min(total, start + batch)))
        rgb = reader.get_batch(indices).asnumpy()[::step]
        kept = indices[::step]
        gray = cv2.cvtColor(rgb.reshape(-1, width, 3), cv2.COLOR_RGB2GRAY)
        # decord keeps float32 seconds; microseconds are what they can honestly resolve.
        times = np.round(reader.get_frame_timestamp(kept)[:, 0].astype(np.float64), 6)
        yield gray.reshape(-1, height, width), times, indices[-1] + 1


def ffmpeg_batches(path: Path, size: tuple[int, int], step: int, batch: int,
                   fps: float) -> Batches:
    height, width = size
    select = f"select=not(mod(n\\,{step}))," if step > 1 else ""
    # The loop filter must run, although its detail is lost in the downscale: skipping it
    # (-skip_loop_filter) lets errors build up over a GOP, and the picture jumps at each
    # keyframe, which looks like a cut.
    cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path), "-map", "0:v:0",
           "-an", "-sn", "-dn",
           "-vf", f"{select}scale={width}:{height}:flags=area,format=gray",
           "-fps_mode", "passthrough", "-f", "rawvideo", "pipe:"]
    frame_bytes = height * width
    kept_per_batch = max(1, batch // step)
    clock = FrameClock(path, fps, step)
    index = 0
    # stderr goes to a file: a pipe nobody reads could fill up and stall ffmpeg.
    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors,
                                    stdin=subprocess.DEVNULL)
        except OSError as exc:  # no (runnable) ffmpeg binary
            raise DecodeFailed(str(exc)) from exc
        assert proc.stdout is not None
        try:
            while data := proc.stdout.read(frame_bytes * kept_per_batch):
                n = len(data) // frame_bytes  # a partial last frame means ffmpeg died
                frames = np.frombuffer(data[: n * frame_bytes], np.uint8).reshape(n, height, width)
                yield frames, clock.times(index, n), (index + n) * step
                index += n
            if proc.wait() != 0:
                errors.seek(0)
                raise DecodeFailed(errors.read()[-300:].decode("utf-8", "replace").strip())
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
            proc.wait()


class FrameClock:
    """Times of the kept frames, read from the video stream's packets (the pipe carries
    none), relative to the file's start as ``ffmpeg -ss`` counts it. A stream whose
    packets cannot be read gets the average rate instead."""

    def __init__(self, path: Path, fps: float, step: int) -> None:
        self.fps, self.step = fps, step
        self.pts = packet_times(path)

    def times(self, first: int, count: int) -> np.ndarray:
        """Times of kept frames first .. first + count - 1."""
        decoded = (first + np.arange(count)) * self.step
        if len(decoded) and decoded[-1] < len(self.pts):
            return self.pts[decoded]
        # More frames than packets: carry on from the last known time at the average rate.
        known = self.pts[decoded[decoded < len(self.pts)]]
        last = (self.pts[-1], len(self.pts) - 1) if len(self.pts) else (0.0, 0)
        guessed = last[0] + (decoded[decoded >= len(self.pts)] - last[1]) / self.fps
        return np.round(np.concatenate([known, guessed]), 6)


def packet_times(path: Path) -> np.ndarray:
    """Presentation times (s, sorted) of the first video stream's frames, from a demux
    without decoding; empty when the container cannot be read this way."""
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            if stream.time_base is None:
                return np.zeros(0)
            pts = [p.pts for p in container.demux(stream)
                   if p.pts is not None and not p.is_discard]
            zero = (container.start_time or 0) / av.time_base
            base = float(stream.time_base)
    except (av.FFmpegError, IndexError):
        return np.zeros(0)
    return np.round(np.sort(np.array(pts, dtype=np.float64)) * base - zero, 6)


def fill_cache(workspace: Workspace, size: tuple[int, int], batches: Batches, fps: float,
               on_progress: Callable[[int], None]) -> int:
    """Write every batch to a new frame cache; return the frame count (0: nothing written)."""
    times: list[np.ndarray] = []
    with FrameCacheWriter(workspace, *size) as writer, closing(batches):
        for frames, batch_times, consumed in batches:
            writer.append(frames)
            times.append(batch_times)
            on_progress(consumed)
        if writer.count:
            writer.close(np.concatenate(times), fps)
        return writer.count


def decode_frames(path: Path, info: VideoInfo, workspace: Workspace, size: tuple[int, int],
                  step: int, on_progress: Callable[[int], None]) -> int:
    """Fill the cache with ffmpeg, or with decord when ffmpeg fails; return the frame count."""
    batch = math.ceil(batch_length(info) / step) * step  # whole strides keep spacing even
    cache_fps = info.fps / step
    try:
        count = fill_cache(workspace, size, ffmpeg_batches(path, size, step, batch, info.fps),
                           cache_fps, on_progress)
        if count:
            return count
        failure = "ffmpeg decoded no picture"
    except DecodeFailed as exc:
        failure = str(exc)
    log.warning("ffmpeg failed on %s (%s); retrying with decord", path.name, failure[:200])
    try:
        count = fill_cache(workspace, size, decord_batches(path, size, step, batch),
                           cache_fps, on_progress)
    except StageStopped:
        raise
    except Exception as exc:  # decord raises bare DECORDError/RuntimeError for anything
        raise UnreadableVideo(f"The video could not be decoded; the file is damaged. "
                              f"(decoder said: {failure[:120]})") from exc
    if not count:
        raise UnreadableVideo("No picture could be decoded from the video; the file is damaged.")
    return count


def run(ctx: StageContext) -> None:
    workspace, options = ctx.workspace, ctx.options
    source = workspace.path(SOURCE)
    info = probe(source, max_seconds=options.max_video_seconds)
    workspace.write_json(PROBE, info.to_dict())
    ctx.progress(0.0)

    video_share = VIDEO_SHARE if info.has_audio else 1.0
    expected = max(1, info.frame_count)
    reached = 0.0

    def report(consumed: int) -> None:
        # Never backwards, even when an ffmpeg restart starts counting from zero again.
        nonlocal reached
        reached = max(reached, video_share * min(consumed / expected, 1.0))
        ctx.progress(reached)

    # The sound is read at the same time as the picture, in a thread: its own ffmpeg
    # pass is small, and waiting for it afterwards would add its start-up and I/O.
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        sound = pool.submit(_envelope, source, stop) if info.has_audio else None
        try:
            decode_frames(source, info, workspace,
                          analysis_size(info, options.analysis_long_side),
                          frame_step(info.fps, options.analysis_max_fps), report)
        except BaseException:
            stop.set()  # the sound thread ends at its next chunk, killing its ffmpeg
            raise
    if sound is not None:
        ctx.progress(video_share)  # the cancellation check before anything is saved
        _save_envelope(workspace, source, sound)
    ctx.progress(1.0)


class _Stopped(Exception):
    """The picture failed or was cancelled: the sound is not wanted any more."""


def _envelope(source: Path, stop: threading.Event) -> audio.AudioEnvelope:
    def check(_: float) -> None:
        if stop.is_set():
            raise _Stopped()

    return audio.extract_envelope(source, check)


def _save_envelope(workspace: Workspace, source: Path,
                   sound: Future[audio.AudioEnvelope]) -> None:
    try:
        envelope = sound.result()
    except audio.AudioDecodeFailed as exc:
        # The picture alone still makes highlights: carry on without loudness.
        log.warning("sound track of %s could not be decoded: %s", source.name, exc)
        return
    audio.save_envelope(workspace, envelope)
