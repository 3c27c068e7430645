"""Workout stage parts: stabilisation, active spans, reps and sets on synthetic tracks, search."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from stages.workout.activity import active_spans, reaches
from stages.workout.search import refine, sets_in_spans
from stages.workout.sets import find_sets
from stages.workout.signal import SubjectView
from stages.workout.stabilise import Stabiliser, shrink, stable_frames

FPS = 30


def texture(seed: int, shape: tuple[int, int] = (45, 80)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    big = cv2.GaussianBlur(rng.uniform(0, 255, (shape[0] + 20, shape[1] + 20)), (0, 0), 1.5)
    return big.astype(np.float32)


def shifted(image: np.ndarray, dy: float, dx: float, shape: tuple[int, int]) -> np.ndarray:
    """The view of ``image`` moved by (dy, dx): content appears at +d."""
    matrix = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    moved = cv2.warpAffine(image, matrix, image.shape[::-1], flags=cv2.INTER_LINEAR)
    return moved[10:10 + shape[0], 10:10 + shape[1]]


def test_stabiliser_recovers_sub_pixel_shake_and_exposure() -> None:
    shape = (44, 80)
    image = texture(0, shape)
    rng = np.random.default_rng(1)
    moves = rng.uniform(-1.5, 1.5, (64, 2))
    moves[0] = 0
    gains = 1 + rng.uniform(-0.15, 0.15, 64)
    gains[0] = 1
    frames = np.stack([shifted(image, dy, dx, shape) * g
                       for (dy, dx), g in zip(moves, gains, strict=True)])
    out, shifts = Stabiliser(shape).align(frames)
    assert np.abs(shifts - moves).max() < 0.15
    inner = (slice(None), slice(4, -4), slice(4, -4))
    assert np.abs(out - frames[0])[inner].mean() < 2.0  # grey levels, after exposure fix
    assert np.abs(frames - frames[0])[inner].mean() > 10.0  # before: shake and exposure


def zoomed(image: np.ndarray, zoom: float, degrees: float,
           shape: tuple[int, int]) -> np.ndarray:
    """The middle of ``image`` as a camera zoomed and rolled about its centre sees it."""
    h, w = image.shape
    turn = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, zoom)
    moved = cv2.warpAffine(image, turn, (w, h), flags=cv2.INTER_LINEAR)
    top, left = (h - shape[0]) // 2, (w - shape[1]) // 2
    return moved[top:top + shape[0], left:left + shape[1]]


def test_stabiliser_follows_a_phone_zooming_and_rolling_on_the_floor() -> None:
    shape = (44, 80)
    image = texture(4, (84, 120))
    # Slowly at first (too little to show in the first 32 frames), then faster.
    zooms = np.r_[np.linspace(1, 1.03, 32), np.linspace(1.03, 1.12, 16),
                  np.linspace(1.12, 0.9, 48)]
    rolls = np.r_[np.linspace(0, 0.6, 32), np.linspace(0.6, 3, 16), np.linspace(3, -3, 48)]
    frames = np.stack([zoomed(image, z, r, shape)
                       for z, r in zip(zooms, rolls, strict=True)]).astype(np.float32)
    stabiliser = Stabiliser(shape)
    out, _ = stabiliser.align(frames)
    assert stabiliser.turning
    inner = (slice(None), slice(6, -6), slice(6, -6))
    assert np.abs(out - frames[0])[inner].mean() < 1.5  # grey levels, after registration
    assert np.abs(frames - frames[0])[inner].mean() > 4.0  # before: zoom and roll
    # The first 32 frames were zooming too, only less: registered again by similarity.
    first = (slice(24, 32), slice(6, -6), slice(6, -6))
    assert np.abs(out - frames[0])[first].mean() < 1.5
    assert np.abs(frames - frames[0])[first].mean() > 2.0
    # Where zooming out left the picture, the reference's view stands in: no motion there.
    edges = np.abs(out[-1] - frames[0])
    assert edges[:2].mean() < 3.0 and edges[:, :2].mean() < 3.0


def test_shake_alone_keeps_the_translation_only_registration() -> None:
    # A symmetric movement in the middle (arms spreading) must not pass for a zoom.
    shape = (44, 80)
    image = texture(5, shape)
    rng = np.random.default_rng(6)
    frames = []
    for i in range(96):
        frame = shifted(image, *rng.uniform(-1.0, 1.0, 2), shape).copy()
        spread = 6 + round(8 * abs(np.sin(i / 6)))
        frame[14:30, 40 - spread:40 + spread] = 230.0
        frames.append(frame)
    stabiliser = Stabiliser(shape)
    stabiliser.align(np.stack(frames))
    assert not stabiliser.turning


def test_a_cut_starts_registration_afresh() -> None:
    first, second = texture(2, (90, 160)), 40 + 0.4 * texture(3, (90, 160))
    frames = np.stack([first] * 20 + [second] * 20).clip(0, 255).astype(np.uint8)
    batches = ((start, frames[start:start + 16]) for start in range(0, 40, 16))
    stable = stable_frames(batches, 40, lambda _: None, cuts=[20]).astype(np.float32)
    # The new shot is its own reference: nothing of the old one (exposure, position) is
    # forced on it.
    small = shrink(frames, 2)  # the working frames, before stabilisation
    assert np.abs(stable[25] - small[25])[2:-2, 2:-2].mean() < 3.0
    assert np.abs(stable[5] - small[5])[2:-2, 2:-2].mean() < 3.0


def energy_with(bursts: list[tuple[float, float]], seconds: float = 40.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    energy = 0.005 * rng.random(round(seconds * FPS))
    for start, end in bursts:
        energy[round(start * FPS):round(end * FPS)] += 0.3
    return energy


def test_active_spans_bridge_pauses_drop_blips_and_split_at_cuts() -> None:
    energy = energy_with([(2, 8), (10, 12), (20, 21.0), (26, 36)])
    spans, still = active_spans(energy, FPS, cuts=[round(31 * FPS)])
    seconds = [(s / FPS, e / FPS) for s, e in spans]
    assert len(seconds) == 3  # 2-12 bridged, the 1 s blip dropped, 26-36 split at 31
    for (start, end), (true_start, true_end) in zip(seconds, [(2, 12), (26, 31), (31, 36)],
                                                    strict=True):
        assert start == pytest.approx(true_start, abs=0.7)
        assert end == pytest.approx(true_end, abs=0.7)
    assert still[round(16 * FPS)] and not still[round(5 * FPS)]


def test_a_span_reaches_over_a_gentle_last_movement_after_a_pause() -> None:
    # A slow last rep pauses at the bottom, then rises too gently to reach the span's high
    # level on its own: the span's reach covers it (the search looks there too).
    energy = energy_with([(2, 12)])
    energy[round(14 * FPS):round(16 * FPS)] += 0.06  # above the low level, below the high
    energy[round(30 * FPS):round(32 * FPS)] += 0.06  # as gentle, but far from any span
    spans, _ = active_spans(energy, FPS)
    assert len(spans) == 1 and spans[0][1] / FPS == pytest.approx(12, abs=0.7)
    ((start, end),) = reaches(energy, FPS, spans)
    assert start == spans[0][0] and end / FPS == pytest.approx(16, abs=0.7)
    ((start, end),) = reaches(energy, FPS, spans, cuts=[round(13 * FPS)])
    assert end == round(13 * FPS)  # never across a cut


def rep(seconds: float, down: float = 0.45, hold: float = 0.0) -> np.ndarray:
    """One rep's progress 0 -> 1 -> 0, eased, with an optional pause at the far end."""
    n = round(seconds * FPS)
    out_n, hold_n = round(down * n), round(hold * n)
    back_n = n - out_n - hold_n
    ease = (1 - np.cos(np.pi * np.linspace(0, 1, out_n, endpoint=False))) / 2
    ease_back = (1 + np.cos(np.pi * np.linspace(0, 1, back_n, endpoint=False))) / 2
    return np.concatenate([ease, np.ones(hold_n), ease_back])


def track_of(parts: list[np.ndarray | float], seed: int = 0) -> tuple[np.ndarray, list[float]]:
    """Concatenate reps (arrays) and rests (seconds); return the noisy track and rep ends."""
    pieces, ends, length = [], [], 0
    for part in parts:
        piece = np.zeros(round(part * FPS)) if isinstance(part, float) else part
        pieces.append(piece)
        length += len(piece)
        if not isinstance(part, float):
            ends.append(length / FPS)
    noise = np.random.default_rng(seed).normal(0, 0.02, length)
    return np.concatenate(pieces) + noise, ends


@pytest.mark.parametrize("down", [0.3, 0.45, 0.6], ids=["fast-down", "even", "slow-down"])
def test_counts_jittered_reps_and_times_their_ends(down: float) -> None:
    rng = np.random.default_rng(3)
    reps = [rep(1.6 * rng.uniform(0.7, 1.3), down, hold=0.2) for _ in range(8)]
    track, ends = track_of([3.0, *reps, 3.0])
    (found,) = find_sets(track, FPS, lead=2 * FPS, tail=2 * FPS)
    assert found.reps == 8
    assert np.abs(found.ends / FPS - ends).max() < 0.1
    assert found.starts[0] / FPS == pytest.approx(3.0, abs=0.1)
    assert found.confidence > 0.8


def test_a_gesture_next_to_a_set_is_no_rep() -> None:
    gesture = rep(2.5, hold=0.5) * 0.35  # a small arm raise, a second before the set
    track, ends = track_of([3.0, gesture, 1.0, *[rep(1.5) for _ in range(6)], 3.0])
    (found,) = find_sets(track, FPS, lead=2 * FPS, tail=2 * FPS)
    assert found.reps == 6
    assert found.ends[-1] / FPS == pytest.approx(ends[-1], abs=0.1)


def test_a_turning_point_hidden_by_a_walker_still_counts_two_reps() -> None:
    pair = np.concatenate([rep(1.5), rep(1.5)])
    pair[round(1.2 * FPS):round(1.8 * FPS)] = 0.6  # the track never got back down
    track, _ = track_of([3.0, *[rep(1.5) for _ in range(3)], pair,
                         *[rep(1.5) for _ in range(3)], 3.0])
    (found,) = find_sets(track, FPS, lead=2 * FPS, tail=2 * FPS)
    assert found.reps == 8


def test_bumps_unlike_each_other_are_no_set() -> None:
    rng = np.random.default_rng(5)
    bumps: list[np.ndarray | float] = []
    for _ in range(6):  # random shapes and sizes, random still gaps: fidgeting
        bumps += [rep(rng.uniform(0.6, 3.0), rng.uniform(0.1, 0.8), rng.uniform(0, 0.5))
                  * rng.uniform(0.3, 1.0), float(rng.uniform(0.2, 2.0))]
    track, _ = track_of([2.0, *bumps])
    assert find_sets(track, FPS, lead=2 * FPS) == []


def test_the_last_rep_ends_where_the_subject_reaches_the_start_pose_not_later() -> None:
    rng = np.random.default_rng(7)
    reps = [rep(4.0 * rng.uniform(0.8, 1.2)) for _ in range(5)]  # slow eases into the pose
    track, ends = track_of([3.0, *reps, 4.0], seed=1)
    tail = round(4.0 * FPS)
    track[-tail:] += np.linspace(0.0, 0.3, tail)  # then sways away from it
    (found,) = find_sets(track, FPS, lead=2 * FPS, tail=2 * FPS)
    assert found.reps == 5
    assert found.ends[-1] / FPS == pytest.approx(ends[-1], abs=0.15)


def test_a_tired_last_rep_with_a_long_pause_ends_on_time() -> None:
    rng = np.random.default_rng(8)
    reps = [rep(1.8 * rng.uniform(0.9, 1.1), hold=0.1) for _ in range(7)]
    reps.append(rep(2.6, down=0.3, hold=0.5))  # its length is mostly the pause
    track, ends = track_of([3.0, *reps, 3.0], seed=2)
    (found,) = find_sets(track, FPS, lead=2 * FPS, tail=2 * FPS)
    assert found.reps == 8
    assert found.ends[-1] / FPS == pytest.approx(ends[-1], abs=0.15)


def test_refining_one_set_keeps_a_believable_set_found_beside_it() -> None:
    """A set whose own rough look failed (an occluded rep, say) still counts when the
    refined look at its neighbour finds it, believable, in the same window."""
    first_set, second_set = [rep(1.5) for _ in range(6)], [rep(1.8) for _ in range(5)]
    track, ends = track_of([3.0, *first_set, 3.0, *second_set, 3.0])
    n, boundary = len(track), round((3.0 + 9.0 + 1.5) * FPS)
    frames = np.full((n, 12, 16), 60.0, np.float32)
    frames[:, 2:10, 4:12] += 120.0 * np.clip(track, 0, 1)[:, None, None]  # the moving body
    view = SubjectView(frames.astype(np.uint8), np.ones((12, 16), np.float32))
    still = np.abs(track) < 0.06
    only_first = track.copy()
    only_first[boundary:] = 0.0
    (rough,) = find_sets(only_first, FPS, lead=2 * FPS, tail=2 * FPS, rough=True)
    found = sorted(refine(view, still, (0, n), rough, FPS), key=lambda f: f[1].starts[0])
    assert [s.reps for _, s in found] == [6, 5]
    last_end = (found[1][0] + found[1][1].ends[-1]) / FPS
    assert last_end == pytest.approx(ends[-1], abs=0.2)


def body_frames(track: np.ndarray) -> SubjectView:
    """A view of frames where one block brightens with the track: its pixels are the body."""
    frames = np.full((len(track), 12, 16), 60.0, np.float32)
    frames[:, 2:10, 4:12] += 120.0 * np.clip(track, 0, 1)[:, None, None]
    return SubjectView(frames.astype(np.uint8), np.ones((12, 16), np.float32))


@pytest.mark.parametrize("rest", [0.5, 1.5])
def test_slow_reps_from_the_first_second_pausing_at_the_far_end_are_counted(
        rest: float) -> None:
    # The set fills the video, so no rest lies around its span, and every rep keeps still
    # at its far end for longer than at the start pose: those pauses are not the rest pose.
    reps = [rep(4.0 * s, down=0.3, hold=0.45) for s in (1.0, 0.9, 1.1, 1.0, 0.95, 1.05)]
    track, ends = track_of([rest, *reps, rest])
    still = np.abs(np.gradient(track)) * FPS < 0.3
    found = sets_in_spans(body_frames(track), still, [(0, len(track))], FPS, lambda _: None)
    assert [s.reps for _, s in found] == [6]
    offset, (_, found_set) = found[0][0], found[0]
    assert np.abs((offset + found_set.ends) / FPS - ends).max() < 0.3


def test_a_rep_left_out_of_a_set_lowers_its_reported_confidence() -> None:
    # A tired last rep that takes more than twice as long is left out of the count; the
    # count may then be one short, and the confidence says so. A clean set keeps its own.
    reps = [rep(1.5) for _ in range(6)]
    track, _ = track_of([3.0, *reps, rep(3.4), 3.0])
    (found,) = find_sets(track, FPS, lead=2 * FPS, tail=2 * FPS)
    assert found.reps == 6 and found.doubtful == 1
    assert found.reported_confidence == pytest.approx(found.confidence * 6 / 7)
    clean, _ = track_of([3.0, *reps, 3.0])
    (found,) = find_sets(clean, FPS, lead=2 * FPS, tail=2 * FPS)
    assert found.doubtful == 0 and found.reported_confidence == found.confidence
