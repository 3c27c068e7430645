"""Rep tracks: per frame, how far the subject is from its start pose, read off its own pixels.

Pixels weigh by how persistently they move (activity.motion_weights), so the exercising body
dominates and a walker crossing elsewhere barely counts.
"""

from __future__ import annotations

from collections import OrderedDict

import cv2
import numpy as np

from stages.workout.frames import CHUNK, FrameRange, as_range

MAX_PIXELS = 600  # the busiest pixels kept: bounded memory and work per frame
MIN_WEIGHT = 0.05  # pixels below this weight are not the subject
BLUR = 1.5  # Gaussian sigma (working pixels): a limb moved by one pixel is a small change
TELLING_PIXELS = 200  # pixels that vote on a rep's progress
MIN_POSE_CHANGE = 3.0  # grey levels: poses closer than this cannot be told apart
KEPT_CHUNKS = 16  # chunks of subject pixels kept (20 MB): a set search rereads its span


def subject_pixels(weights: np.ndarray) -> np.ndarray:
    """Indices of the pixels that carry the subject's motion, busiest first."""
    order = np.argsort(-weights, kind="stable")
    return order[weights[order] >= MIN_WEIGHT][:MAX_PIXELS]


def blur_stack(frames: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Gaussian blur of every frame of a stack in two whole-stack passes (rows, columns):
    one OpenCV call per pass instead of one per frame."""
    n, h, w = frames.shape
    rows = cv2.filter2D(frames.reshape(n * h, w).astype(np.float32), -1, kernel,
                        borderType=cv2.BORDER_REPLICATE)
    columns = np.ascontiguousarray(rows.reshape(n, h, w).transpose(0, 2, 1)).reshape(n * w, h)
    columns = cv2.filter2D(columns, -1, kernel, borderType=cv2.BORDER_REPLICATE)
    return columns.reshape(n, w, h).transpose(0, 2, 1)


class SubjectView:
    """The subject's pixels of every frame, blurred, with their weights.

    The pixels are read off the frames a chunk at a time as they are asked for, and the
    chunks read last are kept: memory is bounded by KEPT_CHUNKS, not by the video.
    """

    def __init__(self, frames: FrameRange | np.ndarray, weights: np.ndarray) -> None:
        self.frames = as_range(frames)
        h, w = self.frames.shape
        self.kernel = cv2.getGaussianKernel(int(6 * BLUR) | 1, BLUR).T
        spread = blur_stack(weights.reshape(1, h, w), self.kernel).ravel()
        spread /= max(float(spread.max()), 1e-9)
        self.pixels = subject_pixels(spread)
        self.weights = spread[self.pixels].astype(np.float32)
        self._chunks: OrderedDict[int, np.ndarray] = OrderedDict()

    def values(self, start: int, end: int) -> np.ndarray:
        """(frames, subject pixels) float32 of frames [start, end) (clipped to the video);
        not to be written to (it may be a view of a kept chunk)."""
        start, end = max(0, start), min(self.frames.count, end)
        if end <= start:
            return np.zeros((0, len(self.pixels)), np.float32)
        first, last = start // CHUNK, (end - 1) // CHUNK
        rows = (self._chunk(first) if first == last
                else np.concatenate([self._chunk(k) for k in range(first, last + 1)]))
        return rows[start - first * CHUNK:end - first * CHUNK]

    def gather(self, frames: np.ndarray) -> np.ndarray:
        """(len(frames), subject pixels) float32 of the frames with these indices."""
        index = np.asarray(frames, dtype=np.int64)
        index = np.where(index < 0, index + self.frames.count, index)
        out = np.empty((len(index), len(self.pixels)), np.float32)
        chunk = index // CHUNK
        for k in np.unique(chunk):
            inside = chunk == k
            out[inside] = self._chunk(int(k))[index[inside] - k * CHUNK]
        return out

    def _chunk(self, k: int) -> np.ndarray:
        if k in self._chunks:
            self._chunks.move_to_end(k)
            return self._chunks[k]
        blurred = blur_stack(self.frames.read(k * CHUNK, (k + 1) * CHUNK), self.kernel)
        rows = blurred.reshape(len(blurred), -1)[:, self.pixels]
        self._chunks[k] = rows
        if len(self._chunks) > KEPT_CHUNKS:
            self._chunks.popitem(last=False)
        return rows

    def _windows(self, start: int, end: int) -> list[tuple[int, int]]:
        """[start, end) clipped to the video, cut where chunks meet."""
        start, end = max(0, start), min(self.frames.count, end)
        bounds = [start, *range((start // CHUNK + 1) * CHUNK, end, CHUNK), end]
        return [(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]

    def distance(self, start: int, end: int, reference: np.ndarray) -> np.ndarray:
        """Per frame of ``[start, end)``: weighted distance from the pose that is the median of
        the ``reference`` frames (indices). Distance only grows as a body leaves that pose,
        so a rep is one bump whatever the movement (not always a clean one)."""
        n = max(0, end - start)
        if n < 1 or len(self.pixels) == 0 or len(reference) == 0:
            return np.zeros(n)
        pose = np.median(self.gather(reference), axis=0)
        parts = []
        for a, b in self._windows(start, end):
            diff = (self.values(a, b) - pose) * self.weights
            parts.append(np.sqrt((diff ** 2).sum(axis=1) / len(self.pixels)))
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def change(self, first: np.ndarray, second: np.ndarray) -> float:
        """Weighted RMS grey-level difference between two poses (medians of frames)."""
        if len(self.pixels) == 0 or not len(first) or not len(second):
            return 0.0
        diff = (np.median(self.gather(second), axis=0)
                - np.median(self.gather(first), axis=0)) * self.weights
        return float(np.sqrt((diff ** 2).mean()))

    def progress(self, start: int, end: int, start_pose: np.ndarray,
                 far_pose: np.ndarray) -> np.ndarray:
        """Per frame of ``[start, end)``: how far along from the start pose to the far pose
        (medians of frames), 0..1, as the median over the pixels that differ most between
        the two poses.

        Each such pixel tells the progress on its own; the median ignores the pixels a
        walker or an object covers, as long as it covers fewer than half of them.
        """
        n = max(0, end - start)
        if n < 1 or len(self.pixels) == 0 or not len(start_pose) or not len(far_pose):
            return np.zeros(n)
        begin = np.median(self.gather(start_pose), axis=0)
        change = np.median(self.gather(far_pose), axis=0) - begin
        telling = np.argsort(-np.abs(change) * self.weights)[:TELLING_PIXELS]
        telling = telling[np.abs(change[telling]) >= 0.3 * np.abs(change[telling[0]])]
        if not len(telling) or abs(change[telling[0]]) < MIN_POSE_CHANGE:
            return np.zeros(n)
        parts = []
        for a, b in self._windows(start, end):
            ratios = (self.values(a, b)[:, telling] - begin[telling]) / change[telling]
            parts.append(np.median(np.clip(ratios, -1.0, 2.0), axis=1))
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)
