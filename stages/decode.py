"""Decode stage: probe the upload, fill the gray analysis frame cache, extract the loudness.

The picture is decoded once, by ffmpeg, straight to small gray frames on a pipe (about the
cost of a plain `ffmpeg -i video -f null -`); frame times come from the container's
packets. When ffmpeg fails, decoding restarts with decord. The probe result is written
last, with the length the decoded frames show rather than the one the container declared.
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
import tempfile
import threading
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from stages import audio
from stages.context import StageContext
from stages.errors import StageError, StageStopped, UnreadableVideo
from stages.ffmpeg import ffmpeg_exe
from stages.framecache import FrameCacheWriter
from stages.frametimes import FrameClock, LengthGuard, decoded_duration
from stages.limits import MediaLimits, ffmpeg_guard
from stages.options import AnalysisOptions
from stages.probe import VideoInfo, probe
from stages.workspace import SOURCE, Workspace

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


def decoder_threads() -> int:
    """One frame-decoding thread per usable core. ffmpeg's default, one more than that, took
    6-8 % longer on 2 cores with some room to spare (same frames, same CPU); with the cores
    saturated by other work, the difference was lost in the noise (bench/decode_options.py)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def ffmpeg_batches(path: Path, size: tuple[int, int], step: int, batch: int,
                   fps: float, max_pixels: int | None = None) -> Batches:
    """``max_pixels``: the decoder refuses bigger pictures (a size change mid-stream)."""
    height, width = size
    select = f"select=not(mod(n\\,{step}))," if step > 1 else ""
    # Every frame is decoded in full, loop filter included, although its detail is lost in
    # the downscale (bench/decode_options.py measured the alternatives). Skipping it
    # everywhere (-skip_loop_filter all) lets errors build up over a GOP, and the picture
    # jumps at each keyframe, which looks like a cut. Skipping it on non-reference frames
    # only (noref) cannot drift and saved 0-9 % of the CPU (within the noise), but those
    # frames change by up to 2-5 gray levels and the workout eval's figures moved (third
    # decimal, both ways). Skipping those frames outright (-skip_frame noref) saves ~35 %
    # but drops 40 % of the frames, and rebuilding them from their neighbours failed a
    # workout target (a rep timed 0.201 s off). What stays exact: fewer decoder threads.
    cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", *ffmpeg_guard(max_pixels),
           "-threads", str(decoder_threads()), "-i", str(path),
           "-map", "0:v:0", "-an", "-sn", "-dn",
           "-vf", f"{select}scale={width}:{height}:flags=area,format=gray",
           "-fps_mode", "passthrough", "-f", "rawvideo", "pipe:"]
    frame_bytes = height * width
    kept_per_batch = max(1, batch // step)
    clock = FrameClock.of_file(path, fps, step, max_pixels)
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


def fill_cache(workspace: Workspace, size: tuple[int, int], batches: Batches, fps: float,
               on_progress: Callable[[int], None], guard: LengthGuard) -> np.ndarray:
    """Write every batch to a new frame cache; return the frame times (empty: nothing
    written). Stops with VideoTooLong as soon as a batch runs past the length limit."""
    times: list[np.ndarray] = []
    with FrameCacheWriter(workspace, *size) as writer, closing(batches):
        for frames, batch_times, consumed in batches:
            guard.check(batch_times, consumed)
            writer.append(frames)
            times.append(batch_times)
            on_progress(consumed)
        if not writer.count:
            return np.zeros(0)
        kept = np.concatenate(times)
        writer.close(kept, fps)
        return kept


def decode_frames(path: Path, info: VideoInfo, workspace: Workspace, options: AnalysisOptions,
                  on_progress: Callable[[int], None]) -> np.ndarray:
    """Fill the cache with ffmpeg, or with decord when ffmpeg fails; return the frame times."""
    size = analysis_size(info, options.analysis_long_side)
    step = frame_step(info.fps, options.analysis_max_fps)
    batch = math.ceil(batch_length(info) / step) * step  # whole strides keep spacing even
    limits = MediaLimits.of(options)
    guard = LengthGuard(options.max_video_seconds,
                        limits.max_frames(options.max_video_seconds), info.duration)

    def fill(batches: Batches) -> np.ndarray:
        return fill_cache(workspace, size, batches, info.fps / step, on_progress, guard)

    try:
        times = fill(ffmpeg_batches(path, size, step, batch, info.fps, limits.max_pixels))
        if len(times):
            return times
        failure = "ffmpeg decoded no picture"
    except DecodeFailed as exc:
        failure = str(exc)
    log.warning("ffmpeg failed on %s (%s); retrying with decord", path.name, failure[:200])
    try:
        times = fill(decord_batches(path, size, step, batch))
    except (StageStopped, StageError):
        raise
    except Exception as exc:  # decord raises bare DECORDError/RuntimeError for anything
        raise UnreadableVideo(f"The video could not be decoded; the file is damaged. "
                              f"(decoder said: {failure[:120]})") from exc
    if not len(times):
        raise UnreadableVideo("No picture could be decoded from the video; the file is damaged.")
    return times


def run(ctx: StageContext) -> None:
    workspace, options = ctx.workspace, ctx.options
    source = workspace.path(SOURCE)
    info = probe(source, options.max_video_seconds, MediaLimits.of(options))
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
        sound = (pool.submit(_envelope, source, stop, MediaLimits.of(options).max_pixels)
                 if info.has_audio else None)
        try:
            times = decode_frames(source, info, workspace, options, report)
        except BaseException:
            stop.set()  # the sound thread ends at its next chunk, killing its ffmpeg
            raise
    if sound is not None:
        ctx.progress(video_share)  # the cancellation check before anything is saved
        _save_envelope(workspace, source, sound)
    # The one record of the video every later stage and the results read.
    duration = decoded_duration(times, info.fps, info.duration)
    replace(info, duration=duration).save(workspace)
    ctx.progress(1.0)


class _Stopped(Exception):
    """The picture failed or was cancelled: the sound is not wanted any more."""


def _envelope(source: Path, stop: threading.Event, max_pixels: int) -> audio.AudioEnvelope:
    def check(_: float) -> None:
        if stop.is_set():
            raise _Stopped()

    return audio.extract_envelope(source, check, max_pixels)


def _save_envelope(workspace: Workspace, source: Path,
                   sound: Future[audio.AudioEnvelope]) -> None:
    try:
        envelope = sound.result()
    except audio.AudioDecodeFailed as exc:
        # The picture alone still makes highlights: carry on without loudness.
        log.warning("sound track of %s could not be decoded: %s", source.name, exc)
        return
    audio.save_envelope(workspace, envelope)
