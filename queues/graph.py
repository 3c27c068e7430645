"""The stage graph, declared once: which stages each analysis runs, in which order.

Reading this file tells you the whole pipeline. ``enqueue_pipeline`` turns one
pipeline into RQ jobs chained with ``depends_on``; ``queues.runner`` runs each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rq import Queue
from rq.job import Job

from stages import decode, render, score, select, workout
from stages.context import StageContext
from stages.options import AnalysisOptions


@dataclass(frozen=True)
class StageSpec:
    name: str
    run: Callable[[StageContext], None]
    after: tuple[str, ...]  # stages whose outputs this one reads
    weight: float  # share of overall progress (roughly its share of wall time)
    skip_if: Callable[[AnalysisOptions], bool] | None = None


DECODE = StageSpec("decode", decode.run, after=(), weight=45)
SCORE = StageSpec("score", score.run, after=("decode",), weight=10)
SELECT = StageSpec("select", select.run, after=("score",), weight=2)
RENDER = StageSpec("render", render.run, after=("select",), weight=40,
                   skip_if=lambda options: not options.render)
WORKOUT = StageSpec("workout", workout.run, after=("score",), weight=10)

PIPELINES: dict[str, tuple[StageSpec, ...]] = {
    "highlights": (DECODE, SCORE, SELECT, RENDER),
    "workout": (DECODE, SCORE, WORKOUT),
    "all": (DECODE, SCORE, SELECT, RENDER, WORKOUT),
}

STAGES: dict[str, StageSpec] = {s.name: s for specs in PIPELINES.values() for s in specs}


def stage_weights(analysis: str) -> list[tuple[str, float]]:
    return [(s.name, s.weight) for s in PIPELINES[analysis]]


def job_id(session_id: str, stage: str) -> str:
    """Deterministic, so cancellation can find every job of a session without a lookup."""
    return f"vs-{stage}-{session_id}"


def enqueue_pipeline(queue: Queue, session_id: str, analysis: str, *, stage_timeout: int,
                     result_ttl: int) -> dict[str, str]:
    """Enqueue one job per stage, each depending on the stages it reads from."""
    from queues.runner import run_stage  # the runner imports this module

    jobs: dict[str, Job] = {}
    for spec in PIPELINES[analysis]:
        parents = [jobs[name] for name in spec.after]
        jobs[spec.name] = queue.enqueue(
            run_stage, session_id, spec.name,
            job_id=job_id(session_id, spec.name),
            depends_on=parents or None,
            job_timeout=stage_timeout,
            result_ttl=result_ttl,
            failure_ttl=result_ttl,
            description=f"{spec.name} of session {session_id[:8]}…",
        )
    return {name: job.id for name, job in jobs.items()}
