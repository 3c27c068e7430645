"""Frames of a planned workout clip: per-frame motion phase, camera shake, pan and exposure,
zoom/roll drift and a bench in front (tier 3), drawn over a textured room (workout_scene.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from tests.groundtruth.workout_plan import VERSION, Plan
from tests.groundtruth.workout_scene import Look, bench, draw, pose, room, walker_pose


def _smooth_noise(rng: np.random.Generator, n: int, sigma_frames: float) -> np.ndarray:
    """Aperiodic wobble in [-1, 1]: low-passed white noise."""
    noise = rng.normal(0, 1, n + 1).astype(np.float32)
    width = int(6 * sigma_frames) | 1
    x = cv2.GaussianBlur(noise[:, None], (1, width), sigma_frames,
                         borderType=cv2.BORDER_REFLECT)[:, 0]
    return x / max(float(np.abs(x).max()), 1e-6)


def _ease(x: np.ndarray) -> np.ndarray:
    return (1 - np.cos(np.pi * np.clip(x, 0, 1))) / 2


def timeline(p: Plan, times: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame phase, ROM, arm lift, body offset; the camera's shake, pan and gain."""
    rng = np.random.default_rng([p.spec.seed, VERSION, 1])
    n, fps = len(times), p.spec.fps
    phase, rom, lift, body = (np.zeros(n) for _ in range(4))
    for s in (r for reps in p.sets for r in reps):
        for a, b, f in ((s.start, s.bottom, lambda u: _ease(u)), (s.bottom, s.leave, None),
                        (s.leave, s.end, lambda u: 1 - _ease(u))):
            sel = (times >= a) & (times < b)
            phase[sel] = 1.0 if f is None else f((times[sel] - a) / max(b - a, 1e-9))
            rom[sel] = s.rom
    for t0, up, hold, down, amp in p.gestures:
        u = np.minimum(_ease((times - t0) / up), 1 - _ease((times - t0 - up - hold) / down))
        lift = np.maximum(lift, amp * np.clip(u, 0, 1))
    for t0, length, dx in p.steps:
        body += dx * _ease((times - t0) / length)
    body += 0.012 * _smooth_noise(rng, n, 1.0 * fps)[:n]
    shake = np.zeros((n, 2))
    if p.spec.shake:
        for axis in range(2):
            shake[:, axis] = rng.uniform(5, 8) * _smooth_noise(rng, n, 0.12 * fps)[:n]
    pan = np.zeros(n)
    if p.spec.control == "pan":
        t = rng.uniform(1, 4)
        while t < p.duration:
            length, dx = rng.uniform(1.5, 4.0), rng.uniform(0.1, 0.3) * rng.choice([-1, 1])
            pan += dx * p.spec.width * _ease((times - t) / length)
            t += length + rng.uniform(0.5, 5.0)
        pan = np.clip(pan, -0.45 * p.spec.width, 0.45 * p.spec.width)
    gain = 1 + 0.15 * _smooth_noise(rng, n, 5.0 * fps)[:n] if p.spec.exposure else np.ones(n)
    line = {"phase": phase, "rom": rom, "lift": lift, "body": body, "shake": shake,
            "pan": pan, "gain": gain}
    _hard(p, times, line)
    return line


def _hard(p: Plan, times: np.ndarray, line: dict[str, np.ndarray]) -> None:
    """Issue-14 signals from their own random stream, so older clips keep their pixels."""
    rng = np.random.default_rng([p.spec.seed, VERSION, 3])
    n, fps = len(times), p.spec.fps
    line["zoom"], line["roll"], line["nod"] = np.ones(n), np.zeros(n), np.zeros(n)
    if p.spec.drift:  # slow, aperiodic: a phone sliding and tilting on the floor
        line["zoom"] = 1 + 0.12 * _smooth_noise(rng, n, 4.0 * fps)[:n]
        line["roll"] = 3.0 * _smooth_noise(rng, n, 4.0 * fps)[:n]
    if p.spec.control == "talking":  # hands and head move with speech, without a rhythm
        hands = np.abs(_smooth_noise(rng, n, 0.35 * fps)[:n])
        line["lift"] = np.maximum(line["lift"], 0.45 * hands)
        line["nod"] = _smooth_noise(rng, n, 0.25 * fps)[:n]


def frames(p: Plan) -> Iterator[np.ndarray]:
    """Yield displayed gray frames (height, width) uint8, in order."""
    spec = p.spec
    rng = np.random.default_rng([spec.seed, VERSION, 2])
    w, h = spec.width, spec.height
    margin_x, margin_y = int(0.5 * w) + 16, 16
    background, wall = room(rng, w + 2 * margin_x, h + 2 * margin_y)
    look = Look.draw(rng, wall)
    walker_looks = [Look.draw(rng, wall) for _ in p.crossings]
    size = h * rng.uniform(0.42, 0.5) if h > w else h * rng.uniform(0.5, 0.6)
    ground = h * rng.uniform(0.86, 0.92)
    home = w * rng.uniform(0.4, 0.6)
    # Sensor noise, precomputed: split in a positive and a negative part for saturating adds.
    noise = [rng.normal(0, 2.0, (h, w)) for _ in range(5)]
    grain = [(np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8))
             for n in noise]
    times = np.arange(round(p.duration * spec.fps)) / spec.fps
    line = timeline(p, times)
    movement = spec.movement or ("jack" if spec.seed % 2 or spec.control == "talking"
                                 else "press")
    shade = bench_look(spec.seed, look)
    centre = (w / 2, h / 2)
    for i, t in enumerate(times):
        x0 = margin_x + round(line["pan"][i] + line["shake"][i, 0])
        y0 = margin_y + round(line["shake"][i, 1])
        img = background[y0:y0 + h, x0:x0 + w].copy()
        offset = (margin_x - x0, margin_y - y0)
        behind = [c for c in p.crossings if not c["front"]]
        _draw_crossings(img, p, behind, walker_looks, t, offset, size, ground)
        segments = pose(movement, line["phase"][i], line["rom"][i], line["lift"][i],
                        line["nod"][i])
        if spec.control != "passerby":  # that control is an empty room people walk through
            draw(img, segments, (home + line["body"][i] * size + offset[0],
                                 ground + offset[1]), size, look)
        if spec.bench:
            bench(img, (home + offset[0], ground + offset[1]), size, shade)
        front = [c for c in p.crossings if c["front"]]
        _draw_crossings(img, p, front, walker_looks, t, offset, size, ground)
        if spec.drift:
            turn = cv2.getRotationMatrix2D(centre, float(line["roll"][i]),
                                           float(line["zoom"][i]))
            img = cv2.warpAffine(img, turn, (w, h), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REFLECT_101)
        up, down = grain[i % len(grain)]
        img = cv2.convertScaleAbs(img, alpha=float(line["gain"][i]))
        yield cv2.subtract(cv2.add(img, up), down)


def bench_look(seed: int, look: Look) -> int:
    """The bench's grey: its own stream, and clearly off the figure's trousers."""
    rng = np.random.default_rng([seed, VERSION, 4])
    level = rng.uniform(30, 220)
    return int(level if abs(level - look.pants) > 40 else (level + 110) % 250)


def _draw_crossings(img: np.ndarray, p: Plan, crossings: list[dict[str, float]],
                    looks: list[Look], t: float, offset: tuple[int, int], size: float,
                    ground: float) -> None:
    w = p.spec.width
    for c in crossings:
        u = (t - c["start"]) / c["seconds"]
        if not 0 <= u <= 1:
            continue
        s = size * c["size"]
        x = -0.3 * s + u * (w + 0.6 * s)
        x = x if c["direction"] > 0 else w - x
        y = ground + c["ground"] * p.spec.height
        look = looks[p.crossings.index(c)]
        if c["person"]:
            stride = 2 * np.pi * 0.9 * (t - c["start"])
            draw(img, walker_pose(stride), (x + offset[0], y + offset[1]), s, look,
                 mirror=c["direction"] < 0)
        else:
            top_left = (int(x + offset[0] - 0.25 * s), int(y + offset[1] - 0.45 * s))
            bottom_right = (int(x + offset[0] + 0.25 * s), int(y + offset[1]))
            cv2.rectangle(img, top_left, bottom_right, look.shirt, -1)
