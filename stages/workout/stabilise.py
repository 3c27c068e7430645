"""Hand-held shake, zoom and roll drift and exposure drift removed from small working frames
before motion is read.

Each frame is registered to a reference by translation (phase correlation for big moves,
then robust Gauss-Newton for the sub-pixel rest) with a gain and offset for the exposure.
Once a chunk of frames shows zoom or roll (a phone sliding and tilting on the floor), the
rest of the shot is registered by similarity instead (turn.py). A camera that does neither
keeps the translation alone: fewer parameters, which a body moving symmetrically (arms
spreading) cannot mislead into a zoom.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import cv2
import numpy as np

from stages.workout.turn import SimilarityRegistration, robust_step, similarity, warp, zoom_roll

WORK_SIDE = 80  # about the longest side of the working frames: phone shake is < 1 px here
REGISTER_FACTOR = 2  # registration runs on frames this much smaller again: 4x less work
CHUNK = 32  # frames registered together; the reference may move on between chunks
ITERATIONS = 2  # Gauss-Newton steps: shake is sub-pixel after the coarse step
REANCHOR_SHARE = 0.15  # a view that moved this share of the frame (a pan) gets a new reference
BORDER = 1  # pixels ignored at the edges, where warping repeats the border
SAMPLE = 5  # every SAMPLE-th pixel estimates the noise scale
MIN_SIDE = 8  # registration needs a picture at least this big (after the factor)
# A chunk turns the rest of its shot to similarity registration when its median zoom (share)
# or roll (radians) passes TURN, or passes SOME_TURN while the similarity also explains the
# background far better than the translation (robust residual below BETTER of it). Over
# tiers 1-2 and the controls, a moving body feigns at most 0.034, and where it feigns more
# than SOME_TURN the similarity explains the picture no better (ratio >= 1.02); a phone
# sliding on the floor passes SOME_TURN with a ratio near 0.75 seconds before it passes TURN.
TURN, SOME_TURN, BETTER = 0.05, 0.02, 0.9


def shrink_factor(height: int, width: int) -> int:
    """Whole-number downscale from cache to working frames (block means are cheap)."""
    return max(1, round(max(height, width) / WORK_SIDE))


def shrink(frames: np.ndarray, factor: int) -> np.ndarray:
    """(n, h, w) frames to float32 block means, (n, h // factor, w // factor)."""
    n, h, w = frames.shape
    h, w = h // factor, w // factor
    total = np.zeros((n, h, w), np.float32)
    for dy in range(factor):  # strided slices: much faster than a reshaped mean
        for dx in range(factor):
            total += frames[:, dy:h * factor:factor, dx:w * factor:factor]
    return total / (factor * factor)


def out_of_view(matrices: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(n, h, w): the pixels each matrix maps outside the picture (or onto its edge row)."""
    h, w = shape
    y, x = np.mgrid[:h, :w]
    points = np.stack([x.ravel(), y.ravel(), np.ones(h * w)])
    source = matrices[:, :2] @ points  # (n, 2, pixels): x, y in the frame
    inside = ((source[:, 0] >= BORDER) & (source[:, 0] <= w - 1 - BORDER)
              & (source[:, 1] >= BORDER) & (source[:, 1] <= h - 1 - BORDER))
    return ~inside.reshape(-1, h, w)


def translate(frames: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Each frame moved back by its (dy, dx) shift, bilinear, edges repeated."""
    n, h, w = frames.shape
    out = np.empty_like(frames)
    for i in range(n):
        matrix = np.array([[1, 0, -shifts[i, 1]], [0, 1, -shifts[i, 0]]], np.float32)
        out[i] = cv2.warpAffine(frames[i], matrix, (w, h), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
    return out


class Stabiliser:
    """Registers frames of one video, in order, to a reference that only moves on for pans."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.shape = (shape[0] // REGISTER_FACTOR, shape[1] // REGISTER_FACTOR)
        h, w = self.shape
        self.usable = min(h, w) >= MIN_SIDE  # tinier pictures are taken as they are
        self.window = cv2.createHanningWindow((max(w, 2), max(h, 2)), cv2.CV_32F)
        inner = np.zeros(self.shape, bool)
        inner[BORDER:h - BORDER, BORDER:w - BORDER] = True
        self.inner = inner.ravel()
        self.ref = np.zeros(self.shape, np.float32)
        self.anchored = False
        self.origin = np.zeros(2)  # the reference's shift from the first one (dy, dx)
        self.turning = False  # zoom or roll seen: registered by similarity from then on
        self.matrix = np.eye(3)  # where the last frame's similarity ended
        f = REGISTER_FACTOR  # a registration pixel is the mean of f x f working pixels
        self.to_work = np.array([[f, 0, (f - 1) / 2], [0, f, (f - 1) / 2], [0, 0, 1]])

    def align(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(stabilised float32 frames, their shifts (dy, dx) from the first reference, in
        working pixels).

        When the shot starts turning within these frames, they are all registered again by
        similarity: the chunks before the one where the zoom or roll showed were already
        zooming, only less.
        """
        if self.turning:
            return self._align(frames)
        before = dict(self.__dict__)  # every attribute is replaced, never changed in place
        out, shifts = self._align(frames)
        if self.turning:
            self.__dict__.update(before)
            self.turning = True
            out, shifts = self._align(frames)
        return out, shifts

    def _align(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = np.empty(frames.shape, np.float32)
        shifts = np.zeros((len(frames), 2))
        if not self.usable:
            out[:] = frames
            return out, shifts
        for start in range(0, len(frames), CHUNK):
            chunk = frames[start:start + CHUNK]
            small = shrink(chunk, REGISTER_FACTOR)
            if not self.anchored:
                self._set_reference(small[0], chunk[0])
            local, gain = self._register(small)
            # Tracked from the last frame once turning; else from the translation, to see
            # whether the chunk zooms or rolls.
            matrices, exposure = self.similar.register(
                small, np.repeat(self.matrix[None], len(small), axis=0) if self.turning
                else similarity(np.c_[local, np.zeros((len(local), 2))], (0, 0)))
            self.matrix = matrices[-1]
            turned = float(np.abs(np.median(zoom_roll(matrices), axis=0)).max())
            self.turning = self.turning or turned > TURN or (
                turned > SOME_TURN and self._explains_better(small, local, gain, matrices,
                                                             exposure))
            outside = None
            if self.turning:
                gain = exposure
                work = self.to_work @ matrices @ np.linalg.inv(self.to_work)
                moved, outside = warp(chunk, work), out_of_view(work, chunk.shape[1:])
                centre = np.array(self.similar.centre[::-1] + (1.0,))
                local = (matrices @ centre)[:, 1::-1] - centre[1::-1]  # (dy, dx) of the centre
            else:
                moved = translate(chunk, local * REGISTER_FACTOR)
            out[start:start + len(chunk)] = ((moved - gain[:, 1, None, None])
                                             / np.maximum(1 + gain[:, 0], 0.2)[:, None, None])
            if outside is not None:  # zoomed or rolled out of the view: the reference's view
                out[start:start + len(chunk)][outside] = np.broadcast_to(
                    self.view, outside.shape)[outside]
            shifts[start:start + len(chunk)] = (local + self.origin) * REGISTER_FACTOR
            if np.abs(local[-1]).max() > REANCHOR_SHARE * min(self.shape):
                self.origin = self.origin + local[-1]
                self.matrix = np.eye(3)
                self._set_reference(small[-1], chunk[-1])
        return out, shifts

    def _set_reference(self, frame: np.ndarray, view: np.ndarray) -> None:
        """``frame``: the new reference, registration-sized; ``view``: the same, working-sized."""
        self.view = view.astype(np.float32)
        self.ref = frame.copy()
        self.anchored = True
        gy, gx = np.gradient(frame)
        design = np.stack([-gy.ravel(), -gx.ravel(), frame.ravel(), np.ones(frame.size)], 1)
        self.design = design[self.inner].astype(np.float32)
        self.products = (self.design[:, :, None] * self.design[:, None, :]).reshape(-1, 16)
        self.similar = SimilarityRegistration(frame, self.inner)

    def _explains_better(self, chunk: np.ndarray, shifts: np.ndarray, gain: np.ndarray,
                         matrices: np.ndarray, exposure: np.ndarray) -> bool:
        """Whether the similarity leaves far less residual than the translation does (in the
        chunk's median, each robust: the median absolute deviation over the pixels)."""
        ref = self.ref.ravel()[self.inner]

        def residual(warped: np.ndarray, light: np.ndarray) -> np.ndarray:
            rest = (warped.reshape(len(warped), -1)[:, self.inner]
                    - (ref * (1 + light[:, :1]) + light[:, 1:]))
            return np.median(np.abs(rest - np.median(rest, axis=1, keepdims=True)), axis=1)

        ratio = (residual(warp(chunk, matrices), exposure)
                 / np.maximum(residual(translate(chunk, shifts), gain), 1e-6))
        return bool(np.median(ratio) < BETTER)

    def _register(self, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Shifts (dy, dx) of a chunk and its exposure (gain - 1, offset) against the ref."""
        shift = self._coarse(chunk)
        warped = chunk if not shift.any() else translate(chunk, shift)
        for i in range(ITERATIONS):
            step = self._gauss_newton(warped)
            shift = shift + step[:, :2]
            if i + 1 < ITERATIONS:
                warped = translate(chunk, shift)
        return shift, step[:, 2:]  # exposure, fitted with the last (sub-pixel) step

    def _coarse(self, chunk: np.ndarray) -> np.ndarray:
        """Whole-pixel shifts by phase correlation, only when the view moved (a pan, a bump):
        for sub-pixel shake the fine step does better alone."""
        if not self._moved(chunk[-1]):
            return np.zeros((len(chunk), 2))
        return np.array([self._moved(frame) or (0.0, 0.0) for frame in chunk])

    def _moved(self, frame: np.ndarray) -> tuple[float, float] | None:
        """The whole-pixel shift of ``frame`` if it is big and really fits better than none;
        a walker crossing the picture can draw the correlation peak to itself."""
        # Copies: OpenCV 5.0's phaseCorrelate multiplies its inputs by the window in place.
        (dx, dy), _ = cv2.phaseCorrelate(self.ref.copy(), frame.copy(), self.window)
        dy, dx = round(dy), round(dx)
        h, w = self.shape
        if max(abs(dx), abs(dy)) < 2 or min(h - abs(dy), w - abs(dx)) < 8:
            return None
        ys, xs = slice(max(0, dy), h + min(0, dy)), slice(max(0, dx), w + min(0, dx))
        ref_ys, ref_xs = slice(max(0, -dy), h + min(0, -dy)), slice(max(0, -dx), w + min(0, -dx))
        moved = np.median(np.abs(frame[ys, xs] - self.ref[ref_ys, ref_xs]))
        still = np.median(np.abs(frame - self.ref))
        return (float(dy), float(dx)) if moved < 0.7 * still else None

    def _gauss_newton(self, warped: np.ndarray) -> np.ndarray:
        """Per frame (dy, dx, gain - 1, offset) that best explains warped - ref, robustly."""
        error = (warped.reshape(len(warped), -1) - self.ref.ravel())[:, self.inner]
        return robust_step(error, self.design, self.products, SAMPLE)


def stabilise(batches: Iterator[tuple[int, np.ndarray]], count: int,
              on_progress: Callable[[float], None], cuts: Sequence[int],
              out: Callable[[np.ndarray], None]) -> None:
    """Stabilise the first ``count`` frames of a cache into uint8 working frames, passed to
    ``out`` in order, a run at a time (``count`` in all: missing ones are black).

    A cut starts a new shot: registration starts afresh there.
    """
    shape: tuple[int, int] | None = None
    stabiliser: Stabiliser | None = None
    factor, done = 1, 0
    for start, batch in batches:
        on_progress(min(1.0, (start + len(batch)) / max(count, 1)))
        if start >= count:
            break
        batch = np.asarray(batch[:count - start])
        if shape is None:
            factor = shrink_factor(*batch.shape[1:])
            shape = (batch.shape[1] // factor, batch.shape[2] // factor)
        fresh = {c - start for c in cuts if start <= c < start + len(batch)}
        edges = sorted({0, *fresh, len(batch)})
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            if a in fresh or stabiliser is None:
                stabiliser = Stabiliser(shape)
            aligned, _ = stabiliser.align(shrink(batch[a:b], factor))
            out(np.clip(aligned + 0.5, 0, 255).astype(np.uint8))
        done = start + len(batch)
    if shape is not None and done < count:
        out(np.zeros((count - done, *shape), np.uint8))


def stable_frames(batches: Iterator[tuple[int, np.ndarray]], count: int,
                  on_progress: Callable[[float], None],
                  cuts: Sequence[int] = ()) -> np.ndarray:
    """All frames of a cache as stabilised uint8 working frames (n, h, w), in memory
    (:func:`stabilise` streams them instead)."""
    runs: list[np.ndarray] = []
    stabilise(batches, count, on_progress, cuts, runs.append)
    return np.concatenate(runs) if runs else np.zeros((0, 8, 8), np.uint8)
