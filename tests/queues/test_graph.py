"""The stage graph: one job per stage, chained with depends_on as the pipeline declares."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import fakeredis
import pytest
from rq.job import Job, JobStatus

from queues.connection import pipeline_queue
from queues.graph import PIPELINES, STAGES, enqueue_pipeline, job_id
from queues.session import Session
from queues.settings import Settings

EXPECTED = {
    "highlights": ["decode", "score", "select", "render"],
    "workout": ["decode", "score", "workout"],
    "all": ["decode", "score", "select", "render", "workout"],
}


@pytest.mark.parametrize("analysis", sorted(EXPECTED))
def test_enqueue_chains_every_stage(analysis: str, redis_conn: fakeredis.FakeRedis,
                                    settings: Settings) -> None:
    sid = "S" * 32
    jobs = enqueue_pipeline(pipeline_queue(redis_conn, settings), sid, analysis,
                            stage_timeout=60, result_ttl=60)
    assert list(jobs) == EXPECTED[analysis]
    for name, jid in jobs.items():
        job = Job.fetch(jid, connection=redis_conn)
        assert jid == job_id(sid, name)
        assert job.args == (sid, name)
        parents = {Job.fetch(d, connection=redis_conn).args[1] for d in job.dependency_ids}
        assert parents == set(STAGES[name].after)
        expected = JobStatus.QUEUED if not parents else JobStatus.DEFERRED
        assert job.get_status() == expected


def test_graph_is_topologically_ordered() -> None:
    for specs in PIPELINES.values():
        seen: set[str] = set()
        for spec in specs:
            assert set(spec.after) <= seen, spec.name
            seen.add(spec.name)


@pytest.mark.parametrize("settings", [{}, {"fair_scheduling": False}], indirect=True)
def test_a_started_session_finishes_before_the_next_one_starts(
        make_session: Callable[..., Session], run_jobs: Callable[[], None], small_video: Path,
        redis_conn: fakeredis.FakeRedis, settings: Settings) -> None:
    """Downstream stages go to the front of the queue: with one worker, session A runs all
    of its stages before session B's decode. Plain FIFO (FAIR_SCHEDULING=false) runs both
    decodes first."""
    first = make_session(small_video, analysis="workout", render=False)
    second = make_session(small_video, analysis="highlights", render=False)
    run_jobs()
    ran = []
    for session in (first, second):
        for stage in PIPELINES[session.analysis]:
            job = Job.fetch(job_id(session.session_id, stage.name), connection=redis_conn)
            assert job.get_status() == JobStatus.FINISHED
            assert job.started_at is not None
            ran.append((job.started_at, session.session_id[:4], stage.name))
    order = [(sid, stage) for _, sid, stage in sorted(ran)]
    a, b = first.session_id[:4], second.session_id[:4]
    if settings.fair_scheduling:
        assert order == [(a, "decode"), (a, "score"), (a, "workout"),
                         (b, "decode"), (b, "score"), (b, "select"), (b, "render")]
    else:
        assert order[:2] == [(a, "decode"), (b, "decode")]
