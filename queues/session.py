"""The session hash schema, shared by the worker that writes it and the API that reads it.

Writes go through :mod:`queues.store`, whose Lua scripts keep every transition atomic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class SessionStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    CANCELLING = "cancelling"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (SessionStatus.COMPLETED, SessionStatus.FAILED, SessionStatus.CANCELLED)


class StageStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"

    @property
    def done(self) -> bool:
        return self in (StageStatus.COMPLETED, StageStatus.SKIPPED)


# Hash field names.
F_STATUS = "status"
F_ANALYSIS = "analysis"
F_OPTIONS = "options"  # AnalysisOptions JSON
F_STAGES = "stages"  # JSON [[name, weight], ...] in graph order
F_JOBS = "jobs"  # JSON {stage name: RQ job id}
F_ERROR = "error"  # JSON problem object when failed
F_CANCEL = "cancel"  # "1" once cancellation was requested
F_FINAL = "final"  # set once with HSETNX: whoever sets it decides the terminal status
F_CREATED = "created_at"
F_UPDATED = "updated_at"
F_EXPIRES = "expires_at"
F_CALLBACK = "callback_url"  # where the session's end is posted (absent: nowhere)
CANCEL_FLAG = "1"  # value of F_CANCEL once asked


class StagePart(StrEnum):
    """Per-stage hash fields, ``stage:<name>:<part>``."""

    STATUS = "status"  # StageStatus
    PROGRESS = "progress"  # 0..100, never lowered (not even by a retry)
    TOKEN = "token"  # the current (or last) attempt's token; only it may write
    OWNER = "owner"  # the RQ worker running the current attempt
    ATTEMPTS = "attempts"  # attempts started so far
    LOSSES = "losses"  # attempts lost to a dead process (bounded by MAX_ATTEMPTS)
    LOSS = "loss"  # how the last lost attempt died: a LossCause


class LossCause(StrEnum):
    """Why an attempt ended without finishing."""

    INTERRUPTED = "interrupted"  # graceful shutdown (SIGTERM): not counted as a loss
    KILLED = "killed"  # the work horse died of a signal (SIGKILL) under a live worker
    OUT_OF_MEMORY = "out_of_memory"  # ... and the kernel says it was its OOM killer
    LOST = "lost"  # the whole worker went silent (its lease expired)


def stage_field(stage: str, part: StagePart) -> str:
    return f"stage:{stage}:{part.value}"


def stage_status_field(stage: str) -> str:
    return stage_field(stage, StagePart.STATUS)


def stage_progress_field(stage: str) -> str:
    return stage_field(stage, StagePart.PROGRESS)


def lease_member(session_id: str, stage: str) -> str:
    """Member of the lease zset for one running stage (ids and names hold no ':')."""
    return f"{session_id}:{stage}"


def parse_lease_member(member: str) -> tuple[str, str]:
    session_id, _, stage = member.rpartition(":")
    return session_id, stage


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class StageState:
    name: str
    weight: float
    status: StageStatus
    progress: int  # 0..100
    token: str = ""  # the current or last attempt; its output directory when completed
    attempts: int = 0
    losses: int = 0
    loss: str = ""  # LossCause of the last lost attempt


@dataclass(frozen=True)
class Session:
    """A decoded session hash."""

    session_id: str
    status: SessionStatus
    analysis: str
    options_json: str
    stages: tuple[StageState, ...]
    jobs: dict[str, str]
    error: dict[str, Any] | None
    cancel_requested: bool
    created_at: float
    updated_at: float
    expires_at: float

    @classmethod
    def from_hash(cls, session_id: str, raw: dict[Any, Any]) -> Session | None:
        if not raw:
            return None
        h = {_s(k): _s(v) for k, v in raw.items()}
        if F_STATUS not in h or F_STAGES not in h:
            return None  # a stray progress write after deletion; treat as absent
        stages = tuple(_stage_state(h, name, float(weight))
                       for name, weight in json.loads(h[F_STAGES]))
        return cls(session_id=session_id, status=SessionStatus(h[F_STATUS]),
                   analysis=h.get(F_ANALYSIS, ""), options_json=h.get(F_OPTIONS, "{}"),
                   stages=stages, jobs=json.loads(h.get(F_JOBS) or "{}"),
                   error=json.loads(h[F_ERROR]) if h.get(F_ERROR) else None,
                   cancel_requested=h.get(F_CANCEL) == CANCEL_FLAG,
                   created_at=float(h[F_CREATED]), updated_at=float(h.get(F_UPDATED, h[F_CREATED])),
                   expires_at=float(h[F_EXPIRES]))

    @property
    def progress(self) -> int:
        """Weighted stage progress: monotonic because each stage's is, 100 only when completed."""
        if self.status is SessionStatus.COMPLETED:
            return 100
        total = sum(s.weight for s in self.stages) or 1.0
        done = sum(s.weight * (100 if s.status.done else s.progress) for s in self.stages)
        return min(99, int(done / total))

    @property
    def outputs(self) -> tuple[str, ...]:
        """Output directories (attempt tokens) of the completed stages, in graph order."""
        return tuple(s.token for s in self.stages
                     if s.status is StageStatus.COMPLETED and s.token)

    def stage(self, name: str) -> StageState:
        return next(s for s in self.stages if s.name == name)

    @property
    def current_stage(self) -> str | None:
        running = [s.name for s in self.stages if s.status is StageStatus.RUNNING]
        return running[0] if running else None

    def status_body(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "status": self.status.value,
            "analysis": self.analysis,
            "progress": self.progress,
            "stage": self.current_stage,
            "stages": [{"name": s.name, "status": s.status.value, "progress":
                        100 if s.status is StageStatus.COMPLETED else s.progress,
                        "attempts": s.attempts}
                       for s in self.stages],
            "error": self.error,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "expires_at": iso(self.expires_at),
        }


def _stage_state(h: dict[str, str], name: str, weight: float) -> StageState:
    def part(p: StagePart, default: str = "0") -> str:
        return h.get(stage_field(name, p)) or default

    return StageState(name, weight, StageStatus(part(StagePart.STATUS, "pending")),
                      int(float(part(StagePart.PROGRESS))), token=part(StagePart.TOKEN, ""),
                      attempts=int(part(StagePart.ATTEMPTS)), losses=int(part(StagePart.LOSSES)),
                      loss=part(StagePart.LOSS, ""))


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def new_session_hash(analysis: str, options_json: str, stages: list[tuple[str, float]],
                     now: float, ttl: int) -> dict[str, str]:
    fields = {F_STATUS: SessionStatus.QUEUED.value, F_ANALYSIS: analysis, F_OPTIONS: options_json,
              F_STAGES: json.dumps(stages), F_JOBS: "{}", F_CREATED: repr(now),
              F_UPDATED: repr(now), F_EXPIRES: repr(now + ttl)}
    for name, _ in stages:
        fields[stage_status_field(name)] = StageStatus.PENDING.value
        fields[stage_progress_field(name)] = "0"
    return fields
