"""Rep tracks: per frame, how far the subject is from its start pose, read off its own pixels.

Pixels weigh by how persistently they move (activity.motion_weights), so the exercising body
dominates and a walker crossing elsewhere barely counts.
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_PIXELS = 600  # the busiest pixels kept: bounded memory and work per frame
MIN_WEIGHT = 0.05  # pixels below this weight are not the subject
BLUR = 1.5  # Gaussian sigma (working pixels): a limb moved by one pixel is a small change
TELLING_PIXELS = 200  # pixels that vote on a rep's progress
MIN_POSE_CHANGE = 3.0  # grey levels: poses closer than this cannot be told apart
CHUNK = 512


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
    """The subject's pixels of every frame, blurred, with their weights."""

    def __init__(self, frames: np.ndarray, weights: np.ndarray) -> None:
        h, w = frames.shape[1:]
        kernel = cv2.getGaussianKernel(int(6 * BLUR) | 1, BLUR).T
        spread = blur_stack(weights.reshape(1, h, w), kernel).ravel()
        spread /= max(float(spread.max()), 1e-9)
        self.pixels = subject_pixels(spread)
        self.weights = spread[self.pixels].astype(np.float32)
        self.values = np.zeros((len(frames), len(self.pixels)), np.float32)
        for start in range(0, len(frames), CHUNK):
            blurred = blur_stack(frames[start:start + CHUNK], kernel)
            self.values[start:start + len(blurred)] = (
                blurred.reshape(len(blurred), -1)[:, self.pixels])

    def distance(self, start: int, end: int, reference: np.ndarray) -> np.ndarray:
        """Per frame of ``[start, end)``: weighted distance from the pose that is the median of
        the ``reference`` frames (indices). Distance only grows as a body leaves that pose,
        so a rep is one bump whatever the movement (not always a clean one)."""
        n = max(0, end - start)
        if n < 1 or len(self.pixels) == 0 or len(reference) == 0:
            return np.zeros(n)
        pose = np.median(self.values[reference], axis=0)
        diff = (self.values[start:end] - pose) * self.weights
        return np.sqrt((diff ** 2).sum(axis=1) / len(self.pixels))

    def change(self, first: np.ndarray, second: np.ndarray) -> float:
        """Weighted RMS grey-level difference between two poses (medians of frames)."""
        if len(self.pixels) == 0 or not len(first) or not len(second):
            return 0.0
        diff = (np.median(self.values[second], axis=0)
                - np.median(self.values[first], axis=0)) * self.weights
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
        begin = np.median(self.values[start_pose], axis=0)
        change = np.median(self.values[far_pose], axis=0) - begin
        telling = np.argsort(-np.abs(change) * self.weights)[:TELLING_PIXELS]
        telling = telling[np.abs(change[telling]) >= 0.3 * np.abs(change[telling[0]])]
        if not len(telling) or abs(change[telling[0]]) < MIN_POSE_CHANGE:
            return np.zeros(n)
        ratios = (self.values[start:end, telling] - begin[telling]) / change[telling]
        return np.median(np.clip(ratios, -1.0, 2.0), axis=1)
