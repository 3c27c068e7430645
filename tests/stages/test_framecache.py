"""Frame cache: what is written is read back in order; half-written caches stay invisible."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stages.errors import MissingInput
from stages.framecache import FrameCache, FrameCacheWriter
from stages.workspace import FRAMES_META, Workspace


def _frames(start: int, n: int) -> np.ndarray:
    return (np.arange(start, start + n)[:, None, None] * np.ones((1, 6, 8))).astype(np.uint8)


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
    assert ws.read_json(FRAMES_META) == {"count": 12, "height": 6, "width": 8, "fps": 10.0}


def test_wrong_shape_is_rejected(tmp_path: Path) -> None:
    with FrameCacheWriter(Workspace(tmp_path), 6, 8) as writer, pytest.raises(ValueError):
        writer.append(np.zeros((2, 8, 6), np.uint8))


def test_unfinished_cache_is_missing(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    with pytest.raises(RuntimeError), FrameCacheWriter(ws, 6, 8) as writer:
        writer.append(_frames(0, 3))
        raise RuntimeError("decoder died")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(MissingInput):
        FrameCache.open(ws)


def test_timestamps_must_match_frames(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    writer = FrameCacheWriter(ws, 6, 8)
    writer.append(_frames(0, 3))
    with pytest.raises(ValueError):
        writer.close(np.arange(2.0), fps=10.0)
    assert list(tmp_path.iterdir()) == []
