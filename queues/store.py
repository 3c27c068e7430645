"""Reads and atomic writes of session hashes (worker side, and the API through threads).

Every transition is one Lua script, so the web process (cancel, cleanup) and workers
(stage runs) can never interleave into a wrong state: once a session has ended (its
``final`` field is set) nothing but deletion touches it, and a deleted one is never
recreated by a late write.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import redis

from queues import keys
from queues.session import (
    F_CANCEL,
    F_EXPIRES,
    F_FINAL,
    F_STATUS,
    F_UPDATED,
    Session,
    SessionStatus,
    StageStatus,
    stage_progress_field,
    stage_status_field,
)

# KEYS[1] session hash. ARGV: field, value, ... Refused once ended or deleted.
_UPDATE_IF_LIVE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HEXISTS', KEYS[1], 'final') == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

# KEYS[1] session hash. ARGV: status field, progress field, now.
# Returns 'gone' (deleted or ended), 'cancel' (cancellation asked) or 'ok'.
_START_STAGE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'gone' end
if redis.call('HEXISTS', KEYS[1], 'final') == 1 then return 'gone' end
if redis.call('HGET', KEYS[1], 'cancel') == '1' then return 'cancel' end
redis.call('HSET', KEYS[1], ARGV[1], 'running', 'updated_at', ARGV[3])
redis.call('HSETNX', KEYS[1], ARGV[2], '0')
if redis.call('HGET', KEYS[1], 'status') == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'processing')
end
return 'ok'
"""

# KEYS[1] session hash. ARGV: now. Returns the status to report, or false if gone.
_REQUEST_CANCEL = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local final = redis.call('HGET', KEYS[1], 'final')
if final then return final end
redis.call('HSET', KEYS[1], 'cancel', '1', 'status', 'cancelling', 'updated_at', ARGV[1])
return 'cancelling'
"""

# KEYS[1] session hash, KEYS[2] expiry index, KEYS[3] active set.
# ARGV: status, key ttl, expires_at, session id, failed stage ('' for none),
#       number of stages n, n stage names, then field, value, ...
_FINISH_ONCE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HEXISTS', KEYS[1], 'final') == 1 then return 0 end
if ARGV[1] == 'completed' and redis.call('HGET', KEYS[1], 'cancel') == '1' then return 0 end
redis.call('HSET', KEYS[1], 'final', ARGV[1])
local n = tonumber(ARGV[6])
for i = 7, 6 + n do
  local field = 'stage:' .. ARGV[i] .. ':status'
  local current = redis.call('HGET', KEYS[1], field)
  if current ~= 'completed' and current ~= 'skipped' then
    if ARGV[i] == ARGV[5] then
      redis.call('HSET', KEYS[1], field, 'failed')
    else
      redis.call('HSET', KEYS[1], field, 'cancelled')
    end
  end
end
local fields = {}
for i = 7 + n, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('SREM', KEYS[3], ARGV[4])
return 1
"""


def _flat(fields: dict[str, str]) -> list[str]:
    return [x for kv in fields.items() for x in kv]


class SessionStore:
    def __init__(self, connection: redis.Redis, session_ttl: int, tombstone_ttl: int) -> None:
        self.redis = connection
        self.session_ttl = session_ttl
        self.tombstone_ttl = tombstone_ttl
        self._update_if_live = connection.register_script(_UPDATE_IF_LIVE)
        self._start_stage = connection.register_script(_START_STAGE)
        self._request_cancel = connection.register_script(_REQUEST_CANCEL)
        self._finish_once = connection.register_script(_FINISH_ONCE)

    def get(self, session_id: str) -> Session | None:
        return Session.from_hash(session_id, self.redis.hgetall(keys.session_key(session_id)))

    def create(self, session_id: str, fields: dict[str, str]) -> None:
        key = keys.session_key(session_id)
        pipe = self.redis.pipeline()
        pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
        pipe.expire(key, self.session_ttl + keys.KEY_TTL_MARGIN)
        pipe.zadd(keys.SESSIONS_BY_EXPIRY, {session_id: float(fields[F_EXPIRES])})
        pipe.sadd(keys.ACTIVE_SESSIONS, session_id)
        pipe.execute()

    def update(self, session_id: str, fields: dict[str, str]) -> bool:
        """HSET unless the session ended or was deleted (then False, nothing written)."""
        args = _flat({**fields, F_UPDATED: repr(time.time())})
        return bool(self._update_if_live(keys=[keys.session_key(session_id)], args=args))

    def set_stage(self, session_id: str, stage: str, status: StageStatus,
                  progress: int | None = None) -> bool:
        fields = {stage_status_field(stage): status.value}
        if progress is not None:
            fields[stage_progress_field(stage)] = str(progress)
        return self.update(session_id, fields)

    def start_stage(self, session_id: str, stage: str) -> str:
        """Mark ``stage`` running; 'ok', or 'cancel' / 'gone' when it must not run."""
        result = self._start_stage(
            keys=[keys.session_key(session_id)],
            args=[stage_status_field(stage), stage_progress_field(stage), repr(time.time())])
        return result.decode() if isinstance(result, bytes) else str(result)

    def request_cancel(self, session_id: str) -> SessionStatus | None:
        """Flag cancellation unless ended; the status to report (None: no such session)."""
        result = self._request_cancel(keys=[keys.session_key(session_id)],
                                      args=[repr(time.time())])
        if result is None:
            return None
        return SessionStatus(result.decode() if isinstance(result, bytes) else result)

    def cancel_requested(self, session_id: str) -> bool:
        """True once a stage must stop: cancelled, ended (a sibling failed) or deleted."""
        cancel, status, final = self.redis.hmget(keys.session_key(session_id),
                                                 [F_CANCEL, F_STATUS, F_FINAL])
        return status is None or final is not None or cancel in (b"1", "1")

    def finish(self, session_id: str, status: SessionStatus, stages: Sequence[str],
               failed_stage: str = "", extra: dict[str, str] | None = None) -> bool:
        """End the session once (first caller wins): unfinished stages become cancelled
        (``failed_stage`` failed). A completion loses to a pending cancellation."""
        now = time.time()
        expires = now + self.session_ttl
        fields = {F_STATUS: status.value, F_UPDATED: repr(now), F_EXPIRES: repr(expires),
                  **(extra or {})}
        won = self._finish_once(
            keys=[keys.session_key(session_id), keys.SESSIONS_BY_EXPIRY, keys.ACTIVE_SESSIONS],
            args=[status.value, self.session_ttl + keys.KEY_TTL_MARGIN, expires, session_id,
                  failed_stage, len(stages), *stages, *_flat(fields)])
        return bool(won)

    def delete(self, session_id: str) -> None:
        """Remove the hash and index entries, leave a tombstone for ``tombstone_ttl``."""
        pipe = self.redis.pipeline()
        pipe.delete(keys.session_key(session_id))
        pipe.zrem(keys.SESSIONS_BY_EXPIRY, session_id)
        pipe.srem(keys.ACTIVE_SESSIONS, session_id)
        pipe.set(keys.tombstone_key(session_id), "1", ex=self.tombstone_ttl)
        pipe.execute()

    def expired(self, now: float, limit: int = 100) -> list[str]:
        ids = self.redis.zrangebyscore(keys.SESSIONS_BY_EXPIRY, 0, now, start=0, num=limit)
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]

    def active(self) -> Iterator[str]:
        """Every session that has not ended yet (SSCAN: no size limit, no blocking)."""
        for raw in self.redis.sscan_iter(keys.ACTIVE_SESSIONS, count=500):
            yield raw.decode() if isinstance(raw, bytes) else str(raw)
