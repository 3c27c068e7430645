"""Issue-4 figures: the workout counter against synthetic clips with exact per-rep truth.

Generates the seeded suite (tests/groundtruth/workout.py: clean tier 1, realistic tier 2,
hard tier 3 of issue 14, controls), runs decode -> score -> workout in-process on each clip,
prints every target per tier, then the speed of the workout pipeline on a 60 s 1280x720 30 fps
clip against `ffmpeg -i clip -f null -` (median of 3, interleaved).

    .venv/bin/python bench/eval_workout.py [--seed 0 [1 ...]] [--jobs 2] [--workdir DIR --reuse]
        [--tiers 1 2 3 controls new-controls] [--hard 4]

Several seeds pool their clips into one set of figures (clips of seed N live in DIR/seed-N).
Tier 3 also runs on the held-out seed (HELD_OUT_SEED), printed apart from the tuning seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.baseline import ffmpeg_null_seconds  # noqa: E402
from bench.workout_hard import report_hard  # noqa: E402
from bench.workout_metrics import (  # noqa: E402
    ClipScore,
    clip_line,
    control_figures,
    score_clip,
    tier_figures,
)
from stages import decode, score, workout  # noqa: E402
from stages.context import NullContext  # noqa: E402
from stages.records.workout import WorkoutAnalysis  # noqa: E402
from stages.workspace import SCORES, SOURCE, Storage, Workspace  # noqa: E402
from tests.groundtruth.workout import (  # noqa: E402
    HARD_SEEDS,
    HELD_OUT_SEED,
    ClipSpec,
    hard_suite,
    new_controls,
    spec_fields,
    suite,
    write_clip,
)
from tests.groundtruth.workout_plan import NEW_CONTROLS  # noqa: E402

TIER_KEYS = ("1", "2", "3", "controls", "new-controls")
TIERS = (("clean", "Tier 1 (clean: fixed camera, one subject)"),
         ("realistic", "Tier 2 (realistic: 720x1280 rotated, 60 fps, shake, walkers, "
                       "exposure, CRF 28-32)"))


def ensure_clip(spec: ClipSpec, directory: Path, reuse: bool) -> tuple[Path, dict]:
    """The clip and its truth; reused from ``directory`` when its spec is unchanged."""
    path = directory / f"{spec.name}.mp4"
    truth_path = path.with_suffix(".json")
    if reuse and path.exists() and truth_path.exists():
        truth = json.loads(truth_path.read_text())
        if all(truth.get(k) == v for k, v in json.loads(json.dumps(spec_fields(spec))).items()):
            return path, truth
    return path, write_clip(spec, path)


def workspace_for(storage: Storage, name: str) -> Workspace:
    session = re.sub(r"[^A-Za-z0-9_-]", "-", f"eval-{name}").ljust(22, "x")[:64]
    storage.delete(session)
    return storage.create(session)


def analyse(clip: Path, storage: Storage, name: str, reuse: bool) -> tuple[dict, dict]:
    """Run decode -> score -> workout on ``clip``; (the workout document, seconds per stage)."""
    session = re.sub(r"[^A-Za-z0-9_-]", "-", f"eval-{name}").ljust(22, "x")[:64]
    ws = storage.open(session)
    seconds: dict[str, float] = {}
    if not (reuse and ws.exists(SCORES)
            and ws.path(SCORES).stat().st_mtime >= clip.stat().st_mtime):
        ws = workspace_for(storage, name)
        os.symlink(clip.resolve(), ws.path(SOURCE))
        ctx = NullContext(ws)
        for stage in (decode, score):
            started = time.perf_counter()
            stage.run(ctx)
            seconds[stage.__name__] = time.perf_counter() - started
    started = time.perf_counter()
    workout.run(NullContext(ws))
    seconds["workout"] = time.perf_counter() - started
    return WorkoutAnalysis.load(ws).to_dict(), seconds


def evaluate(spec: ClipSpec, clips: Path, media: Path, reuse: bool) -> tuple[dict, dict, dict]:
    clip, truth = ensure_clip(spec, clips, reuse)
    result, seconds = analyse(clip, Storage(media), spec.name, reuse)
    return truth, result, seconds


def speed(work: Path, runs: int) -> None:
    """Workout pipeline (decode + score + workout) vs a plain ffmpeg decode, same clip."""
    spec = ClipSpec("speed-720p30", "clean", "squat", 997, width=1280, height=720,
                    bitrate="8M", max_active=40.0, max_rest=12.0, pad_to=60.0)
    clip, truth = ensure_clip(spec, work, reuse=True)
    storage = Storage(work / "speed-media")
    baseline, totals, stage_only = [], [], []
    for _ in range(runs):  # interleaved, so machine noise hits both alike
        baseline.append(ffmpeg_null_seconds(clip))
        result, seconds = analyse(clip, storage, "speed", reuse=False)
        totals.append(sum(seconds.values()))
        stage_only.append(seconds["workout"])
    base = statistics.median(baseline)
    size = clip.stat().st_size * 8 / truth["duration"] / 1e6
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nSpeed (load average {load} on {os.cpu_count()} cores): "
          f"{truth['duration']:.0f} s 1280x720 30 fps H.264 ({size:.1f} Mbit/s), "
          f"median of {runs}, interleaved; reps true {[s['reps'] for s in truth['sets']]}, "
          f"found {[s['reps'] for s in result['sets']]}")
    print(f"  ffmpeg -i clip -f null -          {base:6.2f} s   runs "
          + " ".join(f"{v:.2f}" for v in baseline))
    total = statistics.median(totals)
    mark = "PASS" if total <= 1.3 * base else "FAIL"
    print(f"  decode + score + workout          {total:6.2f} s   = {total / base:4.2f}x ffmpeg"
          f"   target <= 1.30x  {mark}")
    alone = statistics.median(stage_only)
    print(f"  workout stage alone               {alone:6.2f} s   = {alone / base:4.2f}x ffmpeg"
          "   (what analysis=all adds: it reuses decode and score)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, nargs="+", default=[0],
                        help="suite seeds; several are pooled")
    parser.add_argument("--clean", type=int, default=16, help="tier-1 clips")
    parser.add_argument("--realistic", type=int, default=12, help="tier-2 clips")
    parser.add_argument("--controls", type=int, default=6)
    parser.add_argument("--hard", type=int, default=4,
                        help="tier-3 clips per condition (movements cycle)")
    parser.add_argument("--new-controls", type=int, default=4,
                        help="issue-14 controls (talking, walking past)")
    parser.add_argument("--tiers", nargs="+", default=list(TIER_KEYS), choices=TIER_KEYS,
                        help="run only these parts of the suite")
    parser.add_argument("--hard-seeds", type=int, nargs="+", default=list(HARD_SEEDS),
                        help="tier-3 tuning seeds")
    parser.add_argument("--no-held-out", action="store_true",
                        help=f"leave out tier 3 on the held-out seed {HELD_OUT_SEED}")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--workdir", type=Path, help="keep clips here (default: a temp dir)")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse clips and decode/score outputs found in --workdir")
    parser.add_argument("--only", default="", help="regex on clip names")
    parser.add_argument("--speed-runs", type=int, default=3, help="0 skips the speed figure")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="eval-workout-"))
    jobs = []
    tiers = set(args.tiers)
    hard_seeds = list(dict.fromkeys(args.hard_seeds
                                    + [HELD_OUT_SEED] * (not args.no_held_out)))
    for seed in dict.fromkeys(args.seed + hard_seeds * ("3" in tiers)):
        (work / f"seed-{seed}" / "clips").mkdir(parents=True, exist_ok=True)
        specs = [] if seed not in args.seed else suite(
            seed, args.clean * ("1" in tiers), args.realistic * ("2" in tiers),
            args.controls * ("controls" in tiers))
        specs += hard_suite(seed, args.hard) if "3" in tiers and seed in hard_seeds else []
        specs += (new_controls(seed, args.new_controls)
                  if "new-controls" in tiers and seed in args.seed else [])
        jobs += [(s, work / f"seed-{seed}") for s in specs if re.search(args.only, s.name)]
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(evaluate, s, d / "clips", d / "media", args.reuse)
                   for s, d in jobs]
        outcomes = [f.result() for f in futures]
    report(outcomes, len({d for _, d in jobs}) > 1)
    print(f"\n{len(jobs)} clips, {sum(t['duration'] for t, _, _ in outcomes):.0f} s of video,"
          f" evaluated in {time.perf_counter() - started:.0f} s with {args.jobs} jobs"
          f" (seed {' '.join(map(str, args.seed))}; tier 3 seeds "
          f"{' '.join(map(str, hard_seeds))}, held out {HELD_OUT_SEED})")
    if args.speed_runs:
        speed(work, args.speed_runs)
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


def report(outcomes: list[tuple[dict, dict, dict]], seeded: bool = False) -> None:
    scores: dict[str, list[ClipScore]] = {"clean": [], "realistic": [], "control": [],
                                          "new-control": []}
    hard: list[tuple[ClipScore, dict]] = []
    for truth, result, _ in outcomes:
        s = score_clip(truth, result)
        if truth["tier"] == "hard":
            hard.append((s, truth))
        else:
            new = truth["tier"] == "control" and truth["control"] in NEW_CONTROLS
            scores["new-control" if new else truth["tier"]].append(s)
        print(f"s{truth['seed'] // 1000} " * seeded + clip_line(s, result))
    for tier, title in TIERS:
        if scores[tier]:
            sets = sum(len(s.true_counts) for s in scores[tier])
            print(f"\n{title}: {len(scores[tier])} videos, {sets} sets")
            for figure in tier_figures(scores[tier], tier):
                print(figure.line())
    if hard:
        report_hard(hard, HELD_OUT_SEED)
    if scores["control"]:
        print(f"\nControls (walkers, fidgeting, camera pan; no exercise): "
              f"{len(scores['control'])} videos")
        for figure in control_figures(scores["control"]):
            print(figure.line())
    if scores["new-control"]:
        print(f"\nControls of issue 14 (a person talking to the camera, people walking past a "
              f"fixed camera; no exercise): {len(scores['new-control'])} videos")
        for figure in control_figures(scores["new-control"]):
            print(figure.line())


if __name__ == "__main__":
    main()
