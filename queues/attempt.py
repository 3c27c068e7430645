"""One attempt of one stage: its token, its lease, and the stop check its progress calls make.

The lease is renewed by a thread every quarter of ``lease_seconds``, so a stage busy in a
long native call (a decode, an encode) keeps it; a process that is killed, paused or cut
off loses it, and the repairer hands the stage to another worker. The token fences the
attempt: once superseded it can write nothing into the session (see ``queues.store``).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Sequence

import redis

from queues.session import StageStatus
from queues.store import SessionStore
from stages.errors import StageCancelled, StageInterrupted, StageSuperseded

log = logging.getLogger(__name__)

# Set in a work horse when its process is asked to stop (SIGTERM): the running attempt
# stops at its next progress call and hands its stage back, to run again elsewhere.
SHUTDOWN = threading.Event()


class Attempt:
    def __init__(self, store: SessionStore, session_id: str, stage: str, owner: str,
                 lease_seconds: float) -> None:
        self.store = store
        self.session_id = session_id
        self.stage = stage
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.token = f"{stage}-{secrets.token_hex(8)}"
        self._superseded = threading.Event()
        self._closed = threading.Event()
        self._keeper: threading.Thread | None = None

    def start(self, after: Sequence[str]) -> tuple[str, str]:
        """Claim the stage; ('ok', previous token) starts the lease, else the verdict."""
        verdict, previous = self.store.start_stage(self.session_id, self.stage, self.token,
                                                   self.owner, self.lease_seconds, after)
        if verdict == "ok":
            self._keeper = threading.Thread(target=self._keep_lease, daemon=True,
                                            name=f"lease-{self.stage}")
            self._keeper.start()
        return verdict, previous

    def _keep_lease(self) -> None:
        while not self._closed.wait(self.lease_seconds / 4):
            try:
                if not self.store.renew(self.session_id, self.stage, self.token,
                                        self.lease_seconds):
                    self._superseded.set()  # ended, handed back, or taken over
                    return
            except redis.RedisError as error:  # keep trying: Redis may come back in time
                log.warning("lease of %s/%s not renewed: %r", self.session_id, self.stage, error)

    def raise_if_stopped(self, ask_redis: bool) -> None:
        """Raise the StageStopped that applies; ``ask_redis`` also reads the session."""
        if SHUTDOWN.is_set():
            raise StageInterrupted(self.session_id)
        if self._superseded.is_set():
            raise StageSuperseded(self.session_id)
        if not ask_redis:
            return
        try:
            verdict = self.store.check(self.session_id, self.stage, self.token)
        except redis.RedisError:
            return  # cannot tell now; the stage goes on and asks again
        if verdict == "cancel":
            raise StageCancelled(self.session_id)
        if verdict == "stale":
            raise StageSuperseded(self.session_id)

    def report(self, percent: int) -> None:
        try:
            self.store.progress(self.session_id, self.stage, self.token, percent)
        except redis.RedisError as error:
            log.warning("progress of %s/%s not written: %r", self.session_id, self.stage, error)

    def end(self, status: StageStatus, stages: Sequence[str]) -> str:
        """End the attempt (see ``SessionStore.end_attempt``), then stop renewing its lease
        (kept until then, so a slow Redis does not lose a finished stage)."""
        try:
            return self.store.end_attempt(self.session_id, self.stage, self.token, status,
                                          stages)
        finally:
            self.close()

    def close(self) -> None:
        self._closed.set()
        if self._keeper is not None and self._keeper is not threading.current_thread():
            self._keeper.join(timeout=1)
