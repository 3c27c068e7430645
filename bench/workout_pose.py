"""Issue 14 item 5: a pose model shipped inside a wheel (MediaPipe Pose, complexity 1, whose
weights are in the mediapipe 0.10.14 wheel) as the rep track, measured on the tier-3 clips
beside a plain ffmpeg decode. Sets are found by the classical path's own find_sets, so the
output is the same WorkoutAnalysis.

Runs in its own venv (mediapipe pulls opencv-contrib-python, a second cv2; never install it
into the project's .venv):
    python3.11 -m venv .venv-pose
    .venv-pose/bin/pip install -r requirements.txt
    .venv-pose/bin/pip install --no-deps mediapipe==0.10.14
    .venv-pose/bin/pip install 'protobuf>=4.25.3,<5' absl-py attrs flatbuffers matplotlib
(matplotlib: imported by mediapipe.solutions; jax, sounddevice, opencv-contrib are not needed.)
    unshare -n .venv-pose/bin/python bench/workout_pose.py --clips DIR \
        --seeds 0 1 2 9 --step 3 --cache DIR/pose-cache
(DIR: the --workdir of bench/eval_workout.py --tiers 3 new-controls, whose clips it reads;
unshare -n: no network, so nothing can be fetched at run time.)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.workout_hard import condition_rows, summary  # noqa: E402
from bench.workout_metrics import ClipScore, clip_line, score_clip  # noqa: E402
from stages.ffmpeg import ffmpeg_exe  # noqa: E402
from stages.workout import set_entry  # noqa: E402
from stages.workout import summary as analysis  # noqa: E402
from stages.workout.sets import find_sets  # noqa: E402

JOINTS = [0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]  # nose, arms, hips, legs
MIN_VISIBILITY = 0.5
SCALE_SECONDS = 1.0  # the torso length (zoom) is smoothed over this
STILL_SECONDS = 0.5  # pose speed is measured over this to find the rest pose
NO_REPS = "no periodic motion: no movement is repeated alike at an even pace"


def landmarks(path: Path, step: int) -> tuple[np.ndarray, float, int, float]:
    """(frames, 33, 3) x, y in pixels and visibility (NaN: no pose) of every ``step``-th
    frame; the clip's fps, its frame count and the seconds this took (decode included)."""
    from mediapipe.python.solutions import download_utils
    from mediapipe.python.solutions import pose as mp_pose

    def refuse(model_path: str) -> None:
        raise RuntimeError(f"mediapipe wanted to download {model_path}")

    download_utils.download_oss_model = refuse  # complexity 1 ships in the wheel
    started = time.perf_counter()
    cap = cv2.VideoCapture(str(path))
    fps = float(cap.get(cv2.CAP_PROP_FPS))
    out, count = [], 0
    with mp_pose.Pose(model_complexity=1, static_image_mode=False) as model:
        while True:
            if not cap.grab():
                break
            if count % step == 0:
                frame = cap.retrieve()[1]
                h, w = frame.shape[:2]
                result = model.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
                points = np.full((33, 3), np.nan)
                if result.pose_landmarks:
                    points = np.array([(p.x * w, p.y * h, p.visibility)
                                       for p in result.pose_landmarks.landmark])
                out.append(points)
            count += 1
    return np.array(out).reshape(-1, 33, 3), fps, count, time.perf_counter() - started


def decode_seconds(path: Path) -> float:
    started = time.perf_counter()
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "null", "-"],
                   check=True)
    return time.perf_counter() - started


def filled(x: np.ndarray) -> np.ndarray:
    """Gaps (NaN) linearly interpolated along time, per column; all-NaN columns become 0."""
    x = x.copy()
    t = np.arange(len(x))
    for j in range(x.shape[1]):
        ok = np.isfinite(x[:, j])
        x[:, j] = np.interp(t, t[ok], x[ok, j]) if ok.any() else 0.0
    return x


def smooth(x: np.ndarray, width: int) -> np.ndarray:
    width = max(1, width)
    kernel = np.ones(width) / width
    pad = np.pad(x, ((width // 2, width - 1 - width // 2), (0, 0)), mode="edge")
    return np.stack([np.convolve(pad[:, j], kernel, "valid") for j in range(x.shape[1])], 1)


def rep_track(points: np.ndarray, fps: float) -> np.ndarray | None:
    """How far the body is from its rest pose along the clip's main axis of pose change:
    joints relative to the hips' midpoint, in torso lengths; the rest pose is the median of
    the stillest frames, and the axis is oriented so that reps rise from it."""
    if len(points) < 3:
        return None
    xy = points[:, JOINTS, :2].copy()
    xy[points[:, JOINTS, 2] < MIN_VISIBILITY] = np.nan
    hips = np.nanmean(points[:, [23, 24], :2], axis=1)
    shoulders = np.nanmean(points[:, [11, 12], :2], axis=1)
    torso = np.linalg.norm(shoulders - hips, axis=1)
    frame = filled(np.c_[hips, torso])
    if not np.isfinite(points[:, 0, 0]).any() or float(np.median(frame[:, 2])) <= 0:
        return None
    frame = smooth(frame, round(SCALE_SECONDS * fps))
    pose = filled(((xy - frame[:, None, :2]) / frame[:, None, 2:]).reshape(len(xy), -1))
    speed = np.linalg.norm(np.diff(smooth(pose, round(STILL_SECONDS * fps)), axis=0), axis=1)
    still = np.r_[speed, speed[-1:]] <= np.percentile(speed, 25)
    rest = np.median(pose[still], axis=0)
    centred = pose - rest
    axis = np.linalg.svd(centred - centred.mean(0), full_matrices=False)[2][0]
    track = centred @ axis
    return track if np.median(track[~still]) >= 0 else -track


def analyse(points: np.ndarray, fps: float, count: int, step: int) -> dict:
    duration = count / fps
    track = rep_track(points, fps / step)
    found = find_sets(track, fps / step) if track is not None else []
    times = np.arange(len(points)) * step / fps
    sets = [set_entry(times, 0, s) for s in found]
    return analysis(sets, duration, None if sets else NO_REPS).to_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, default=Path("/tmp/t3/run"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 9])
    parser.add_argument("--held-out", type=int, default=9)
    parser.add_argument("--step", type=int, default=1, help="run the model on every n-th frame")
    parser.add_argument("--cache", type=Path, help="keep landmarks and timings here (npz)")
    args = parser.parse_args()
    rows: list[tuple[int, ClipScore, dict]] = []
    detected, frames, ratios, per_frame = 0, 0, [], []
    for seed in args.seeds:
        for clip in sorted((args.clips / f"seed-{seed}" / "clips").glob("*.mp4")):
            truth = json.loads(clip.with_suffix(".json").read_text())
            kept = args.cache / f"step{args.step}" / f"seed-{seed}" / f"{clip.stem}.npz" \
                if args.cache else None
            if kept and kept.exists():
                z = np.load(kept)
                points, fps, count = z["points"], float(z["fps"]), int(z["count"])
                seconds, decode = float(z["seconds"]), float(z["decode"])
            else:
                decode = decode_seconds(clip)  # interleaved: right before the pose run
                points, fps, count, seconds = landmarks(clip, args.step)
                if kept:
                    kept.parent.mkdir(parents=True, exist_ok=True)
                    np.savez(kept, points=points, fps=fps, count=count, seconds=seconds,
                             decode=decode)
            result = analyse(points, fps, count, args.step)
            score = score_clip(truth, result)
            seen = int(np.isfinite(points[:, 0, 0]).sum())
            detected, frames = detected + seen, frames + len(points)
            ratios.append(seconds / decode)
            per_frame.append(seconds / max(1, len(points)))
            rows.append((seed, score, truth))
            print(f"s{seed} {clip_line(score, result)[2:]}  pose {seen / max(1, len(points)):.2f}"
                  f"  x{seconds / decode:.1f} decode", flush=True)
    report(rows, args.held_out)
    print(f"\nDetection rate (frames with a pose, all clips): {detected / max(1, frames):.3f}"
          f" of {frames} model frames")
    print(f"Speed (model every {args.step} frame(s), decode included): median "
          f"{np.median(per_frame) * 1000:.1f} ms per model frame; median "
          f"{np.median(ratios):.1f}x an ffmpeg null decode of the same clip")


def report(rows: list[tuple[int, ClipScore, dict]], held_out: int) -> None:
    def condition(s: ClipScore) -> str:
        return names[id(s)]

    names = {id(s): str(t.get("condition")) for _, s, t in rows}
    hard = [(seed, s) for seed, s, t in rows if not t["name"].startswith("control")]
    for label, group in (("tuning seeds", [s for seed, s in hard if seed != held_out]),
                         (f"held-out seed {held_out}",
                          [s for seed, s in hard if seed == held_out])):
        if not group:
            continue
        f = summary(group)
        print(f"\nPose, tier 3, {label}: {f['videos']:.0f} videos, {f['sets']:.0f} sets: found "
              f"{f['found']:.3f} off1 {f['off1']:.3f} MAE {f['mae']:.3f} tempo10 "
              f"{f['tempo10']:.3f} exact {f['exact']:.3f} spurious {f['spurious']:.0f}")
        for line in condition_rows(group, condition):
            print(line)
    controls = [s for _, s, t in rows if t["name"].startswith("control")]
    print(f"\nControls: {len(controls)} videos, {sum(s.predicted_sets > 0 for s in controls)} "
          f"reporting a set, {sum(s.predicted_sets for s in controls)} sets")


if __name__ == "__main__":
    main()
