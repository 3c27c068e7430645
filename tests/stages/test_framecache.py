"""Frame cache: what is written is read back exactly, in any batches; half-written caches stay
invisible; reading keeps memory flat."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from stages.errors import MissingInput
from stages.framecache import CHUNK_FRAMES, FrameCache, FrameCacheWriter
from stages.workspace import FRAME_TIMES, FRAMES, FRAMES_META, Workspace


def _frames(start: int, n: int) -> np.ndarray:
    return (np.arange(start, start + n)[:, None, None] * np.ones((1, 6, 8))).astype(np.uint8)


def _noise(n: int, shape: tuple[int, int] = (9, 16), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)


def _write(ws: Workspace, frames: np.ndarray, appends: list[int], fps: float = 30.0) -> None:
    with FrameCacheWriter(ws, *frames.shape[1:]) as writer:
        start = 0
        for n in appends:
            writer.append(frames[start:start + n])
            start += n
        writer.close(np.arange(len(frames)) / fps, fps)


def test_round_trip_in_batches(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    with FrameCacheWriter(ws, 6, 8) as writer:
        writer.append(_frames(0, 5))
        writer.append(_frames(5, 7))
        writer.close(np.arange(12) / 10, fps=10.0)
    cache = FrameCache.open(ws)
    assert (cache.count, cache.height, cache.width, cache.fps) == (12, 6, 8, 10.0)
    assert cache.times.dtype == np.float64 and np.allclose(cache.times, np.arange(12) / 10)
    seen = list(cache.batches(size=5))
    assert [start for start, _ in seen] == [0, 5, 10]
    assert np.array_equal(np.concatenate([b for _, b in seen])[:, 0, 0], np.arange(12))
    meta = ws.read_json(FRAMES_META)
    assert {k: meta[k] for k in ("count", "height", "width", "fps")} == {
        "count": 12, "height": 6, "width": 8, "fps": 10.0}


@pytest.mark.parametrize("size", [1, 7, CHUNK_FRAMES, CHUNK_FRAMES + 1, 300])
def test_noise_round_trips_exactly_in_batches_across_chunk_edges(tmp_path: Path,
                                                                 size: int) -> None:
    frames = _noise(3 * CHUNK_FRAMES + 5)
    ws = Workspace(tmp_path)
    _write(ws, frames, [1, CHUNK_FRAMES - 2, CHUNK_FRAMES + 3, 2 * CHUNK_FRAMES, 3])
    cache = FrameCache.open(ws)
    seen = list(cache.batches(size))
    assert [start for start, _ in seen] == list(range(0, len(frames), size))
    assert all(b.shape[1:] == (9, 16) and b.dtype == np.uint8 for _, b in seen)
    assert np.array_equal(np.concatenate([b for _, b in seen]), frames)


def test_ranges_and_single_frames_read_back(tmp_path: Path) -> None:
    frames = _noise(2 * CHUNK_FRAMES + 10, seed=1)
    ws = Workspace(tmp_path)
    _write(ws, frames, [len(frames)])
    cache = FrameCache.open(ws)
    edge = CHUNK_FRAMES
    assert np.array_equal(cache.read(edge - 3, 2 * edge + 4), frames[edge - 3:2 * edge + 4])
    assert np.array_equal(cache.read(-5, 3), frames[:3])  # clipped to the cache
    assert cache.read(len(frames), len(frames) + 9).shape == (0, 9, 16)
    assert np.array_equal(cache.frames[edge], frames[edge])
    assert np.array_equal(cache.frames[-1], frames[-1])
    assert np.array_equal(cache.frames[edge - 2:edge + 9:3], frames[edge - 2:edge + 9:3])
    assert np.array_equal(np.asarray(cache.frames), frames) and len(cache.frames) == len(frames)
    with pytest.raises(IndexError):
        cache.frames[len(frames)]


def test_a_still_picture_is_stored_compressed(tmp_path: Path) -> None:
    gradient = np.add.outer(np.arange(90), np.arange(160)).astype(np.uint8)
    frames = np.repeat(gradient[None], 200, axis=0)
    ws = Workspace(tmp_path)
    _write(ws, frames, [64] * 3 + [8])
    assert ws.path(FRAMES).stat().st_size < frames.nbytes / 20
    assert np.array_equal(np.asarray(FrameCache.open(ws).frames), frames)


def test_a_raw_cache_of_an_older_version_still_reads(tmp_path: Path) -> None:
    frames = _noise(CHUNK_FRAMES + 9, seed=2)
    ws = Workspace(tmp_path)
    ws.path(FRAMES).write_bytes(frames.tobytes())
    np.save(ws.path(FRAME_TIMES), np.arange(len(frames)) / 25)
    ws.write_json(FRAMES_META, {"count": len(frames), "height": 9, "width": 16, "fps": 25.0})
    cache = FrameCache.open(ws)
    assert np.array_equal(np.concatenate([b for _, b in cache.batches(10)]), frames)


def test_an_unknown_format_is_refused_clearly(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    _write(ws, _noise(3), [3])
    meta = json.loads(ws.path(FRAMES_META).read_text())
    ws.write_json(FRAMES_META, {**meta, "format": "from-the-future"})
    with pytest.raises(MissingInput, match="unknown format"):
        FrameCache.open(ws)


def test_wrong_shape_is_rejected(tmp_path: Path) -> None:
    with FrameCacheWriter(Workspace(tmp_path), 6, 8) as writer, pytest.raises(ValueError):
        writer.append(np.zeros((2, 8, 6), np.uint8))


def test_unfinished_cache_is_missing(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    with pytest.raises(RuntimeError), FrameCacheWriter(ws, 6, 8) as writer:
        writer.append(_frames(0, 3 * CHUNK_FRAMES))  # whole chunks are on disk already
        raise RuntimeError("decoder died")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(MissingInput):
        FrameCache.open(ws)


def test_abort_leaves_nothing(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    writer = FrameCacheWriter(ws, 9, 16)
    writer.append(_noise(CHUNK_FRAMES + 1))
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_timestamps_must_match_frames(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    writer = FrameCacheWriter(ws, 6, 8)
    writer.append(_frames(0, 3))
    with pytest.raises(ValueError):
        writer.close(np.arange(2.0), fps=10.0)
    assert list(tmp_path.iterdir()) == []


def _peak_while_reading(ws: Workspace, size: int) -> int:
    cache = FrameCache.open(ws)
    tracemalloc.start()
    try:
        for _ in cache.batches(size):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_reading_holds_a_batch_and_a_chunk_not_the_video(tmp_path: Path) -> None:
    frames = _noise(40 * CHUNK_FRAMES, (90, 160), seed=3)  # 37 MB, incompressible
    short, long = Workspace(tmp_path / "short"), Workspace(tmp_path / "long")
    _write(short, frames[:10 * CHUNK_FRAMES], [256] * 2 + [128])
    _write(long, frames, [256] * (len(frames) // 256))
    chunk = CHUNK_FRAMES * frames[0].nbytes
    for size in (64, 256):
        peak = _peak_while_reading(long, size)
        assert peak < 6 * max(chunk, size * frames[0].nbytes)
        assert peak < _peak_while_reading(short, size) + chunk  # the length adds nothing
