"""Render stage: cut the selected segments frame-accurately and join them into one MP4 reel.

Every segment is re-encoded (stream copy cuts on keyframes only), H.264 High + AAC stereo,
the video capped in bit rate (stages.reel_encoding).
"""

from __future__ import annotations

import collections
import math
import subprocess
import threading
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import IO

import av

from stages.context import StageContext
from stages.errors import MissingInput, RenderFailed
from stages.ffmpeg import ffmpeg_exe
from stages.limits import MediaLimits, decoder_guard, ffmpeg_guard
from stages.probe import VideoInfo, video_bitrate
from stages.records.highlights import Selection
from stages.records.reel import Reel
from stages.reel_encoding import video_codec_args
from stages.workspace import REEL, REEL_META, SOURCE

AUDIO_RATE = 48000  # browsers play every AAC rate, 48 kHz is the common one
POLL_SECONDS = 0.25  # how often progress (and so cancellation) is checked
STDERR_LINES = 8  # lines of ffmpeg's stderr kept for the error message
MIN_CUT_MICROS = 1000  # shorter segments hold no frame and are skipped


def reel_size(coded_width: int, coded_height: int, rotation: int, sample_aspect: float,
              max_height: int) -> tuple[int, int]:
    """Upright, square-pixel output size with height capped at ``max_height``, even dims."""
    sar = Fraction(sample_aspect).limit_denominator(1000) if sample_aspect > 0 else Fraction(1)
    width, height = coded_width * sar, Fraction(coded_height)  # fold the pixel shape in
    if rotation % 180 == 90:
        width, height = height, width
    scale = min(Fraction(1), Fraction(max_height) / height)
    return _even(width * scale), _even(height * scale)


def _even(value: Fraction) -> int:
    # Down, never up: an odd source dimension must not be stretched past its own size.
    return max(2, math.floor(value / 2) * 2)


def _micros(seconds: float) -> int:
    # Rounded down: a start given as a frame's exact time must not round past that
    # frame's timestamp and lose it.
    return math.floor(seconds * 1_000_000 + 1e-3)


def _clock(micros: int) -> str:
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def _command(source: Path, cuts: Sequence[tuple[int, int]], size: tuple[int, int],
             with_audio: bool, out_path: Path, video_args: Sequence[str],
             crossfade_us: int = 0, fps: float = 0.0, seekable: bool = True,
             max_pixels: int | None = None) -> list[str]:
    """One accurately seeked input per cut (start, duration in µs), joined by ``concat`` and
    encoded with ``video_args``; no decoder allocates a picture over ``max_pixels``."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    for start, duration in cuts:
        # ffmpeg's -ss drops every frame of a raw H.264/HEVC stream (it cannot seek in one):
        # such an input is read from its start and cut by a trim filter instead.
        seek = ["-ss", _clock(start)] if seekable else []
        cmd += [*ffmpeg_guard(max_pixels), *seek,
                "-t", _clock(duration if seekable else start + duration), "-i", str(source)]
    trim = not seekable
    graph = (_crossfade_graph(cuts, size, with_audio, crossfade_us, fps, trim) if crossfade_us
             else _filtergraph(cuts, size, with_audio, trim))
    cmd += ["-filter_complex", graph, "-map", "[v]", *video_args]
    if with_audio:
        cmd += ["-map", "[a]", "-c:a", "aac", "-b:a", "128k"]
    return [*cmd, "-map_metadata", "-1", "-map_chapters", "-1", "-movflags", "+faststart",
            "-progress", "pipe:1", "-stats_period", "0.5", "-nostats", "-f", "mp4",
            str(out_path)]


def _segment_chains(cuts: Sequence[tuple[int, int]], size: tuple[int, int],
                    with_audio: bool, fps: float = 0.0, trim: bool = False) -> list[str]:
    """Per cut: upright square-pixel video [v<i>] and, with sound, exact-length audio [a<i>];
    ``trim``: the inputs start at the file's start, not at their cut."""
    width, height = size
    rate = f"fps={fps:.6f}," if fps else ""  # xfade needs one constant rate on both sides
    chains = []
    for i, (start, duration) in enumerate(cuts):
        cut, audio_cut = (f"trim=start={start}us,", f"atrim=start={start}us,") if trim \
            else ("", "")
        # Frames arrive already upright (ffmpeg autorotates); make the pixels square.
        chains.append(f"[{i}:v:0]{cut}{rate}scale={width}:{height},setsar=1,format=yuv420p,"
                      f"setpts=PTS-STARTPTS[v{i}]")
        if with_audio:
            # Exactly the cut's length of audio, silence wherever the source has none (late
            # start, early end, none at all): concat would otherwise shift later segments.
            # Timestamps are recounted from samples: an empty input has none to shift.
            chains.append(f"[{i}:a:0]{audio_cut}"
                          f"aformat=sample_rates={AUDIO_RATE}:channel_layouts=stereo,"
                          f"aresample=async=1:first_pts=0,apad=whole_dur={duration}us,"
                          f"atrim=duration={duration}us,asetpts=N/SR/TB[a{i}]")
    return chains


def _filtergraph(cuts: Sequence[tuple[int, int]], size: tuple[int, int],
                 with_audio: bool, trim: bool = False) -> str:
    pads = "".join(f"[v{i}][a{i}]" if with_audio else f"[v{i}]" for i in range(len(cuts)))
    outputs = "[v][a]" if with_audio else "[v]"
    concat = f"{pads}concat=n={len(cuts)}:v=1:a={int(with_audio)}{outputs}"
    return ";".join([*_segment_chains(cuts, size, with_audio, trim=trim), concat])


def _crossfade_graph(cuts: Sequence[tuple[int, int]], size: tuple[int, int], with_audio: bool,
                     crossfade_us: int, fps: float, trim: bool = False) -> str:
    """Overlap neighbours by ``crossfade_us``: the reel gets shorter by that much per join."""
    chains = _segment_chains(cuts, size, with_audio, fps, trim)
    video, audio, elapsed = "[v0]", "[a0]", cuts[0][1]
    for i in range(1, len(cuts)):
        last = i == len(cuts) - 1
        out_v, out_a = ("[v]", "[a]") if last else (f"[xv{i}]", f"[xa{i}]")
        offset = elapsed - i * crossfade_us
        chains.append(f"{video}[v{i}]xfade=transition=fade:duration={crossfade_us}us:"
                      f"offset={offset}us{out_v}")
        if with_audio:
            chains.append(f"{audio}[a{i}]acrossfade=d={crossfade_us}us{out_a}")
        video, audio, elapsed = out_v, out_a, elapsed + cuts[i][1]
    if len(cuts) == 1:
        chains.append("[v0]null[v]" + (";[a0]anull[a]" if with_audio else ""))
    return ";".join(chains)


def render_reel(source: Path, segments: Sequence[tuple[float, float]], info: VideoInfo,
                out_path: Path, max_height: int,
                on_progress: Callable[[float], None], crossfade: float = 0.0,
                max_pixels: int | None = None) -> Reel | None:
    """Write the reel of ``segments`` (seconds) to ``out_path``; None when there is nothing to cut.

    ``on_progress`` gets fractions in [0, 1] at least every quarter second; if it raises
    (cancellation), ffmpeg is killed, the partial file removed and the error re-raised.
    """
    cuts = _cuts(segments, info.duration)
    if not cuts:
        return None
    size = reel_size(info.coded_width, info.coded_height, info.rotation, info.sample_aspect,
                     max_height)
    # A crossfade never eats more than half of the shortest segment.
    crossfade_us = min(_micros(crossfade), min(d for _, d in cuts) // 2) if crossfade > 0 else 0
    total = (sum(duration for _, duration in cuts) - crossfade_us * (len(cuts) - 1)) / 1e6
    source_bps = info.video_bitrate or source_bitrate(source, max_pixels)
    cmd = _command(source, cuts, size, info.has_audio, out_path,
                   video_codec_args(size, source_bps, total), crossfade_us, info.fps,
                   seekable(source, max_pixels), max_pixels)
    try:
        _run_ffmpeg(cmd, total, on_progress)
        return measure_reel(out_path)
    except BaseException:
        out_path.unlink(missing_ok=True)
        raise


def _cuts(segments: Sequence[tuple[float, float]], duration: float) -> list[tuple[int, int]]:
    """(start, duration) in µs, clamped to the video; empty ones dropped (ffmpeg rejects them)."""
    cuts = []
    for start, end in segments:
        first = _micros(max(0.0, start))
        last = _micros(min(end, duration) if duration > 0 else end)
        if last - first >= MIN_CUT_MICROS:
            cuts.append((first, last - first))
    return cuts


def _run_ffmpeg(cmd: list[str], total: float, on_progress: Callable[[float], None]) -> None:
    tail: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          errors="replace") as proc:
        done_us = [0]
        # Both pipes are drained by threads so ffmpeg never blocks on a full pipe, while
        # this thread stays free to report progress (and to notice cancellation) on time.
        readers = [threading.Thread(target=_read_progress, args=(proc.stdout, done_us)),
                   threading.Thread(target=_read_tail, args=(proc.stderr, tail))]
        for reader in readers:
            reader.start()
        try:
            _wait(proc, lambda: on_progress(min(1.0, done_us[0] / 1e6 / total)))
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            for reader in readers:
                reader.join()
    if proc.returncode != 0:
        detail = " | ".join(line.strip() for line in tail if line.strip()) or "no message"
        raise RenderFailed(f"ffmpeg exited with {proc.returncode}: {detail[-600:]}")
    on_progress(1.0)


def _wait(proc: subprocess.Popen[str], report: Callable[[], None]) -> None:
    while True:
        try:
            proc.wait(POLL_SECONDS)
            return
        except subprocess.TimeoutExpired:
            report()


def _read_progress(stream: IO[str], done_us: list[int]) -> None:
    for line in stream:
        key, _, value = line.partition("=")
        if key == "out_time_us" and value.strip().lstrip("-").isdigit():
            done_us[0] = max(done_us[0], int(value))


def _read_tail(stream: IO[str], tail: collections.deque[str]) -> None:
    for line in stream:
        tail.append(line)


def seekable(path: Path, max_pixels: int | None = None) -> bool:
    """Whether ffmpeg can seek in ``path`` (raw H.264/HEVC streams: no)."""
    try:
        with av.open(str(path), metadata_errors="ignore",
                     options=decoder_guard(max_pixels)) as container:
            container.seek(0)
    except av.FFmpegError:
        return False
    return True


def source_bitrate(path: Path, max_pixels: int | None = None) -> int:
    """The video's bit rate as the file tells it, 0 if it does not (probe records written
    before VideoInfo held it say 0 too)."""
    try:
        with av.open(str(path), metadata_errors="ignore",
                     options=decoder_guard(max_pixels)) as container:
            return video_bitrate(container)
    except av.FFmpegError:
        return 0


def measure_reel(path: Path) -> Reel:
    """Duration and size of the written file, read back rather than assumed."""
    try:
        with av.open(str(path)) as container:
            video = container.streams.video[0]
            duration = container.duration / 1e6 if container.duration else 0.0
            return Reel(round(duration, 3), video.codec_context.width,
                        video.codec_context.height)
    except (av.FFmpegError, IndexError) as exc:
        raise RenderFailed(f"the rendered reel cannot be read back: {exc}") from exc


def run(ctx: StageContext) -> None:
    """Render the highlights (:class:`Selection`) into REEL, measured by a :class:`Reel`;
    no segments means no reel."""
    ws = ctx.workspace
    if not ws.exists(SOURCE):
        raise MissingInput(f"render needs {SOURCE}")
    info = VideoInfo.load(ws)
    selection = Selection.load(ws)
    for stale in (REEL, REEL_META):  # a re-run must not leave an older reel behind
        ws.path(stale).unlink(missing_ok=True)
    segments = [(s.start, s.end) for s in selection.segments]
    reel = render_reel(ws.path(SOURCE), segments, info, ws.temp_path(REEL),
                       ctx.options.render_max_height, ctx.progress, ctx.options.crossfade,
                       MediaLimits.of(ctx.options).max_pixels)
    if reel is None:
        return
    ws.commit(REEL)
    reel.save(ws)
