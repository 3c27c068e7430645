"""The stage graph, declared once: which stages each analysis runs, in which order.

Reading this file tells you the whole pipeline. ``enqueue_pipeline`` turns one
pipeline into RQ jobs chained with ``depends_on``; ``queues.runner`` runs each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rq import Queue
from rq.job import Dependency, Job

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


RUN_STAGE = "queues.runner.run_stage"  # the job function of every stage, by dotted name


def enqueue_pipeline(queue: Queue, session_id: str, analysis: str, *, stage_timeout: int,
                     result_ttl: int, fair: bool = True) -> dict[str, str]:
    """Enqueue one job per stage, each depending on the stages it reads from.

    Only the first stage joins the back of the queue. A later stage goes to the front once
    its inputs are done (``Dependency(enqueue_at_front=True)``), so a started session is
    finished before its worker takes a new session's decode: with N sessions at once the
    first result comes after about 1/N of the total time, not at the end (plain FIFO ran
    every decode first). ``fair=False``: plain FIFO (FAIR_SCHEDULING=false).
    """
    jobs: dict[str, Job] = {}
    for spec in PIPELINES[analysis]:
        parents = [jobs[name] for name in spec.after]
        jobs[spec.name] = enqueue_stage(queue, session_id, spec.name, depends_on=parents,
                                        stage_timeout=stage_timeout, result_ttl=result_ttl,
                                        fair=fair)
    return {name: job.id for name, job in jobs.items()}


def enqueue_stage(queue: Queue, session_id: str, stage: str, *, depends_on: list[Job] | None = None,
                  at_front: bool = False, stage_timeout: int | None = None,
                  result_ttl: int | None = None, fair: bool = True) -> Job:
    """The RQ job of one stage (also how the repairer recreates a lost one)."""
    return queue.enqueue(
        RUN_STAGE, session_id, stage,
        job_id=job_id(session_id, stage),
        depends_on=Dependency(jobs=depends_on, enqueue_at_front=fair) if depends_on else None,
        at_front=at_front,
        job_timeout=stage_timeout,
        result_ttl=result_ttl,
        failure_ttl=result_ttl,
        description=f"{stage} of session {session_id[:8]}…",
    )
