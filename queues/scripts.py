"""The Lua scripts behind every session transition (one script, one atomic step).

Field names and statuses come from :mod:`queues.session` as the first ARGV entries
(``NAMES``, bound by ``PRELUDE``), so no script spells them; a script's own arguments
follow as ``A[i]``. :class:`queues.store.SessionStore` runs them.
"""

from __future__ import annotations

from queues import keys, metrics
from queues.events import HASH_FIELD, TYPE_FIELD, EventType
from queues.session import (
    CANCEL_FLAG,
    F_ANALYSIS,
    F_CALLBACK,
    F_CANCEL,
    F_CREATED,
    F_ERROR,
    F_EXPIRES,
    F_FINAL,
    F_STAGES,
    F_STATUS,
    F_UPDATED,
    SessionStatus,
    StagePart,
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
    # events (queues.events): what a script appends to the session's stream
    "F_ERROR": F_ERROR, "F_ANALYSIS": F_ANALYSIS, "F_STAGES": F_STAGES,
    "F_CREATED": F_CREATED, "F_EXPIRES": F_EXPIRES, "P_STATUS": StagePart.STATUS,
    "P_PROGRESS": StagePart.PROGRESS, "P_ATTEMPTS": StagePart.ATTEMPTS,
    "E_TYPE": TYPE_FIELD, "E_HASH": HASH_FIELD,
    "E_MAXLEN": str(keys.EVENTS_MAXLEN), "E_KEPT_AFTER_END": str(keys.EVENTS_KEPT_AFTER_END),
    "K_STATUS": EventType.STATUS,
    "K_STAGE": EventType.STAGE, "K_PROGRESS": EventType.PROGRESS,
    # webhooks (queues.webhooks): a session with a callback enters the outbox as it ends
    "F_CALLBACK": F_CALLBACK,
    # metrics (queues.metrics): an ended session counts once, as it ends
    "M_SEP": metrics.FIELD_SEP,
}
PRELUDE = f"""
local {", ".join(NAMES)} = unpack(ARGV, 1, {len(NAMES)})
local A = {{}}
for i = {len(NAMES) + 1}, #ARGV do A[#A + 1] = ARGV[i] end
local function live(key)
  return redis.call('EXISTS', key) == 1 and redis.call('HEXISTS', key, F_FINAL) == 0
end
local function done(status) return status == T_COMPLETED or status == T_SKIPPED end
local function ends(s, suffix) return string.sub(s, -#suffix) == suffix end
-- The fields GET /status shows (queues.events.shown): all an event's snapshot keeps.
local function shown(field)
  return field == F_STATUS or field == F_ANALYSIS or field == F_STAGES or field == F_ERROR
    or field == F_CREATED or field == F_UPDATED or field == F_EXPIRES
    or ends(field, ':' .. P_STATUS) or ends(field, ':' .. P_PROGRESS)
    or ends(field, ':' .. P_ATTEMPTS)
end
-- Append an event of type kind (nil: nothing visible changed) with what GET /status shows
-- of the hash now to the stream events, which lives exactly as long as the hash.
local function emit(key, events, kind)
  if not kind then return end
  local all, snapshot = redis.call('HGETALL', key), {{}}
  for i = 1, #all, 2 do
    if shown(all[i]) then
      snapshot[#snapshot + 1] = all[i]
      snapshot[#snapshot + 1] = all[i + 1]
    end
  end
  redis.call('XADD', events, 'MAXLEN', '~', E_MAXLEN, '*', E_TYPE, kind,
             E_HASH, cjson.encode(snapshot))
  local ttl = redis.call('PTTL', key)
  if ttl > 0 then redis.call('PEXPIRE', events, ttl) end
end
"""

# KEYS[1] session hash, KEYS[2] its events. A: field, value, ... Refused once ended or
# deleted. An event only when a field GET /status shows changes (the strongest kind).
UPDATE_IF_LIVE = """
if not live(KEYS[1]) then return 0 end
local rank = {[K_PROGRESS] = 1, [K_STAGE] = 2, [K_STATUS] = 3}
local function kind_of(field)
  if field == F_STATUS or field == F_ERROR then return K_STATUS end
  if ends(field, ':' .. P_STATUS) or ends(field, ':' .. P_ATTEMPTS) then return K_STAGE end
  if ends(field, ':' .. P_PROGRESS) then return K_PROGRESS end
  return nil
end
local kind = nil
for i = 1, #A, 2 do
  local k = kind_of(A[i])
  if k and redis.call('HGET', KEYS[1], A[i]) ~= A[i + 1]
      and (kind == nil or rank[k] > rank[kind]) then
    kind = k
  end
end
redis.call('HSET', KEYS[1], unpack(A))
emit(KEYS[1], KEYS[2], kind)
return 1
"""

# KEYS[1] session hash, KEYS[2] leases, KEYS[3] events. A: status f, progress f, token f,
# owner f, attempts f, losses f, token, owner, now, lease expiry, lease member, then the
# status fields of the stages this one reads from.
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
local kind = K_STAGE
if redis.call('HGET', KEYS[1], F_STATUS) == S_QUEUED then
  redis.call('HSET', KEYS[1], F_STATUS, S_PROCESSING)
  kind = K_STATUS
end
redis.call('ZADD', KEYS[2], A[10], A[11])
emit(KEYS[1], KEYS[3], kind)
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

# KEYS[1] session hash, KEYS[2] events. A: status f, progress f, token f, token, percent,
# now. Progress only rises, and only the current running attempt writes it.
PROGRESS = """
if not live(KEYS[1]) then return 0 end
if redis.call('HGET', KEYS[1], A[3]) ~= A[4] then return 0 end
if redis.call('HGET', KEYS[1], A[1]) ~= T_RUNNING then return 0 end
local current = tonumber(redis.call('HGET', KEYS[1], A[2]) or '0')
if tonumber(A[5]) > current then
  redis.call('HSET', KEYS[1], A[2], A[5], F_UPDATED, A[6])
  emit(KEYS[1], KEYS[2], K_PROGRESS)
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

# KEYS[1] session hash, KEYS[2] leases, KEYS[3] events. A: status f, progress f, token f,
# token, now, member, final status ('completed', 'skipped' or 'pending' to hand the stage back),
# then the status fields of every stage.
# Returns last (every stage is done now), ok, or stale / gone (nothing written).
END_ATTEMPT = """
if not live(KEYS[1]) then return 'gone' end
if redis.call('HGET', KEYS[1], A[3]) ~= A[4] then return 'stale' end
if redis.call('HGET', KEYS[1], A[1]) ~= T_RUNNING then return 'stale' end
redis.call('HSET', KEYS[1], A[1], A[7], F_UPDATED, A[5])
if A[7] == T_COMPLETED then redis.call('HSET', KEYS[1], A[2], '100') end
redis.call('ZREM', KEYS[2], A[6])
emit(KEYS[1], KEYS[3], K_STAGE)
for i = 8, #A do
  if not done(redis.call('HGET', KEYS[1], A[i])) then return 'ok' end
end
return 'last'
"""

# KEYS[1] session hash, KEYS[2] leases, KEYS[3] events. A: status f, owner f, losses f,
# loss f, member, now, cause, counted ('1' or '0'), max losses, owner ('' = any holder
# whose lease ran out).
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
emit(KEYS[1], KEYS[3], K_STAGE)
if losses >= tonumber(A[9]) then return 'exhausted' end
return 'retry'
"""

# KEYS[1] session hash, KEYS[2] events. A: now. Returns the status to report, or false
# if gone.
REQUEST_CANCEL = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local final = redis.call('HGET', KEYS[1], F_FINAL)
if final then return final end
local before = redis.call('HGET', KEYS[1], F_STATUS)
redis.call('HSET', KEYS[1], F_CANCEL, CANCEL_FLAG, F_STATUS, S_CANCELLING, F_UPDATED, A[1])
if before ~= S_CANCELLING then emit(KEYS[1], KEYS[2], K_STATUS) end
return S_CANCELLING
"""

# KEYS[1] session hash, KEYS[2] expiry index, KEYS[3] active set, KEYS[4] leases,
# KEYS[5] events (gets the terminal status event and the hash's new TTL),
# KEYS[6] webhook outbox (gets the session if it has a callback: its webhook is due now),
# KEYS[7] sessions' counters (queues.metrics: "<status>:<analysis>" gets one more).
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
emit(KEYS[1], KEYS[5], K_STATUS)
-- Every event is a whole snapshot: a client reconnecting after the end needs the last
-- ones, not the 200 progress steps, which would sit in Redis until the session expires.
redis.call('XTRIM', KEYS[5], 'MAXLEN', E_KEPT_AFTER_END)
if redis.call('HEXISTS', KEYS[1], F_CALLBACK) == 1 then
  redis.call('ZADD', KEYS[6], redis.call('HGET', KEYS[1], F_UPDATED), A[4])
end
local analysis = redis.call('HGET', KEYS[1], F_ANALYSIS) or ''
redis.call('HINCRBY', KEYS[7], A[1] .. M_SEP .. analysis, 1)
return 1
"""
