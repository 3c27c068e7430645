"""How a session ends: completed, cancelled, failed or deleted, and what goes with it
(waiting jobs, running work horses, partial outputs, RQ's job records); and how a stage
whose job was lost is put back on the queue."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis
from rq import Queue
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from queues import keys
from queues.graph import PIPELINES, STAGES, enqueue_stage, job_id
from queues.session import F_ERROR, LossCause, Session, SessionStatus
from queues.store import SessionStore
from queues.webhooks import purge_delivery
from stages import results
from stages.options import AnalysisOptions
from stages.workspace import REEL, REEL_META, RESULTS, Storage

log = logging.getLogger(__name__)

_WAITING = (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED)
STOP_WAIT_SECONDS = 1.0  # how long a hard stop may take before we clean up anyway


def session_jobs(connection: redis.Redis, session_id: str) -> list[Job]:
    """Every RQ job of the session that still exists (ids are derived, not looked up)."""
    ids = {job_id(session_id, spec.name) for specs in PIPELINES.values() for spec in specs}
    return [job for job in Job.fetch_many(sorted(ids), connection=connection) if job is not None]


def cancel_waiting_jobs(connection: redis.Redis, session_id: str, ttl: int) -> None:
    """Cancel jobs that have not started (RQ would leave them deferred forever); RQ keeps
    cancelled jobs without a TTL, so give them one."""
    for job in session_jobs(connection, session_id):
        try:
            if job.get_status(refresh=True) in _WAITING:
                job.cancel()
                connection.expire(job.key, ttl)
        except (InvalidJobOperation, NoSuchJobError):
            continue


def running_jobs(connection: redis.Redis, session_id: str) -> list[Job]:
    return [j for j in session_jobs(connection, session_id)
            if j.get_status(refresh=False) == JobStatus.STARTED]


def stop_running_jobs(connection: redis.Redis, session_id: str) -> None:
    """Hard-stop the session's running work horses and wait (briefly) until they are dead,
    so nothing they do afterwards can write into a cleaned-up session."""
    jobs = running_jobs(connection, session_id)
    for job in jobs:
        log.warning("hard-stopping job %s", job.id)
        try:
            send_stop_job_command(connection, job.id)
        except (InvalidJobOperation, NoSuchJobError):
            continue
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while jobs and time.monotonic() < deadline:
        time.sleep(0.02)
        jobs = [j for j in jobs if _still_started(j)]


def _still_started(job: Job) -> bool:
    try:
        return job.get_status(refresh=True) == JobStatus.STARTED
    except NoSuchJobError:
        return False


def complete_session(connection: redis.Redis, store: SessionStore, storage: Storage,
                     session_id: str) -> str:
    """Every stage is done: write the results body and end the session completed (once).
    Run by the attempt that finished last, or by the repairer if that one died first."""
    session = store.get(session_id)
    if session is None or session.status.terminal:
        return "gone"
    if not all(s.status.done for s in session.stages):
        return "not-done"
    options = AnalysisOptions.from_json(session.options_json)
    workspace = storage.open(session_id, inputs=session.outputs)
    try:
        workspace.write_json(RESULTS, results.assemble(workspace, options))
        storage.save_results(session_id)
    finally:
        storage.discard(session_id)
    if not store.finish(session_id, SessionStatus.COMPLETED, [s.name for s in session.stages]):
        finalize_cancelled(connection, store, storage, session_id)  # a cancel came first
        return "cancelled"
    storage.end(session_id, keep=results_files(session))
    return "completed"


def results_files(session: Session) -> tuple[str, ...]:
    """What a completed session keeps until it expires: the results body and the reel."""
    render = next((s for s in session.stages if s.name == "render" and s.token), None)
    reel = (f"{render.token}/{REEL}", f"{render.token}/{REEL_META}") if render else ()
    return (RESULTS, *reel)


def requeue_stage(connection: redis.Redis, queue: Queue, session_id: str, stage: str, *,
                  stage_timeout: int, result_ttl: int) -> None:
    """Put a stage's job back at the front of the queue, whatever RQ made of it (started by
    a dead worker, failed, finished early, stuck deferred or ready). The session hash says
    its inputs are done, so RQ's dependency check is bypassed on purpose."""
    try:
        job = Job.fetch(job_id(session_id, stage), connection=connection)
    except NoSuchJobError:
        enqueue_stage(queue, session_id, stage, at_front=True, stage_timeout=stage_timeout,
                      result_ttl=result_ttl)
        return
    registries = (queue.failed_job_registry, queue.deferred_job_registry,
                  queue.finished_job_registry, queue.canceled_job_registry,
                  queue.ready_job_registry)
    with connection.pipeline() as pipe:
        queue.started_job_registry.remove_executions(job, pipeline=pipe)
        for registry in registries:
            registry.remove(job, pipeline=pipe)
        pipe.lrem(queue.key, 0, job.id)  # never twice in the list
        queue._enqueue_job(job, pipeline=pipe, at_front=True)
        pipe.execute()
    log.info("requeued %s", job.id)


def loss_problem(cause: str, losses: int) -> dict[str, Any]:
    """The problem of a session whose stage was lost ``losses`` times."""
    if cause == LossCause.OUT_OF_MEMORY:
        return {"type": "/problems/out-of-memory", "title": "Out of memory", "status": 500,
                "code": "out_of_memory",
                "detail": f"Analysing this video needed more memory than a worker has: the "
                          f"system stopped it {losses} time(s). Try a shorter or "
                          f"lower-resolution video."}
    return {"type": "/problems/worker-lost", "title": "Worker lost", "status": 500,
            "code": "worker_lost",
            "detail": f"The worker analysing this video stopped without finishing {losses} "
                      f"time(s) (killed or lost), so the analysis was given up. Try again "
                      f"later; if it happens again, try a shorter video."}


def finalize_cancelled(connection: redis.Redis, store: SessionStore, storage: Storage,
                       session_id: str) -> bool:
    """End the session as cancelled (once), drop partial outputs and waiting jobs."""
    session = store.get(session_id)
    if session is None or not store.finish(session_id, SessionStatus.CANCELLED,
                                           [s.name for s in session.stages]):
        return False
    storage.end(session_id)
    cancel_waiting_jobs(connection, session_id, store.session_ttl)
    return True


def mark_failed(connection: redis.Redis, store: SessionStore, storage: Storage, session_id: str,
                stage: str, problem: dict[str, Any]) -> None:
    """End the session as failed (once): stage failed, the rest cancelled, outputs dropped.
    A session whose cancellation was asked ends cancelled instead."""
    session = store.get(session_id)
    if session is None:
        return
    if session.cancel_requested:
        finalize_cancelled(connection, store, storage, session_id)
        return
    if not store.finish(session_id, SessionStatus.FAILED, [s.name for s in session.stages],
                        failed_stage=stage, extra={F_ERROR: json.dumps(problem)}):
        return
    storage.end(session_id)
    cancel_waiting_jobs(connection, session_id, store.session_ttl)


def delete_session(connection: redis.Redis, store: SessionStore, storage: Storage,
                   queue: Queue, session_id: str) -> None:
    """Stop whatever still runs for the session, then remove its files and every key but
    the tombstone (RQ's job records included)."""
    store.request_cancel(session_id)
    cancel_waiting_jobs(connection, session_id, store.session_ttl)
    stop_running_jobs(connection, session_id)
    purge_job_records(connection, queue, session_id)
    # A worker that dequeued a job just before it was cancelled still writes RQ's records
    # of it (status, result, finished registry) after this: the repairer purges again.
    connection.zadd(keys.PURGE_AGAIN, {session_id: time.time()})
    store.delete(session_id, list(STAGES))
    storage.delete(session_id)


def purge_job_records(connection: redis.Redis, queue: Queue, session_id: str) -> None:
    """Remove the session's jobs from RQ: their hashes, results, and every registry they
    may stand in, whatever their status says (a race can leave them in two)."""
    purge_delivery(connection, queue.name, session_id)  # its webhook's job, if it has one
    jobs = session_jobs(connection, session_id)
    for job in jobs:
        queue.started_job_registry.remove_executions(job)
        job.delete(remove_from_queue=True)
    ids = [job_id(session_id, name) for name in STAGES]
    registries = (queue.canceled_job_registry, queue.finished_job_registry,
                  queue.failed_job_registry, queue.deferred_job_registry,
                  queue.scheduled_job_registry, queue.ready_job_registry)
    with connection.pipeline() as pipe:
        for registry in registries:
            pipe.zrem(registry.key, *ids)
        for jid in ids:
            pipe.lrem(queue.key, 0, jid)
        pipe.execute()
