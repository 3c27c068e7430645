"""The single job function every stage runs under: attempts, progress, stops, errors.

RQ calls :func:`run_stage`; stages never learn they run under RQ. Each run is one
attempt (``queues.attempt``): it claims the stage, writes into its own directory, and
ends the stage as completed, handed back (shutdown: RQ requeues the job at the front),
cancelled or failed. A failing stage marks the session failed and cancels the jobs still
waiting, which RQ would leave deferred.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import redis
from rq import Retry, get_current_job

from queues import metrics
from queues.attempt import SHUTDOWN, Attempt
from queues.connection import open_storage, session_store, sync_redis
from queues.endings import complete_session, finalize_cancelled, mark_failed
from queues.graph import STAGES
from queues.logs import log_scope
from queues.session import LossCause, Session, StageStatus
from queues.settings import Settings, process_settings
from queues.store import SessionStore
from stages.errors import (
    StageCancelled,
    StageError,
    StageInterrupted,
    StageStopped,
)
from stages.options import AnalysisOptions
from stages.workspace import Workspace

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.5  # seconds between progress writes: a poller sees ≥ 1 change/s
CANCEL_POLL_INTERVAL = 0.1  # seconds between reads of the session inside a stage
# RQ re-runs a handed-back job this often at most; interruptions are routine (deploys),
# so the real bound is on lost attempts (Settings.max_attempts), not on these.
HANDBACK_RETRIES = 1000


class RedisStageContext:
    """What a stage sees: its workspace, options, and a progress call that checks for stops."""

    def __init__(self, attempt: Attempt, workspace: Workspace, options: AnalysisOptions,
                 start_percent: int = 0) -> None:
        self.attempt = attempt
        self.session_id = attempt.session_id
        self.stage = attempt.stage
        self.workspace = workspace
        self.options = options
        self._percent = start_percent  # a retry's progress continues from the last one's
        self._written_at = 0.0
        self._polled_at = 0.0

    def progress(self, fraction: float) -> None:
        now = time.monotonic()
        ask = now - self._polled_at >= CANCEL_POLL_INTERVAL
        if ask:
            self._polled_at = now
        self.attempt.raise_if_stopped(ask_redis=ask)
        percent = max(self._percent, min(99, int(fraction * 100)))
        if percent != self._percent and now - self._written_at >= PROGRESS_INTERVAL:
            self.attempt.report(percent)
            self._written_at = now
        self._percent = percent


def problem_from(error: BaseException) -> dict[str, Any]:
    """The problem object stored on a failed session (never a traceback)."""
    if isinstance(error, StageError):
        return {"type": error.type, "title": error.title, "status": error.status,
                "detail": error.detail, "code": error.code}
    return {"type": "/problems/internal-error", "title": "Internal error", "status": 500,
            "detail": "The analysis failed unexpectedly. The error was logged; "
                      "try again or contact support with the session id.",
            "code": "internal_error"}


class StageRun:
    """One execution of one stage for one session."""

    def __init__(self, connection: redis.Redis, settings: Settings, session_id: str,
                 stage: str, owner: str) -> None:
        self.connection = connection
        self.settings = settings
        self.store: SessionStore = session_store(connection, settings)
        self.storage = open_storage(settings)
        self.session_id = session_id
        self.spec = STAGES[stage]
        self.owner = owner

    def __call__(self) -> str | Retry:
        session = self.store.get(self.session_id)
        if session is None or session.status.terminal:
            return "gone"
        attempt = Attempt(self.store, self.session_id, self.spec.name, self.owner,
                          self.settings.lease_seconds)
        verdict, previous = attempt.start(self.spec.after)
        if verdict != "ok":
            if verdict == "cancel":
                finalize_cancelled(self.connection, self.store, self.storage, self.session_id)
            return verdict  # gone, done, or busy/blocked (the repairer sees to those)
        workspace = self.storage.open(self.session_id, attempt.token, session.outputs)
        if previous and previous != attempt.token:
            workspace.remove_attempt(previous)  # what an abandoned attempt left
        try:
            return self._attempt(attempt, session, workspace)
        except StageStopped as stop:
            return self._stopped(stop, attempt, session, workspace)
        except redis.RedisError:
            # Redis stayed out longer than the client's retries: not the video's fault. The
            # lease is no longer renewed, so the repairer hands the stage back once Redis
            # is back.
            raise
        except Exception as error:
            if SHUTDOWN.is_set():  # e.g. ffmpeg got the same SIGTERM and died first
                return self._stopped(StageInterrupted(), attempt, session, workspace)
            self._fail(error)
            if isinstance(error, StageError):
                return "failed"
            raise  # keep the traceback in RQ's failed registry for operators
        finally:
            attempt.close()

    def _attempt(self, attempt: Attempt, session: Session, workspace: Workspace) -> str:
        options = AnalysisOptions.from_json(session.options_json)
        names = [s.name for s in session.stages]
        seconds: float | None = None  # the work's duration (a skipped stage has none)
        if self.spec.skip_if is not None and self.spec.skip_if(options):
            ended = attempt.end(StageStatus.SKIPPED, names)
        else:
            started = time.monotonic()
            self.spec.run(RedisStageContext(attempt, workspace, options,
                                            session.stage(self.spec.name).progress))
            workspace.publish()  # into the store before the stage counts as done
            seconds = time.monotonic() - started
            log.info("stage %s of %s done in %.2f s", self.spec.name, self.session_id, seconds)
            ended = attempt.end(StageStatus.COMPLETED, names)
        if ended in ("stale", "gone"):
            workspace.remove_attempt(attempt.token)  # nobody will read it
            return "discarded"
        if seconds is not None:
            metrics.observe_stage(self.connection, self.spec.name, seconds)
        if ended == "last":
            return complete_session(self.connection, self.store, self.storage, self.session_id)
        return "completed"

    def _stopped(self, stop: StageStopped, attempt: Attempt, session: Session,
                 workspace: Workspace) -> str | Retry:
        workspace.remove_attempt(attempt.token)
        if isinstance(stop, StageCancelled):
            finalize_cancelled(self.connection, self.store, self.storage, self.session_id)
            return "cancelled"
        if isinstance(stop, StageInterrupted) or SHUTDOWN.is_set():
            handed_back = attempt.end(StageStatus.PENDING, [s.name for s in session.stages])
            log.info("stage %s of %s handed back on shutdown (%s)", self.spec.name,
                     self.session_id, handed_back)
            if handed_back == "ok":
                metrics.count_retry(self.connection, self.spec.name, LossCause.INTERRUPTED)
            return Retry(max=HANDBACK_RETRIES, enqueue_at_front=True)
        log.warning("attempt %s of %s was superseded; its work is dropped", attempt.token,
                    self.session_id)
        return "superseded"

    def _fail(self, error: BaseException) -> None:
        log.log(logging.INFO if isinstance(error, StageError) else logging.ERROR,
                "stage %s of %s failed: %r", self.spec.name, self.session_id, error)
        mark_failed(self.connection, self.store, self.storage, self.session_id,
                    self.spec.name, problem_from(error))


def run_stage(session_id: str, stage: str) -> str | Retry:
    """RQ job entry: run one stage of one session."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("run_stage must run inside an RQ job")
    settings = process_settings()
    owner = job.worker_name or os.environ.get("RQ_WORKER_ID", "")
    # Our own client (timeouts, retries), not the RQ worker's, whose reads never time out;
    # without a URL (tests on fakeredis) the job's own.
    connection = sync_redis(settings) if settings.redis_url else job.connection
    # Process-wide too: a work horse runs this one job, and the stage's own threads log.
    with log_scope(session_id, stage, process_wide=True):
        return StageRun(connection, settings, session_id, stage, owner)()
