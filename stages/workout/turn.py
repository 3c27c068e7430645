"""Zoom and roll: frames registered to a reference by a similarity (shift, zoom, roll) with a
gain and offset for the exposure, by robust inverse-compositional Gauss-Newton.

A phone propped on a gym floor slides and tilts: its picture zooms by ±12 % and rolls by ±3°
within seconds. A translation cannot follow that, and the background's edges then move
more than the subject does. Each chunk starts from the matrix its last frame ended on and
steps coarse to fine: on blurred pictures first, whose wider edges keep a displacement of a
few pixels within the linear range, then on the sharp ones.
"""

from __future__ import annotations

import cv2
import numpy as np

LEVELS = ((2.0, 2), (0.0, 2))  # (Gaussian sigma in registration pixels, steps at that blur)
PARAMETERS = 6  # dy, dx, zoom, roll, gain - 1, offset


def robust_step(error: np.ndarray, design: np.ndarray, products: np.ndarray,
                sample: int = 5) -> np.ndarray:
    """Per frame the parameters of ``design`` that best explain ``error`` (frames, pixels),
    with Cauchy weights so that movers weigh little; every ``sample``-th pixel estimates
    the noise scale (a few hundred pixels suffice)."""
    some = error[:, ::sample]
    middle = np.median(some, axis=1, keepdims=True)
    scale = np.maximum(1.5 * np.median(np.abs(some - middle), axis=1, keepdims=True), 2.0)
    weights = 1.0 / (1.0 + ((error - middle) / scale) ** 2)
    k = design.shape[1]
    normal = (weights @ products).reshape(-1, k, k) + np.eye(k) * 1e-6
    rhs = (weights * error) @ design
    return np.linalg.solve(normal.astype(np.float64), rhs[:, :, None])[:, :, 0]


def similarity(step: np.ndarray, centre: tuple[float, float]) -> np.ndarray:
    """(n, 3, 3) matrices in (x, y, 1) of small motions (dy, dx, zoom, roll) about ``centre``
    (y, x): p -> p + d + [[zoom, -roll], [roll, zoom]] (p - centre)."""
    dy, dx, a, b = np.asarray(step, dtype=np.float64).T
    cy, cx = centre
    out = np.zeros((len(dy), 3, 3))
    out[:, 0] = np.stack([1 + a, -b, dx - a * cx + b * cy], 1)
    out[:, 1] = np.stack([b, 1 + a, dy - b * cx - a * cy], 1)
    out[:, 2, 2] = 1
    return out


def zoom_roll(matrices: np.ndarray) -> np.ndarray:
    """(n, 2): each matrix's zoom (share, 0 for none) and roll (radians)."""
    linear = matrices[:, :2, :2]
    zoom = np.sqrt(np.abs(np.linalg.det(linear))) - 1
    return np.stack([zoom, np.arctan2(linear[:, 1, 0], linear[:, 0, 0])], 1)


def warp(frames: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Each frame sampled through its matrix: out(p) = frame(M p), bilinear, edges repeated."""
    n, h, w = frames.shape
    out = np.empty_like(frames)
    for i in range(n):
        out[i] = cv2.warpAffine(frames[i], matrices[i, :2].astype(np.float32), (w, h),
                                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                borderMode=cv2.BORDER_REPLICATE)
    return out


def blurred(frames: np.ndarray, sigma: float) -> np.ndarray:
    if not sigma:
        return frames
    return np.stack([cv2.GaussianBlur(f, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
                     for f in frames])


class SimilarityRegistration:
    """Registers frames to one reference frame by similarity and exposure."""

    def __init__(self, reference: np.ndarray, inner: np.ndarray) -> None:
        h, w = reference.shape
        self.centre = ((h - 1) / 2, (w - 1) / 2)
        self.inner = inner  # flat mask of the pixels compared (warped edges repeat the border)
        y, x = np.mgrid[:h, :w]
        y, x = (y - self.centre[0]).ravel()[inner], (x - self.centre[1]).ravel()[inner]
        self.levels = []
        for sigma, steps in LEVELS:
            ref = blurred(reference[None], sigma)[0]
            gy, gx = (g.ravel()[inner] for g in np.gradient(ref))
            design = np.stack([-gy, -gx, -(gx * x + gy * y), -(gy * x - gx * y),
                               ref.ravel()[inner], np.ones(len(gx))], 1).astype(np.float32)
            products = (design[:, :, None] * design[:, None, :]).reshape(-1, PARAMETERS ** 2)
            self.levels.append((sigma, steps, ref.ravel()[inner], design, products))

    def register(self, chunk: np.ndarray, matrices: np.ndarray) -> tuple[np.ndarray,
                                                                         np.ndarray]:
        """(the matrices (n, 3, 3) that map the reference's pixels onto each frame's, refined
        from ``matrices``; each frame's exposure against the reference (gain - 1, offset))."""
        step = np.zeros((len(chunk), PARAMETERS))
        for sigma, steps, ref, design, products in self.levels:
            frames = blurred(chunk, sigma)
            for _ in range(steps):
                warped = warp(frames, matrices).reshape(len(chunk), -1)[:, self.inner]
                step = robust_step(warped - ref, design, products)
                # The step is the reference's own small motion with its sign flipped (the
                # design's gradients are negated): compose with its inverse.
                matrices = matrices @ np.linalg.inv(similarity(-step[:, :4], self.centre))
        return matrices, step[:, 4:]
