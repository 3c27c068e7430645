"""Loudness envelope: exact levels of known signals, chunking independence, silence."""

from __future__ import annotations

import numpy as np
import pytest

from stages.audio import SILENCE_DB, AudioEnvelope, envelope_from_chunks, rms_db


def _sine(amplitude: float, seconds: float, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * 32767 * np.sin(2 * np.pi * 400 * t)).astype(np.int16)


def test_rms_of_a_sine_in_dbfs() -> None:
    levels = rms_db(_sine(0.5, 1.0), 160)
    assert levels.dtype == np.float32 and len(levels) == 100
    # RMS of a sine is amplitude / sqrt(2): 0.5 -> -9.03 dBFS.
    assert np.allclose(levels, 20 * np.log10(0.5 / np.sqrt(2)), atol=0.05)


def test_silence_is_the_floor_not_minus_infinity() -> None:
    levels = rms_db(np.zeros(1600, dtype=np.int16), 160)
    assert np.all(levels == SILENCE_DB)


def test_chunk_boundaries_do_not_change_the_envelope() -> None:
    samples = np.concatenate([_sine(0.1, 0.5), _sine(0.9, 0.5), _sine(0.01, 0.505)])
    data = samples.tobytes()
    whole = envelope_from_chunks([data])
    # Odd sizes, one even splitting a sample in two.
    sizes = [3, 1001, 4096, 7, 20000]
    chunks, pos = [], 0
    for size in sizes * 10:
        chunks.append(data[pos:pos + size])
        pos += size
    chunks.append(data[pos:])
    chunked = envelope_from_chunks(c for c in chunks if c)
    assert whole.hop == chunked.hop == 0.01
    assert len(whole.rms_db) == 151  # 150 whole hops and a last partial one
    assert np.array_equal(whole.rms_db, chunked.rms_db)
    assert whole.rms_db[60] - whole.rms_db[10] == pytest.approx(20 * np.log10(9), abs=0.1)


def test_level_at_frame_times() -> None:
    envelope = AudioEnvelope(np.array([-60, -60, -20, -20], dtype=np.float32), 0.01)
    assert envelope.at(np.array([0.0, 0.035, 1.0])).tolist() == [-60, -20, -20]
    assert AudioEnvelope(np.zeros(0, np.float32), 0.01).at(np.array([0.5]))[0] == SILENCE_DB
