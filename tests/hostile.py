"""Hostile and unusual test media, made by ffmpeg; nothing is committed.

The lying ones are honest clips with only the header bytes a hostile upload would change
patched, so the picture data stays real and the lie is the only thing under test.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

from stages.ffmpeg import ffmpeg_exe

MKV_DURATION = bytes.fromhex("448988")  # EBML id of Segment Info Duration, 8-byte float
SPS_NAL = 7  # H.264 NAL unit type of a sequence parameter set
HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *args], check=True)


def lying_mkv(path: Path, real: float, declared: float) -> Path:
    """An MKV of ``real`` seconds (30 fps, tiny) whose header declares ``declared`` s."""
    ffmpeg("-f", "lavfi", "-i", f"color=c=gray:s=160x90:r=30:d={real}", "-c:v", "libx264",
           "-preset", "ultrafast", "-crf", "51", "-g", "300", str(path))
    return declare_mkv_duration(path, declared)


def raw_stream(path: Path, codec: str, seconds: float = 2.0) -> Path:
    """A raw elementary stream (no container, no timestamps): ``codec`` h264 or hevc."""
    encoder = ["-c:v", "libx265", "-x265-params", "log-level=none"] if codec == "hevc" \
        else ["-c:v", "libx264"]
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s=160x90:r=25:d={seconds}", *encoder,
           "-preset", "ultrafast", "-f", codec, str(path))
    return path


def picture_bomb(path: Path, side: int = 16000) -> Path:
    """A few hundred bytes of raw H.264 whose header claims a ``side`` x ``side`` picture."""
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=64x64:r=12", "-frames:v", "2", "-c:v",
           "libx264", "-preset", "ultrafast", "-profile:v", "baseline", "-crf", "51",
           "-f", "h264", str(path))
    return claim_picture_size(path, side, side)


def growing_stream(path: Path, side: int = 16000) -> Path:
    """Raw H.264 whose first pictures are 64x64 and whose later header claims ``side``
    square: what the probe checks is fine, what comes later is not."""
    small = picture_bomb(path.with_suffix(".small"), 64).read_bytes()
    bomb = picture_bomb(path.with_suffix(".bomb"), side).read_bytes()
    path.write_bytes(small * 2 + bomb + small)
    for part in (".small", ".bomb"):
        path.with_suffix(part).unlink()
    return path


def big_picture(path: Path, width: int, height: int) -> Path:
    """A real clip of a few flat frames at ``width`` x ``height``."""
    ffmpeg("-f", "lavfi", "-i", f"color=c=red:s={width}x{height}:r=12:d=0.25", "-c:v",
           "libx264", "-preset", "ultrafast", "-crf", "51", str(path))
    return path


def high_frame_rate(path: Path, fps: int) -> Path:
    """0.2 s of a tiny clip at ``fps`` frames per second."""
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s=64x64:r={fps}:d=0.2", "-c:v", "libx264",
           "-preset", "ultrafast", str(path))
    return path


def many_tracks(path: Path, audio_tracks: int) -> Path:
    """An MKV with one video and ``audio_tracks`` silent audio tracks."""
    maps = [arg for _ in range(audio_tracks) for arg in ("-map", "1:a")]
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x64:r=10:d=0.2", "-f", "lavfi",
           "-i", "anullsrc=d=0.2", "-map", "0:v", *maps, "-c:v", "libx264",
           "-preset", "ultrafast", "-c:a", "pcm_s16le", str(path))
    return path


def sparse_keyframe_ts(path: Path, seconds: float = 2.0, gop: int = 250) -> Path:
    """MPEG-TS with a keyframe every ``gop`` frames (25 fps): it seeks by time, not index."""
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s=160x90:r=25:d={seconds}", "-c:v", "libx264",
           "-preset", "ultrafast", "-g", str(gop), str(path))
    return path


def timescale_one_mp4(path: Path) -> Path:
    """A 4 s, 25 fps MP4 whose video track says its time unit is 1 s (each frame then
    claims 512 s, while the edit list keeps the movie at 4 s)."""
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=4", "-c:v", "libx264",
           "-preset", "ultrafast", str(path))
    return set_mp4_timescale(path, 1)


def declare_mkv_duration(path: Path, seconds: float) -> Path:
    """Overwrite an MKV's declared duration (milliseconds at the default timecode scale)."""
    data = bytearray(path.read_bytes())
    at = data.find(MKV_DURATION)
    assert at >= 0, "no Segment Duration element"
    data[at + 3:at + 11] = struct.pack(">d", seconds * 1000)
    path.write_bytes(bytes(data))
    return path


def set_mp4_timescale(path: Path, timescale: int) -> Path:
    """Overwrite the first track's (the video's) mdhd timescale, leaving its sample
    durations in the old units: each frame then claims to last far longer."""
    data = bytearray(path.read_bytes())
    at = data.find(b"mdhd")
    assert at >= 0 and data[at + 4] == 0, "expected a version-0 mdhd box"
    data[at + 16:at + 20] = struct.pack(">I", timescale)  # after version, flags, 2 dates
    path.write_bytes(bytes(data))
    return path


def claim_picture_size(path: Path, width: int, height: int) -> Path:
    """Rewrite every SPS of a raw H.264 stream (Annex B) to claim ``width`` x ``height``
    (multiples of 16); the slices stay those of the small real picture."""
    assert width % 16 == 0 and height % 16 == 0
    units = path.read_bytes().split(b"\x00\x00\x01")
    for i, unit in enumerate(units):
        if unit and unit[0] & 0x1F == SPS_NAL:
            units[i] = unit[:1] + _escape(_resized_sps(_unescape(unit[1:]), width, height))
    path.write_bytes(b"\x00\x00\x01".join(units))
    return path


def _unescape(payload: bytes) -> bytes:
    return payload.replace(b"\x00\x00\x03", b"\x00\x00")


def _escape(rbsp: bytes) -> bytes:
    out = bytearray()
    for byte in rbsp:
        if len(out) >= 2 and out[-2:] == b"\x00\x00" and byte <= 3:
            out.append(3)
        out.append(byte)
    return bytes(out)


def _resized_sps(rbsp: bytes, width: int, height: int) -> bytes:
    bits = "".join(f"{b:08b}" for b in rbsp)
    reader = _Bits(bits)
    profile = reader.fixed(8)
    reader.fixed(16)  # constraint flags, level
    reader.golomb()  # sps id
    if profile in HIGH_PROFILES:
        raise ValueError("high-profile SPS: encode with -profile:v baseline")
    reader.golomb()  # log2_max_frame_num_minus4
    if reader.golomb() == 0:  # pic_order_cnt_type
        reader.golomb()
    reader.golomb()  # max_num_ref_frames
    reader.fixed(1)  # gaps_in_frame_num_allowed
    head = bits[:reader.at]
    reader.golomb()
    reader.golomb()
    tail = bits[reader.at:].rstrip("0")[:-1]  # without the stop bit and its padding
    out = head + _golomb(width // 16 - 1) + _golomb(height // 16 - 1) + tail + "1"
    out += "0" * (-len(out) % 8)
    return int(out, 2).to_bytes(len(out) // 8, "big")


def _golomb(value: int) -> str:
    code = f"{value + 1:b}"
    return "0" * (len(code) - 1) + code


class _Bits:
    """Reads an SPS bit string: fixed-width fields and unsigned Exp-Golomb codes."""

    def __init__(self, bits: str) -> None:
        self.bits, self.at = bits, 0

    def fixed(self, n: int) -> int:
        self.at += n
        return int(self.bits[self.at - n:self.at], 2)

    def golomb(self) -> int:
        zeros = self.bits.index("1", self.at) - self.at
        self.at += zeros
        return self.fixed(zeros + 1) - 1
