"""Reads and atomic writes of session hashes (worker side, and the API through threads).

Every transition is one Lua script, so the web process (cancel, cleanup), workers (stage
attempts) and the repairer can never interleave into a wrong state: once a session has
ended (its ``final`` field is set) nothing but deletion touches it, a deleted one is never
recreated by a late write, and only the current attempt of a stage (its token) may write
that stage's progress or status. Field names and statuses come from :mod:`queues.session`
as the first ARGV entries (see ``queues.scripts``); no script spells them. A transition
that changes what GET /status shows also appends an event to the session's stream in the
same script (``queues.events``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import redis

from queues import events, keys, metrics, scripts
from queues.session import (
    F_ANALYSIS,
    F_EXPIRES,
    F_STATUS,
    F_UPDATED,
    LossCause,
    Session,
    SessionStatus,
    StagePart,
    StageStatus,
    lease_member,
    parse_lease_member,
    stage_field,
)


def _flat(fields: dict[str, str]) -> list[str]:
    return [x for kv in fields.items() for x in kv]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class SessionStore:
    def __init__(self, connection: redis.Redis, session_ttl: int, tombstone_ttl: int,
                 on_finish: Callable[[str], None] | None = None) -> None:
        self.redis = connection
        self.session_ttl = session_ttl
        self.tombstone_ttl = tombstone_ttl
        self.on_finish = on_finish  # called with the id of each session this store ended
        self._scripts = {name: connection.register_script(scripts.PRELUDE + body)
                         for name, body in (
            ("update", scripts.UPDATE_IF_LIVE), ("start", scripts.START_STAGE),
            ("check", scripts.CHECK), ("progress", scripts.PROGRESS), ("renew", scripts.RENEW),
            ("end", scripts.END_ATTEMPT), ("reclaim", scripts.RECLAIM),
            ("cancel", scripts.REQUEST_CANCEL), ("finish", scripts.FINISH_ONCE))}

    def _run(self, script: str, keys_: Sequence[str], args: Sequence[str | int | float]) -> Any:
        return self._scripts[script](keys=list(keys_), args=[*scripts.NAMES.values(), *args])

    def get(self, session_id: str) -> Session | None:
        return Session.from_hash(session_id, self.redis.hgetall(keys.session_key(session_id)))

    def create(self, session_id: str, fields: dict[str, str]) -> None:
        key = keys.session_key(session_id)
        pipe = self.redis.pipeline()
        pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
        pipe.expire(key, self.session_ttl + keys.KEY_TTL_MARGIN)
        pipe.zadd(keys.SESSIONS_BY_EXPIRY, {session_id: float(fields[F_EXPIRES])})
        pipe.sadd(keys.ACTIVE_SESSIONS, session_id)
        events.add_first_event(pipe, session_id, fields, self.session_ttl + keys.KEY_TTL_MARGIN)
        metrics.count_created(pipe, fields.get(F_ANALYSIS, ""))
        pipe.execute()

    def update(self, session_id: str, fields: dict[str, str]) -> bool:
        """HSET unless the session ended or was deleted (then False, nothing written)."""
        args = _flat({**fields, F_UPDATED: repr(time.time())})
        return bool(self._run("update", [keys.session_key(session_id),
                                         keys.events_key(session_id)], args))

    # --- one attempt of one stage -------------------------------------------------------

    def start_stage(self, session_id: str, stage: str, token: str, owner: str,
                    lease_seconds: float, after: Sequence[str] = ()) -> tuple[str, str]:
        """Begin an attempt: ('ok', previous token), or a verdict saying why it must not run
        ('gone', 'cancel', 'done', 'busy', 'blocked')."""
        now = time.time()
        f = _stage_fields(stage)
        reply = self._run("start", [keys.session_key(session_id), keys.LEASES,
                                    keys.events_key(session_id)], [
            f[StagePart.STATUS], f[StagePart.PROGRESS], f[StagePart.TOKEN], f[StagePart.OWNER],
            f[StagePart.ATTEMPTS], f[StagePart.LOSSES], token, owner, repr(now),
            repr(now + lease_seconds), lease_member(session_id, stage),
            *(stage_field(name, StagePart.STATUS) for name in after)])
        return _text(reply[0]), _text(reply[1])

    def check(self, session_id: str, stage: str, token: str) -> str:
        """'ok' to go on; 'cancel' (asked, ended or deleted) or 'stale' (superseded)."""
        return _text(self._run("check", [keys.session_key(session_id)], [
            stage_field(stage, StagePart.STATUS), stage_field(stage, StagePart.TOKEN), token]))

    def progress(self, session_id: str, stage: str, token: str, percent: int) -> bool:
        f = _stage_fields(stage)
        return bool(self._run("progress", [keys.session_key(session_id),
                                           keys.events_key(session_id)], [
            f[StagePart.STATUS], f[StagePart.PROGRESS], f[StagePart.TOKEN], token, percent,
            repr(time.time())]))

    def renew(self, session_id: str, stage: str, token: str, lease_seconds: float) -> bool:
        """Extend the attempt's lease; False once it is not the current attempt any more."""
        return bool(self._run("renew", [keys.session_key(session_id), keys.LEASES], [
            stage_field(stage, StagePart.STATUS), stage_field(stage, StagePart.TOKEN), token,
            repr(time.time() + lease_seconds), lease_member(session_id, stage)]))

    def end_attempt(self, session_id: str, stage: str, token: str, status: StageStatus,
                    stages: Sequence[str]) -> str:
        """End the current attempt as COMPLETED or SKIPPED (or PENDING: hand it back after
        a graceful interruption). 'last' when every stage is done now, 'ok', or 'stale' /
        'gone' when this attempt may no longer write."""
        f = _stage_fields(stage)
        return _text(self._run("end", [keys.session_key(session_id), keys.LEASES,
                                       keys.events_key(session_id)], [
            f[StagePart.STATUS], f[StagePart.PROGRESS], f[StagePart.TOKEN], token,
            repr(time.time()), lease_member(session_id, stage), status.value,
            *(stage_field(name, StagePart.STATUS) for name in stages)]))

    def reclaim(self, session_id: str, stage: str, cause: LossCause, max_losses: int,
                owner: str = "") -> str:
        """Hand back a stage whose attempt died: with ``owner``, the one that worker ran;
        without, one whose lease ran out. 'retry', 'exhausted', or 'idle'/'alive'/'gone'."""
        f = _stage_fields(stage)
        counted = "0" if cause is LossCause.INTERRUPTED else "1"
        verdict = _text(self._run("reclaim", [keys.session_key(session_id), keys.LEASES,
                                              keys.events_key(session_id)], [
            f[StagePart.STATUS], f[StagePart.OWNER], f[StagePart.LOSSES], f[StagePart.LOSS],
            lease_member(session_id, stage), repr(time.time()), cause.value, counted,
            max_losses, owner]))
        if verdict == "retry":  # the script answers it once per lost attempt
            metrics.count_retry(self.redis, stage, cause.value)
        return verdict

    def expired_leases(self, now: float, limit: int = 100) -> list[tuple[str, str]]:
        """(session id, stage) of running stages whose lease ran out."""
        members = self.redis.zrangebyscore(keys.LEASES, "-inf", now, start=0, num=limit)
        return [parse_lease_member(_text(m)) for m in members]

    def leased(self, session_id: str, stages: Sequence[str], now: float) -> list[str]:
        """The stages of the session whose attempt holds a live lease."""
        scores = self.redis.zmscore(keys.LEASES, [lease_member(session_id, s) for s in stages])
        return [s for s, score in zip(stages, scores, strict=True)
                if score is not None and score > now]

    # --- the session as a whole ------------------------------------------------------------

    def request_cancel(self, session_id: str) -> SessionStatus | None:
        """Flag cancellation unless ended; the status to report (None: no such session)."""
        result = self._run("cancel", [keys.session_key(session_id),
                                      keys.events_key(session_id)], [repr(time.time())])
        return None if result is None else SessionStatus(_text(result))

    def finish(self, session_id: str, status: SessionStatus, stages: Sequence[str],
               failed_stage: str = "", extra: dict[str, str] | None = None) -> bool:
        """End the session once (first caller wins): unfinished stages become cancelled
        (``failed_stage`` failed). A completion loses to a pending cancellation."""
        now = time.time()
        expires = now + self.session_ttl
        fields = {F_STATUS: status.value, F_UPDATED: repr(now), F_EXPIRES: repr(expires),
                  **(extra or {})}
        won = self._run("finish", [keys.session_key(session_id), keys.SESSIONS_BY_EXPIRY,
                                   keys.ACTIVE_SESSIONS, keys.LEASES,
                                   keys.events_key(session_id), keys.WEBHOOK_OUTBOX,
                                   keys.METRICS_SESSIONS], [
            status.value, self.session_ttl + keys.KEY_TTL_MARGIN, expires, session_id,
            stage_field(failed_stage, StagePart.STATUS) if failed_stage else "", len(stages),
            *(stage_field(s, StagePart.STATUS) for s in stages),
            *(lease_member(session_id, s) for s in stages), *_flat(fields)])
        if won and self.on_finish is not None:
            self.on_finish(session_id)
        return bool(won)

    def delete(self, session_id: str, stages: Sequence[str] = ()) -> None:
        """Remove the hash, its events and index entries, leave a tombstone for
        ``tombstone_ttl``."""
        pipe = self.redis.pipeline()
        pipe.delete(keys.session_key(session_id), keys.events_key(session_id))
        pipe.zrem(keys.SESSIONS_BY_EXPIRY, session_id)
        pipe.srem(keys.ACTIVE_SESSIONS, session_id)
        pipe.delete(keys.webhook_key(session_id))  # its webhook's record; a pending one stops
        pipe.zrem(keys.WEBHOOK_OUTBOX, session_id)
        if stages:
            pipe.zrem(keys.LEASES, *(lease_member(session_id, s) for s in stages))
        pipe.set(keys.tombstone_key(session_id), "1", ex=self.tombstone_ttl)
        pipe.execute()

    def expired(self, now: float, limit: int = 100) -> list[str]:
        ids = self.redis.zrangebyscore(keys.SESSIONS_BY_EXPIRY, 0, now, start=0, num=limit)
        return [_text(i) for i in ids]

    def active(self) -> Iterator[str]:
        """Every session that has not ended yet (SSCAN: no size limit, no blocking)."""
        for raw in self.redis.sscan_iter(keys.ACTIVE_SESSIONS, count=500):
            yield _text(raw)


def _stage_fields(stage: str) -> dict[StagePart, str]:
    return {part: stage_field(stage, part) for part in StagePart}
