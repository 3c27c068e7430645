"""The stage graph: one job per stage, chained with depends_on as the pipeline declares."""

from __future__ import annotations

import fakeredis
import pytest
from rq.job import Job, JobStatus

from queues.connection import pipeline_queue
from queues.graph import PIPELINES, STAGES, enqueue_pipeline, job_id
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
