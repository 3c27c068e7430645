"""Drawing for the synthetic workout clips: a textured room, the exercising figure, walkers.

Poses are joint positions in units of the figure's height, y pointing down, feet at (0, 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MOVEMENTS = ("squat", "press", "swing", "jack")  # vertical, vertical, horizontal, two-peak
SHIFT = 4  # fixed-point bits for sub-pixel drawing
THIGH, SHIN, TORSO, UPPER_ARM, FOREARM, HEAD = 0.25, 0.25, 0.30, 0.17, 0.16, 0.065

Segment = tuple[tuple[float, float], tuple[float, float], float]  # a, b, thickness


@dataclass(frozen=True)
class Look:
    """Grey levels of one figure."""

    skin: int
    shirt: int
    pants: int
    weight: int

    @classmethod
    def draw(cls, rng: np.random.Generator, background: float) -> Look:
        # Keep every part clearly off the wall's grey, as clothes usually are.
        def level() -> int:
            return int(rng.choice([rng.uniform(20, background - 45),
                                   rng.uniform(background + 45, 235)]))
        return cls(level(), level(), level(), level())


def _dir(angle_deg: float) -> np.ndarray:
    """Unit vector ``angle`` degrees from straight down, towards +x."""
    a = np.radians(angle_deg)
    return np.array([np.sin(a), np.cos(a)])


def pose(movement: str, phase: float, rom: float, arm_lift: float,
         nod: float = 0.0) -> list[Segment]:
    """Segments of the figure at rep ``phase`` (0 start pose .. 1 far end) scaled by ``rom``.

    The jumping jack hops on each transition (two bumps per rep); ``arm_lift`` (0..1)
    raises an arm for a fidget when not exercising; ``nod`` (-1..1) tilts the head (talking).
    """
    q = rom * phase
    if movement == "squat":
        return _squat(q, arm_lift)
    spread = 0.17 * q if movement == "jack" else 0.0
    hop = -0.05 * rom * np.sin(np.pi * phase) if movement == "jack" else 0.0
    ankle_l, ankle_r = np.array([-0.06 - spread, 0.0]), np.array([0.06 + spread, 0.0])
    hip_y = hop - np.sqrt(0.25 - spread ** 2)
    hip_l, hip_r = np.array([-0.06, hip_y]), np.array([0.06, hip_y])
    neck = np.array([0.0, hip_y - TORSO])
    shoulder_l, shoulder_r = neck + [-0.11, 0.0], neck + [0.11, 0.0]
    head = neck + [0, -0.04 - HEAD]
    if nod:  # only when talking: other clips keep their exact arithmetic
        head = head + [0.012 * nod, 0.01 * abs(nod)]
    segments: list[Segment] = [(tuple(ankle_l), tuple(hip_l), 0.05),
                               (tuple(ankle_r), tuple(hip_r), 0.05),
                               ((0.0, hip_y), tuple(neck), 0.13),
                               (tuple(head), (0.0, 0.0), -HEAD)]
    segments += _arms(movement, q, shoulder_l, shoulder_r, hip_y, arm_lift)
    return segments


def _arms(movement: str, q: float, shoulder_l: np.ndarray, shoulder_r: np.ndarray,
          hip_y: float, arm_lift: float) -> list[Segment]:
    reach = UPPER_ARM + FOREARM
    if movement == "press":
        out: list[Segment] = []
        for side, shoulder in ((-1, shoulder_l), (1, shoulder_r)):
            lift = 0.45 * arm_lift if side < 0 else 0.0
            theta = 150 - 142 * max(q, lift)  # upper arm, degrees from straight up
            elbow = shoulder + UPPER_ARM * np.array([side * np.sin(np.radians(theta)),
                                                     -np.cos(np.radians(theta))])
            hand = elbow + [0.0, -FOREARM]
            out += [(tuple(shoulder), tuple(elbow), 0.04), (tuple(elbow), tuple(hand), 0.04)]
        hands_y = out[1][1][1]
        out.append(((float(shoulder_l[0]) - 0.18, hands_y), (float(shoulder_r[0]) + 0.18,
                                                             hands_y), 0.025))
        return out
    if movement == "swing":
        start, far = np.array([-0.18, -0.45]), np.array([0.3, -0.62])
        hands = start + q * (far - start)
        hands[1] += hip_y + 0.5 - 0.12 * arm_lift
        return [(tuple(shoulder_l + [0.03 * q, 0]), tuple(hands), 0.045),
                (tuple(shoulder_r + [0.03 * q, 0]), tuple(hands), 0.045),
                (tuple(hands), (0.0, 0.0), -0.055)]
    if movement == "jack":
        angle = 15 + 150 * q
        left = 15 + max(150 * q, 70 * arm_lift)
        return [(tuple(shoulder_l), tuple(shoulder_l + reach * _dir(-left)), 0.045),
                (tuple(shoulder_r), tuple(shoulder_r + reach * _dir(angle)), 0.045)]
    raise ValueError(movement)


def _squat(q: float, arm_lift: float) -> list[Segment]:
    """Side view, facing +x: knees forward, hips back and down, arms forward."""
    ankle = np.array([0.0, 0.0])
    knee = ankle + SHIN * _dir(180 - 35 * q)
    hip = knee + THIGH * _dir(180 + 80 * q)
    shoulder = hip + TORSO * _dir(180 - 35 * q)
    head = shoulder + (0.04 + HEAD) * _dir(180 - 35 * q)
    hand = shoulder + (UPPER_ARM + FOREARM) * _dir(max(85 * q, 60 * arm_lift))
    return [(tuple(ankle), tuple(knee), 0.06), (tuple(knee), tuple(hip), 0.07),
            (tuple(hip), tuple(shoulder), 0.13), (tuple(head), (0.0, 0.0), -HEAD),
            (tuple(shoulder), tuple(hand), 0.045)]


def bench(img: np.ndarray, feet: tuple[float, float], size: float, grey: int) -> None:
    """A gym bench seen end-on in front of the figure, hiding it up to the hips (0.5 size)."""
    scale = 1 << SHIFT
    left, right = feet[0] - 0.42 * size, feet[0] + 0.42 * size
    top, seat = feet[1] - 0.47 * size, feet[1] - 0.36 * size
    box = [(round(x * scale), round(y * scale)) for x, y in ((left, top), (right, top),
                                                              (right, seat), (left, seat))]
    cv2.fillConvexPoly(img, np.array(box, np.int32), grey, cv2.LINE_AA, SHIFT)
    panel = [(round(x * scale), round(y * scale)) for x, y in
             ((left + 0.04 * size, seat), (right - 0.04 * size, seat),
              (right - 0.04 * size, feet[1] + 0.03 * size), (left + 0.04 * size,
                                                             feet[1] + 0.03 * size))]
    cv2.fillConvexPoly(img, np.array(panel, np.int32), max(0, grey - 25), cv2.LINE_AA, SHIFT)


def walker_pose(stride_phase: float) -> list[Segment]:
    """A person walking towards +x (side view), legs and arms swinging."""
    swing = 25 * np.sin(stride_phase)
    hip = np.array([0.0, -0.5 + 0.01 * abs(np.cos(stride_phase))])
    neck = hip + [0.0, -TORSO]
    legs = [(tuple(hip), tuple(hip + 0.5 * _dir(180 + a)), 0.06) for a in (swing, -swing)]
    arms = [(tuple(neck), tuple(neck + 0.33 * _dir(a)), 0.045) for a in (-swing, swing)]
    return [*legs, (tuple(hip), tuple(neck), 0.13),
            (tuple(neck + [0, -0.04 - HEAD]), (0.0, 0.0), -HEAD), *arms]


def draw(img: np.ndarray, segments: list[Segment], origin: tuple[float, float], size: float,
         look: Look, mirror: bool = False) -> None:
    """Draw pose segments with feet at ``origin`` (pixels), figure ``size`` pixels tall."""
    sx = -size if mirror else size
    scale = 1 << SHIFT

    def px(p: tuple[float, float]) -> tuple[int, int]:
        return (round((origin[0] + sx * p[0]) * scale), round((origin[1] + size * p[1]) * scale))

    for a, b, thickness in segments:
        if thickness < 0:  # a disc: head or weight
            colour = look.skin if -thickness == HEAD else look.weight
            cv2.circle(img, px(a), round(-thickness * size * scale), colour, -1, cv2.LINE_AA,
                       SHIFT)
            continue
        colour = look.shirt if thickness >= 0.1 else look.pants if a[1] > -0.55 else look.skin
        cv2.line(img, px(a), px(b), colour, max(1, round(thickness * size)), cv2.LINE_AA, SHIFT)


def room(rng: np.random.Generator, width: int, height: int) -> tuple[np.ndarray, float]:
    """A still textured room (wall, furniture, floor) and the wall's mean grey."""
    wall = rng.uniform(90, 150)
    img = np.full((height, width), wall, np.float32)
    img += np.linspace(-20, 20, width, dtype=np.float32)[None, :] * rng.choice([-1, 1])
    floor_y = int(height * rng.uniform(0.62, 0.72))
    img[floor_y:] = rng.uniform(50, 90)
    for _ in range(int(rng.integers(5, 10))):  # doors, windows, posters, shelves
        w, h = rng.uniform(0.05, 0.3) * width, rng.uniform(0.05, 0.3) * height
        x, y = rng.uniform(0, width - w), rng.uniform(0, floor_y - h / 2)
        img[int(y):int(y + h), int(x):int(x + w)] = rng.uniform(30, 230)
    for x in np.arange(rng.uniform(0, 40), width, rng.uniform(0.08, 0.2) * width):
        img[floor_y:, int(x):int(x) + 2] -= 25  # floorboards
    grain = cv2.GaussianBlur(rng.normal(0, 10, (height, width)).astype(np.float32), (0, 0), 1.5)
    img = cv2.GaussianBlur(img, (0, 0), 1.0) + grain
    return np.clip(img, 0, 255).astype(np.uint8), wall
