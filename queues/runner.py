"""The single job function every stage runs under: status, progress, cancellation, errors.

RQ calls :func:`run_stage`; stages never learn they run under RQ. A failing stage marks
the session failed and cancels the jobs still waiting, which RQ would leave deferred.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from rq import get_current_job

from queues.connection import session_store
from queues.endings import finalize_cancelled, mark_failed
from queues.graph import STAGES
from queues.session import SessionStatus, StageStatus
from queues.settings import Settings, process_settings
from queues.store import SessionStore
from stages import results
from stages.errors import StageCancelled, StageError
from stages.options import AnalysisOptions
from stages.workspace import RESULTS, Storage, Workspace

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.5  # seconds between progress writes: a poller sees ≥ 1 change/s
CANCEL_POLL_INTERVAL = 0.1  # seconds between cancel-flag reads inside a stage


class RedisStageContext:
    """What a stage sees: its workspace, options, and a progress call that checks cancel."""

    def __init__(self, store: SessionStore, session_id: str, stage: str, workspace: Workspace,
                 options: AnalysisOptions) -> None:
        self.store = store
        self.session_id = session_id
        self.stage = stage
        self.workspace = workspace
        self.options = options
        self._percent = 0
        self._written_at = 0.0
        self._polled_at = 0.0

    def progress(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self._polled_at >= CANCEL_POLL_INTERVAL:
            self._polled_at = now
            if self.store.cancel_requested(self.session_id):
                raise StageCancelled(self.session_id)
        percent = max(self._percent, min(99, int(fraction * 100)))
        if percent != self._percent and now - self._written_at >= PROGRESS_INTERVAL:
            self.store.set_stage(self.session_id, self.stage, StageStatus.RUNNING, percent)
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
                 stage: str) -> None:
        self.connection = connection
        self.store = session_store(connection, settings)
        self.storage = Storage(settings.media_root)
        self.session_id = session_id
        self.spec = STAGES[stage]

    def __call__(self) -> str:
        session = self.store.get(self.session_id)
        if session is None or session.status.terminal:
            return "gone"
        options = AnalysisOptions.from_json(session.options_json)
        workspace = self.storage.open(self.session_id)
        skipped = self.spec.skip_if is not None and self.spec.skip_if(options)
        try:
            if skipped:
                self.store.set_stage(self.session_id, self.spec.name, StageStatus.SKIPPED)
            elif not self._run(workspace, options):
                return "cancelled"
            return self._complete_if_done(workspace, options)
        except StageCancelled:
            self._cancelled(workspace)
            return "cancelled"
        except StageError as error:
            self._fail(error)
            return "failed"
        except Exception as error:
            self._fail(error)
            raise  # keep the traceback in RQ's failed registry for operators

    def _run(self, workspace: Workspace, options: AnalysisOptions) -> bool:
        """Run the stage itself; False when it must not start (cancelled, ended, deleted)."""
        verdict = self.store.start_stage(self.session_id, self.spec.name)
        if verdict != "ok":
            if verdict == "cancel":
                finalize_cancelled(self.connection, self.store, self.storage, self.session_id)
            return False
        started = time.monotonic()
        self.spec.run(RedisStageContext(self.store, self.session_id, self.spec.name,
                                        workspace, options))
        log.info("stage %s of %s done in %.2f s", self.spec.name, self.session_id,
                 time.monotonic() - started)
        self.store.set_stage(self.session_id, self.spec.name, StageStatus.COMPLETED, 100)
        return True

    def _complete_if_done(self, workspace: Workspace, options: AnalysisOptions) -> str:
        session = self.store.get(self.session_id)
        if session is None or session.status.terminal:
            self._cancelled(workspace)  # ended while this stage ran: keep nothing it wrote
            return "discarded"
        if not all(s.status.done for s in session.stages):
            return "completed"
        workspace.write_json(RESULTS, results.assemble(workspace, options))
        if not self.store.finish(self.session_id, SessionStatus.COMPLETED,
                                 [s.name for s in session.stages]):
            self._cancelled(workspace)  # a cancellation came first: it wins
            return "cancelled"
        return "completed"

    def _cancelled(self, workspace: Workspace) -> None:
        finalize_cancelled(self.connection, self.store, self.storage, self.session_id)
        session = self.store.get(self.session_id)
        if session is None or session.status is not SessionStatus.COMPLETED:
            workspace.remove_outputs()

    def _fail(self, error: BaseException) -> None:
        log.log(logging.INFO if isinstance(error, StageError) else logging.ERROR,
                "stage %s of %s failed: %r", self.spec.name, self.session_id, error)
        mark_failed(self.connection, self.store, self.storage, self.session_id,
                    self.spec.name, problem_from(error))


def run_stage(session_id: str, stage: str) -> str:
    """RQ job entry: run one stage of one session."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("run_stage must run inside an RQ job")
    return StageRun(job.connection, process_settings(), session_id, stage)()
