"""Repair: no session may sit unfinished with nothing working on it.

Runs every ``Settings.repair_interval`` seconds (one process at a time):
- a running stage whose lease ran out (its worker was killed, paused or cut off) is handed
  back and its job requeued at the front, or the session fails once the stage has been
  lost MAX_ATTEMPTS times;
- a stage whose inputs are done but whose job is neither queued nor running (RQ left it
  deferred or ready, a duplicate finished it early, Redis lost a write) is requeued once
  that has lasted ``STALL_GRACE`` seconds (jobs RQ itself marked ready go at once);
- a session whose stages are all done but which never completed (the last attempt died
  between its stage and the results) is completed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from queues import keys
from queues.connection import open_storage, pipeline_queue, session_store
from queues.endings import (
    complete_session,
    finalize_cancelled,
    loss_problem,
    mark_failed,
    purge_job_records,
    requeue_stage,
)
from queues.graph import STAGES, job_id
from queues.session import LossCause, Session, SessionStatus, StageStatus
from queues.settings import Settings
from queues.store import SessionStore

log = logging.getLogger(__name__)

STALL_GRACE = 5.0  # seconds a stage may look stalled before it is requeued
_ALIVE = (JobStatus.QUEUED, JobStatus.STARTED)  # RQ states in which a job will run


@dataclass
class RepairReport:
    requeued_lost: int = 0
    failed_lost: int = 0
    requeued_stalled: int = 0
    completed: int = 0


@dataclass
class StallTracker:
    """When each (session, stage) was first seen stalled, so a passing state is let be."""

    first_seen: dict[tuple[str, str], float] = field(default_factory=dict)

    def due(self, key: tuple[str, str], now: float) -> bool:
        return now - self.first_seen.setdefault(key, now) >= STALL_GRACE

    def keep_only(self, keys: set[tuple[str, str]]) -> None:
        self.first_seen = {k: v for k, v in self.first_seen.items() if k in keys}


class Repairer:
    def __init__(self, connection: redis.Redis, settings: Settings) -> None:
        self.connection = connection
        self.settings = settings
        self.store: SessionStore = session_store(connection, settings)
        self.storage = open_storage(settings)
        self.queue = pipeline_queue(connection, settings)
        self.stalls = StallTracker()

    def run(self, now: float | None = None) -> RepairReport:
        now = time.time() if now is None else now
        report = RepairReport()
        # RQ's own recovery of dependents it marked ready but could not enqueue (a WATCH on
        # its shared ready registry loses to any concurrent finish: common in bursts); RQ
        # runs it every few minutes only.
        self.queue.ready_job_registry.cleanup()
        for session_id, stage in self.store.expired_leases(now):
            self._reclaim_lost(session_id, stage, report)
        stalled: set[tuple[str, str]] = set()
        for session_id in list(self.store.active()):
            session = self.store.get(session_id)
            if session is not None and session.status in (SessionStatus.QUEUED,
                                                          SessionStatus.PROCESSING):
                self._unstall(session, now, stalled, report)
        self.stalls.keep_only(stalled)
        self._purge_deleted(now)
        if report != RepairReport():
            log.info("repaired %s", report)
        return report

    def _purge_deleted(self, now: float) -> None:
        due = self.connection.zrangebyscore(keys.PURGE_AGAIN, 0, now - keys.PURGE_DELAY)
        for raw in due:
            session_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            purge_job_records(self.connection, self.queue, session_id)
            self.connection.zrem(keys.PURGE_AGAIN, session_id)

    def _reclaim_lost(self, session_id: str, stage: str, report: RepairReport) -> None:
        verdict = self.store.reclaim(session_id, stage, LossCause.LOST, self.settings.max_attempts)
        log.warning("stage %s of %s lost its worker: %s", stage, session_id, verdict)
        session = self.store.get(session_id)
        if session is None:
            return
        if verdict == "exhausted":
            state = session.stage(stage)
            mark_failed(self.connection, self.store, self.storage, session_id, stage,
                        loss_problem(state.loss, state.losses))
            report.failed_lost += 1
        elif verdict == "retry":
            if session.cancel_requested:
                finalize_cancelled(self.connection, self.store, self.storage, session_id)
                return
            self._requeue(session_id, stage)
            report.requeued_lost += 1

    def _unstall(self, session: Session, now: float, stalled: set[tuple[str, str]],
                 report: RepairReport) -> None:
        done = {s.name for s in session.stages if s.status.done}
        if len(done) == len(session.stages):
            key = (session.session_id, "")
            stalled.add(key)
            if self.stalls.due(key, now):
                complete_session(self.connection, self.store, self.storage, session.session_id)
                report.completed += 1
            return
        for state in session.stages:
            if state.status is not StageStatus.PENDING:
                continue
            inputs_ready = set(STAGES[state.name].after) <= done
            if not inputs_ready or self._job_alive(session, state.name, now):
                continue
            key = (session.session_id, state.name)
            stalled.add(key)
            if self.stalls.due(key, now):
                log.warning("stage %s of %s was stalled: requeued", state.name,
                            session.session_id)
                self._requeue(session.session_id, state.name)
                report.requeued_stalled += 1

    def _job_alive(self, session: Session, stage: str, now: float) -> bool:
        """Queued, or just started (an attempt claims its stage within milliseconds of
        starting: a job started long ago on a stage still pending died with its worker)."""
        try:
            job = Job.fetch(job_id(session.session_id, stage), connection=self.connection)
        except NoSuchJobError:
            return False
        status = job.get_status(refresh=False)
        if status == JobStatus.STARTED and job.started_at is not None:
            return now - job.started_at.timestamp() < self.settings.lease_seconds
        return status in _ALIVE

    def _requeue(self, session_id: str, stage: str) -> None:
        requeue_stage(self.connection, self.queue, session_id, stage,
                      stage_timeout=self.settings.stage_timeout,
                      result_ttl=self.settings.session_ttl)
