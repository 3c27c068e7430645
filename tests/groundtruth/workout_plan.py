"""Plans of synthetic workout clips: sets, reps from a parametric motion phase, fidgets,
walkers, and the exact truth they imply. Everything follows from a ClipSpec's seed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

VERSION = 1  # bump when a change alters the pixels or the truth of a seeded clip
TEMPOS = ((0.8, 1.3), (1.3, 2.0), (2.0, 3.0), (3.0, 4.0))  # base seconds per rep, by stratum
CONTROLS = ("walkers", "fidget", "pan")
NEW_CONTROLS = ("talking", "passerby")  # issue 14: apart, so the CONTROLS clips stay the same
# Issue-14 fields: left out of the truth JSON at their defaults, so older clips stay identical.
HARD_FIELDS = {"condition": None, "pause": 0.0, "rom_scale": 1.0, "drift": False,
               "bench": False}


@dataclass(frozen=True)
class ClipSpec:
    """What to render; everything else follows from ``seed``."""

    name: str
    tier: str  # "clean" | "realistic" | "hard" | "control"
    movement: str | None  # one of MOVEMENTS, None for a control
    seed: int
    fps: int = 30
    width: int = 640  # display size (after rotation)
    height: int = 360
    rotation: int = 0  # display rotation metadata: 0, 90 or 270
    crf: int = 20
    tempo: tuple[float, float] = (0.8, 4.0)  # base seconds per rep
    shake: bool = False
    walkers: int = 0
    exposure: bool = False
    control: str | None = None  # one of CONTROLS or NEW_CONTROLS
    max_active: float = 70.0  # seconds of exercise at most
    max_rest: float = 50.0  # seconds of rest between sets at most (in total)
    pad_to: float = 0.0  # exactly this long (sets that do not fit are left out), if set
    bitrate: str | None = None  # e.g. "8M" (a phone's rate) instead of constant quality
    condition: str | None = None  # tier 3: which hard condition(s) the clip has
    pause: float = 0.0  # least pause at the bottom, as a share of the rep
    rom_scale: float = 1.0  # range of motion relative to the usual 0.4-1.0 (0.5: about half)
    drift: bool = False  # slow zoom (±12 %) and roll (±3°) drift of the camera
    bench: bool = False  # a bench in front of the figure hides its lower body


@dataclass
class Rep:
    start: float
    bottom: float  # far end reached
    leave: float  # far end left (after the pause)
    end: float  # back at the start pose: the rep's time
    rom: float


@dataclass
class Plan:
    spec: ClipSpec
    duration: float
    sets: list[list[Rep]] = field(default_factory=list)
    gestures: list[tuple[float, float, float, float, float]] = field(default_factory=list)
    steps: list[tuple[float, float, float]] = field(default_factory=list)  # start, length, dx
    crossings: list[dict[str, float]] = field(default_factory=list)


def plan_reps(rng: np.random.Generator, start: float, count: int, tempo: float,
              spec: ClipSpec | None = None) -> list[Rep]:
    """One set: ±30 % jitter per rep, a fatigue slow-down, optional pause at the bottom."""
    fatigue, rom = rng.uniform(0.0, 0.3), rng.uniform(0.4, 1.0)
    pause = rng.choice([0.0, rng.uniform(0.1, 0.35)])
    if spec is not None and spec.rom_scale != 1.0:  # no extra draws: tiers 1-2 stay the same
        rom = spec.rom_scale * (0.85 + 0.3 * (rom - 0.4) / 0.6)
    if spec is not None and spec.pause:
        pause = max(pause, spec.pause + 0.1 * (fatigue / 0.3))
    reps, t = [], start
    for k in range(count):
        duration = tempo * rng.uniform(0.7, 1.3) * (1 + fatigue * k / max(1, count - 1))
        hold = duration * pause * rng.uniform(0.7, 1.3)
        down = (duration - hold) * rng.uniform(0.4, 0.55)
        reps.append(Rep(t, t + down, t + down + hold, t + duration,
                        rom * rng.uniform(0.9, 1.0) * (1 - 0.3 * fatigue * k / count)))
        t += duration
    return reps


def plan(spec: ClipSpec) -> Plan:
    rng = np.random.default_rng([spec.seed, VERSION])
    t = rng.uniform(2.0, 6.0)  # lead-in rest
    sets: list[list[Rep]] = []
    if spec.movement is not None:
        tempo = rng.uniform(*spec.tempo)
        count = int(rng.integers(1, 6))
        reps = [int(rng.integers(5, 21)) for _ in range(count)]
        while sum(reps) * tempo > spec.max_active and sum(reps) > 5:
            shorter = max(reps) > 8 or len(reps) == 1
            reps = [max(5, r - 2) for r in reps] if shorter else reps[:-1]
        rests = np.exp(rng.uniform(np.log(5), np.log(90), len(reps) - 1))
        rests = np.maximum(5.0, rests * min(1.0, spec.max_rest / max(rests.sum(), 1e-9)))
        if spec.max_rest >= 90 and len(rests):
            rests[:] = 5.0
            rests[0] = rng.uniform(80.0, 90.0)  # the longest rest of the issue
        for i, n in enumerate(reps):
            sets.append(plan_reps(rng, t, n, tempo * rng.uniform(0.9, 1.1), spec))
            t = sets[-1][-1].end + (rests[i] if i < len(rests) else 0.0)
        t += rng.uniform(2.0, 5.0)  # tail rest
        while spec.pad_to and len(sets) > 1 and sets[-1][-1].end + 2.0 > spec.pad_to:
            sets.pop()
    else:
        t = rng.uniform(25.0, 40.0)
    result = Plan(spec, float(spec.pad_to or t), sets)
    _plan_fidgets(rng, result)
    _plan_crossings(rng, result)
    return result


def _rest_intervals(p: Plan, margin: float = 1.0) -> list[tuple[float, float]]:
    edges = [0.0, *[x for s in p.sets for x in (s[0].start - margin, s[-1].end + margin)],
             p.duration]
    return [(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a > 1.5]


def _plan_fidgets(rng: np.random.Generator, p: Plan) -> None:
    """Aperiodic arm gestures and weight shifts, only while resting."""
    for a, b in _rest_intervals(p):
        t = a + rng.exponential(3.0)
        while t < b - 1.5:
            up, hold, down = rng.uniform(0.4, 0.8), rng.uniform(0.0, 1.5), rng.uniform(0.4, 0.8)
            if t + up + hold + down < b:
                p.gestures.append((t, up, hold, down, rng.uniform(0.2, 0.6)))
            t += up + hold + down + rng.exponential(5.0)
        t = a + rng.exponential(8.0)
        while t < b - 1.0:
            shift = rng.uniform(0.02, 0.05) * rng.choice([-1, 1])
            p.steps.append((t, rng.uniform(0.5, 0.8), shift))
            t += rng.exponential(10.0) + 1.0


def _plan_crossings(rng: np.random.Generator, p: Plan) -> None:
    """People (or a trolley) crossing the picture; the first during a set when there is one."""
    n = p.spec.walkers
    for i in range(n):
        seconds = rng.uniform(3.0, 7.0)
        if i == 0 and p.sets:
            s = p.sets[int(rng.integers(len(p.sets)))]
            at = rng.uniform(s[0].start, max(s[0].start, s[-1].end - seconds))
        else:
            at = rng.uniform(0.0, max(0.1, p.duration - seconds))
        p.crossings.append({"start": float(at), "seconds": float(seconds),
                            "direction": float(rng.choice([-1, 1])),
                            "size": float(rng.uniform(0.8, 1.25)),
                            "ground": float(rng.uniform(-0.04, 0.06)),
                            "front": float(rng.integers(0, 2)),
                            "person": float(rng.random() < 0.8)})


def truth(p: Plan) -> dict:
    """The JSON written beside each clip; times in seconds of the displayed video."""
    sets = [{"start": s[0].start, "end": s[-1].end, "reps": len(s),
             "rep_times": [r.end for r in s], "rep_starts": [r.start for r in s],
             "avg_rep_seconds": (s[-1].end - s[0].start) / len(s),
             "rom": float(np.mean([r.rom for r in s]))} for s in p.sets]
    return {"version": VERSION, **spec_fields(p.spec), "duration": p.duration, "sets": sets,
            "total_reps": sum(len(s) for s in p.sets), "crossings": p.crossings}


def spec_fields(spec: ClipSpec) -> dict:
    """The spec as written in the truth JSON: issue-14 fields only when they are set."""
    return {k: v for k, v in asdict(spec).items() if k not in HARD_FIELDS or HARD_FIELDS[k] != v}
