"""Loudness envelope of a video's sound: RMS dBFS per 10 ms hop, from streamed 16 kHz PCM."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.ffmpeg import ffmpeg_exe
from stages.limits import ffmpeg_guard
from stages.workspace import AUDIO, Workspace

RATE = 16000  # Hz; loudness needs no more
HOP = 0.01  # seconds per envelope value
SILENCE_DB = -100.0  # the level given to digital silence (log of zero)
CHUNK_SECONDS = 10.0  # PCM read per pipe read (320 kB)


class AudioDecodeFailed(Exception):
    """ffmpeg could not decode the sound track."""


@dataclass(frozen=True)
class AudioEnvelope:
    """The loudness record: written by the decode stage (:func:`save_envelope`, AUDIO npz
    of ``rms_db`` and ``hop``), absent when the video has no decodable sound; read by the
    score stage (:func:`load_envelope`) for its loudness scorer. Hop i covers seconds
    [i * hop, (i + 1) * hop) of the sound track (the last one may be shorter)."""

    rms_db: np.ndarray  # float32 RMS level in dBFS, one per hop; SILENCE_DB at the least
    hop: float  # seconds

    def at(self, times: np.ndarray) -> np.ndarray:
        """Level in dB at the given times (linear between hop centres)."""
        if len(self.rms_db) == 0:
            return np.full(len(times), SILENCE_DB, dtype=np.float32)
        centres = (np.arange(len(self.rms_db)) + 0.5) * self.hop
        return np.interp(times, centres, self.rms_db).astype(np.float32)


def rms_db(samples: np.ndarray, hop_samples: int) -> np.ndarray:
    """RMS level in dBFS of each whole hop of int16 samples (a trailing partial hop is dropped)."""
    whole = len(samples) // hop_samples * hop_samples
    x = samples[:whole].astype(np.float32).reshape(-1, hop_samples) / 32768.0
    rms = np.sqrt(np.mean(x * x, axis=1))
    db = 20 * np.log10(np.maximum(rms, 1e-12))
    return np.maximum(db, SILENCE_DB).astype(np.float32)


def envelope_from_chunks(chunks: Iterable[bytes], rate: int = RATE,
                         hop: float = HOP) -> AudioEnvelope:
    """Stream s16le mono chunks of any size into an envelope; carries partial hops over."""
    hop_samples = round(rate * hop)
    parts: list[np.ndarray] = []
    carry = b""  # bytes of the last, unfinished hop (possibly half a sample)
    for chunk in chunks:
        data = carry + chunk
        whole = len(data) // (2 * hop_samples) * (2 * hop_samples)
        parts.append(rms_db(np.frombuffer(data[:whole], dtype="<i2"), hop_samples))
        carry = data[whole:]
    if len(carry) >= 2:
        tail = np.frombuffer(carry[: len(carry) // 2 * 2], dtype="<i2")
        parts.append(rms_db(tail, len(tail)))
    levels = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return AudioEnvelope(levels, hop_samples / rate)


def pcm_chunks(path: Path, rate: int = RATE, chunk_seconds: float = CHUNK_SECONDS,
               max_pixels: int | None = None) -> Generator[bytes, None, None]:
    """Decode the first audio stream to s16le mono with ffmpeg, yielding chunks as they come.
    ``max_pixels``: ffmpeg's look at the video (it decodes a few frames) allocates no
    bigger picture."""
    cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", *ffmpeg_guard(max_pixels), "-i", str(path),
           "-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1", "-ar", str(rate),
           "-f", "s16le", "pipe:"]
    chunk_bytes = int(rate * chunk_seconds) * 2
    # stderr goes to a file: a pipe nobody reads could fill up and stall ffmpeg.
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors,
                                stdin=subprocess.DEVNULL)
        assert proc.stdout is not None
        try:
            while chunk := proc.stdout.read(chunk_bytes):
                yield chunk
            if proc.wait() != 0:
                errors.seek(0)
                raise AudioDecodeFailed(errors.read()[-300:].decode("utf-8", "replace"))
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
            proc.wait()


def extract_envelope(path: Path, on_progress: Callable[[float], None] | None = None,
                     max_pixels: int | None = None) -> AudioEnvelope:
    """Envelope of the file's sound; ``on_progress(seconds decoded)`` after each chunk."""
    decoded = 0.0

    def counted(chunks: Iterator[bytes]) -> Iterator[bytes]:
        nonlocal decoded
        for chunk in chunks:
            yield chunk
            decoded += len(chunk) / 2 / RATE
            if on_progress is not None:
                on_progress(decoded)

    with closing(pcm_chunks(path, max_pixels=max_pixels)) as chunks:
        return envelope_from_chunks(counted(chunks))


def save_envelope(workspace: Workspace, envelope: AudioEnvelope) -> None:
    with open(workspace.temp_path(AUDIO), "wb") as f:
        np.savez(f, rms_db=envelope.rms_db.astype(np.float32), hop=np.float64(envelope.hop))
    workspace.commit(AUDIO)


def load_envelope(workspace: Workspace) -> AudioEnvelope | None:
    """The saved envelope, or None when the video has no (decodable) sound."""
    if not workspace.exists(AUDIO):
        return None
    with np.load(workspace.path(AUDIO)) as data:
        return AudioEnvelope(data["rms_db"].astype(np.float32), float(data["hop"]))
