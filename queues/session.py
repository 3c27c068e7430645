"""The session hash: one schema shared by the worker that writes it and the API that reads it."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import redis

from queues import keys


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


def stage_status_field(stage: str) -> str:
    return f"stage:{stage}:status"


def stage_progress_field(stage: str) -> str:
    return f"stage:{stage}:progress"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class StageState:
    name: str
    weight: float
    status: StageStatus
    progress: int  # 0..100


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
        stages = tuple(
            StageState(name, float(weight), StageStatus(h.get(stage_status_field(name), "pending")),
                       int(float(h.get(stage_progress_field(name), 0))))
            for name, weight in json.loads(h[F_STAGES]))
        return cls(session_id=session_id, status=SessionStatus(h[F_STATUS]),
                   analysis=h.get(F_ANALYSIS, ""), options_json=h.get(F_OPTIONS, "{}"),
                   stages=stages, jobs=json.loads(h.get(F_JOBS) or "{}"),
                   error=json.loads(h[F_ERROR]) if h.get(F_ERROR) else None,
                   cancel_requested=h.get(F_CANCEL) == "1",
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
                        100 if s.status is StageStatus.COMPLETED else s.progress}
                       for s in self.stages],
            "error": self.error,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "expires_at": iso(self.expires_at),
        }


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


# Both scripts refuse to touch a deleted session: a plain HSET would recreate the hash
# without its TTL and leak it.
_UPDATE_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

_FINISH_ONCE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HSETNX', KEYS[1], 'final', ARGV[1]) == 0 then return 0 end
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return 1
"""


class SessionStore:
    """Synchronous reads and writes of session hashes (worker side, and the API via threads)."""

    def __init__(self, connection: redis.Redis, session_ttl: int, tombstone_ttl: int) -> None:
        self.redis = connection
        self.session_ttl = session_ttl
        self.tombstone_ttl = tombstone_ttl
        self._update_if_exists = connection.register_script(_UPDATE_IF_EXISTS)
        self._finish_once = connection.register_script(_FINISH_ONCE)

    def get(self, session_id: str) -> Session | None:
        return Session.from_hash(session_id, self.redis.hgetall(keys.session_key(session_id)))

    def create(self, session_id: str, fields: dict[str, str]) -> None:
        key = keys.session_key(session_id)
        pipe = self.redis.pipeline()
        pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
        pipe.expire(key, self.session_ttl + keys.KEY_TTL_MARGIN)
        pipe.zadd(keys.SESSIONS_BY_EXPIRY, {session_id: float(fields[F_EXPIRES])})
        pipe.execute()

    def update(self, session_id: str, fields: dict[str, str]) -> bool:
        """HSET only if the session still exists: a late write never resurrects a deleted one."""
        args = [x for kv in {**fields, F_UPDATED: repr(time.time())}.items() for x in kv]
        return bool(self._update_if_exists(keys=[keys.session_key(session_id)], args=args))

    def set_stage(self, session_id: str, stage: str, status: StageStatus,
                  progress: int | None = None) -> bool:
        fields = {stage_status_field(stage): status.value}
        if progress is not None:
            fields[stage_progress_field(stage)] = str(progress)
        return self.update(session_id, fields)

    def cancel_requested(self, session_id: str) -> bool:
        """True when cancelled, or when the session no longer exists (cleaned up)."""
        value = self.redis.hmget(keys.session_key(session_id), [F_CANCEL, F_STATUS])
        return value[1] is None or value[0] == b"1" or value[0] == "1"

    def finish(self, session_id: str, status: SessionStatus,
               extra: dict[str, str] | None = None) -> bool:
        """Move to a terminal status once; the first caller wins, later ones return False."""
        now = time.time()
        expires = now + self.session_ttl
        fields = {F_STATUS: status.value, F_UPDATED: repr(now), F_EXPIRES: repr(expires),
                  **(extra or {})}
        won = self._finish_once(
            keys=[keys.session_key(session_id), keys.SESSIONS_BY_EXPIRY],
            args=[status.value, self.session_ttl + keys.KEY_TTL_MARGIN, expires, session_id,
                  *[x for kv in fields.items() for x in kv]])
        return bool(won)

    def delete(self, session_id: str) -> None:
        """Remove the hash and index entry, leave a tombstone for ``tombstone_ttl``."""
        pipe = self.redis.pipeline()
        pipe.delete(keys.session_key(session_id))
        pipe.zrem(keys.SESSIONS_BY_EXPIRY, session_id)
        pipe.set(keys.tombstone_key(session_id), "1", ex=self.tombstone_ttl)
        pipe.execute()

    def expired(self, now: float, limit: int = 100) -> list[str]:
        ids = self.redis.zrangebyscore(keys.SESSIONS_BY_EXPIRY, 0, now, start=0, num=limit)
        return [_s(i) for i in ids]
