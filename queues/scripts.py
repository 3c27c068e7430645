"""The Lua scripts behind every session transition (one script, one atomic step).

Field names and statuses come from :mod:`queues.session` as the first ARGV entries
(``NAMES``, bound by ``PRELUDE``), so no script spells them; a script's own arguments
follow as ``A[i]``. :class:`queues.store.SessionStore` runs them.
"""

from __future__ import annotations

from queues.session import (
    CANCEL_FLAG,
    F_CANCEL,
    F_FINAL,
    F_STATUS,
    F_UPDATED,
    SessionStatus,
    StageStatus,
)

# Names the scripts read, passed in as ARGV[1..n]; a script's own arguments follow as A[i].
NAMES: dict[str, str] = {
    "F_STATUS": F_STATUS, "F_FINAL": F_FINAL, "F_CANCEL": F_CANCEL, "F_UPDATED": F_UPDATED,
    "CANCEL_FLAG": CANCEL_FLAG,
    "S_QUEUED": SessionStatus.QUEUED, "S_PROCESSING": SessionStatus.PROCESSING,
    "S_CANCELLING": SessionStatus.CANCELLING, "S_COMPLETED": SessionStatus.COMPLETED,
    "T_PENDING": StageStatus.PENDING, "T_RUNNING": StageStatus.RUNNING,
    "T_COMPLETED": StageStatus.COMPLETED, "T_SKIPPED": StageStatus.SKIPPED,
    "T_FAILED": StageStatus.FAILED, "T_CANCELLED": StageStatus.CANCELLED,
}
PRELUDE = f"""
local {", ".join(NAMES)} = unpack(ARGV, 1, {len(NAMES)})
local A = {{}}
for i = {len(NAMES) + 1}, #ARGV do A[#A + 1] = ARGV[i] end
local function live(key)
  return redis.call('EXISTS', key) == 1 and redis.call('HEXISTS', key, F_FINAL) == 0
end
local function done(status) return status == T_COMPLETED or status == T_SKIPPED end
"""

# KEYS[1] session hash. A: field, value, ... Refused once ended or deleted.
UPDATE_IF_LIVE = """
if not live(KEYS[1]) then return 0 end
redis.call('HSET', KEYS[1], unpack(A))
return 1
"""

# KEYS[1] session hash, KEYS[2] leases. A: status f, progress f, token f, owner f,
# attempts f, losses f, token, owner, now, lease expiry, lease member, then the status
# fields of the stages this one reads from.
# Returns {verdict, previous token}: ok, gone, cancel, done (already completed or
# skipped), busy (another attempt holds a live lease), blocked (an input is not ready).
START_STAGE = """
if not live(KEYS[1]) then return {'gone', ''} end
if redis.call('HGET', KEYS[1], F_CANCEL) == CANCEL_FLAG then return {'cancel', ''} end
local status = redis.call('HGET', KEYS[1], A[1])
if done(status) then return {'done', ''} end
for i = 12, #A do
  if not done(redis.call('HGET', KEYS[1], A[i])) then return {'blocked', ''} end
end
if status == T_RUNNING then
  local expiry = redis.call('ZSCORE', KEYS[2], A[11])
  if expiry and tonumber(expiry) > tonumber(A[9]) then return {'busy', ''} end
  redis.call('HINCRBY', KEYS[1], A[6], 1)  -- the holder went silent: its attempt is lost
end
local previous = redis.call('HGET', KEYS[1], A[3]) or ''
redis.call('HSET', KEYS[1], A[1], T_RUNNING, A[3], A[7], A[4], A[8], F_UPDATED, A[9])
redis.call('HSETNX', KEYS[1], A[2], '0')
redis.call('HINCRBY', KEYS[1], A[5], 1)
if redis.call('HGET', KEYS[1], F_STATUS) == S_QUEUED then
  redis.call('HSET', KEYS[1], F_STATUS, S_PROCESSING)
end
redis.call('ZADD', KEYS[2], A[10], A[11])
return {'ok', previous}
"""

# KEYS[1] session hash. A: status f, token f, token.
# Returns ok, cancel (asked, or the session ended or went), stale (superseded attempt).
CHECK = """
if not live(KEYS[1]) then return 'cancel' end
if redis.call('HGET', KEYS[1], A[2]) ~= A[3] then return 'stale' end
if redis.call('HGET', KEYS[1], A[1]) ~= T_RUNNING then return 'stale' end
if redis.call('HGET', KEYS[1], F_CANCEL) == CANCEL_FLAG then return 'cancel' end
return 'ok'
"""

# KEYS[1] session hash. A: status f, progress f, token f, token, percent, now.
# Progress only rises, and only the current running attempt writes it.
PROGRESS = """
if not live(KEYS[1]) then return 0 end
if redis.call('HGET', KEYS[1], A[3]) ~= A[4] then return 0 end
if redis.call('HGET', KEYS[1], A[1]) ~= T_RUNNING then return 0 end
local current = tonumber(redis.call('HGET', KEYS[1], A[2]) or '0')
if tonumber(A[5]) > current then
  redis.call('HSET', KEYS[1], A[2], A[5], F_UPDATED, A[6])
end
return 1
"""

# KEYS[1] session hash, KEYS[2] leases. A: status f, token f, token, lease expiry, member.
RENEW = """
if not live(KEYS[1]) then return 0 end
if redis.call('HGET', KEYS[1], A[2]) ~= A[3] then return 0 end
if redis.call('HGET', KEYS[1], A[1]) ~= T_RUNNING then return 0 end
redis.call('ZADD', KEYS[2], A[4], A[5])
return 1
"""

# KEYS[1] session hash, KEYS[2] leases. A: status f, progress f, token f, token, now,
# member, final status ('completed', 'skipped' or 'pending' to hand the stage back),
# then the status fields of every stage.
# Returns last (every stage is done now), ok, or stale / gone (nothing written).
END_ATTEMPT = """
if not live(KEYS[1]) then return 'gone' end
if redis.call('HGET', KEYS[1], A[3]) ~= A[4] then return 'stale' end
if redis.call('HGET', KEYS[1], A[1]) ~= T_RUNNING then return 'stale' end
redis.call('HSET', KEYS[1], A[1], A[7], F_UPDATED, A[5])
if A[7] == T_COMPLETED then redis.call('HSET', KEYS[1], A[2], '100') end
redis.call('ZREM', KEYS[2], A[6])
for i = 8, #A do
  if not done(redis.call('HGET', KEYS[1], A[i])) then return 'ok' end
end
return 'last'
"""

# KEYS[1] session hash, KEYS[2] leases. A: status f, owner f, losses f, loss f, member,
# now, cause, counted ('1' or '0'), max losses, owner ('' = any holder whose lease ran out).
# Hands a running stage whose attempt died back to 'pending'. Returns retry, exhausted
# (that was the last allowed loss), or idle / alive / gone (nothing to reclaim).
RECLAIM = """
if not live(KEYS[1]) then redis.call('ZREM', KEYS[2], A[5]) return 'gone' end
if redis.call('HGET', KEYS[1], A[1]) ~= T_RUNNING then
  redis.call('ZREM', KEYS[2], A[5]) return 'idle'
end
if A[10] ~= '' then
  if redis.call('HGET', KEYS[1], A[2]) ~= A[10] then return 'alive' end
else
  local expiry = redis.call('ZSCORE', KEYS[2], A[5])
  if expiry and tonumber(expiry) > tonumber(A[6]) then return 'alive' end
end
local losses = tonumber(redis.call('HGET', KEYS[1], A[3]) or '0')
if A[8] == '1' then
  losses = redis.call('HINCRBY', KEYS[1], A[3], 1)
  redis.call('HSET', KEYS[1], A[4], A[7])
end
redis.call('HSET', KEYS[1], A[1], T_PENDING, F_UPDATED, A[6])
redis.call('ZREM', KEYS[2], A[5])
if losses >= tonumber(A[9]) then return 'exhausted' end
return 'retry'
"""

# KEYS[1] session hash. A: now. Returns the status to report, or false if gone.
REQUEST_CANCEL = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local final = redis.call('HGET', KEYS[1], F_FINAL)
if final then return final end
redis.call('HSET', KEYS[1], F_CANCEL, CANCEL_FLAG, F_STATUS, S_CANCELLING, F_UPDATED, A[1])
return S_CANCELLING
"""

# KEYS[1] session hash, KEYS[2] expiry index, KEYS[3] active set, KEYS[4] leases.
# A: status, key ttl, expires_at, session id, failed stage ('' for none),
#    number of stages n, n stage status fields, n lease members, then field, value, ...
FINISH_ONCE = """
if not live(KEYS[1]) then return 0 end
if A[1] == S_COMPLETED and redis.call('HGET', KEYS[1], F_CANCEL) == CANCEL_FLAG then
  return 0
end
redis.call('HSET', KEYS[1], F_FINAL, A[1])
local n = tonumber(A[6])
for i = 7, 6 + n do
  if not done(redis.call('HGET', KEYS[1], A[i])) then
    if A[i] == A[5] then
      redis.call('HSET', KEYS[1], A[i], T_FAILED)
    else
      redis.call('HSET', KEYS[1], A[i], T_CANCELLED)
    end
  end
  redis.call('ZREM', KEYS[4], A[i + n])
end
local fields = {}
for i = 7 + 2 * n, #A do fields[#fields + 1] = A[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('EXPIRE', KEYS[1], A[2])
redis.call('ZADD', KEYS[2], A[3], A[4])
redis.call('SREM', KEYS[3], A[4])
return 1
"""
