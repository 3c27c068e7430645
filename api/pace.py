"""How fast an upload body must arrive: an overall deadline and a minimum rate.

The idle timeout alone restarts on every byte, so a client sending one byte a second
would hold a connection and a growing temp file for ever (slowloris). Here every window
(UPLOAD_IDLE_TIMEOUT seconds, the time an upload may send nothing at all) must bring
UPLOAD_MIN_RATE x window bytes, and the whole body must arrive within UPLOAD_DEADLINE.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from api.errors import RequestTimeout, UploadTooSlow
from queues.settings import Settings

SAMPLE_SECONDS = 1.0  # at most one rate sample a second: the history stays ~window long


@dataclass(frozen=True)
class UploadLimits:
    """What one upload body must respect while it streams in."""

    max_bytes: int  # the video part
    idle_timeout: float  # seconds without a byte; also the window of the rate check
    deadline: float  # seconds for the whole body
    min_rate: int  # bytes/s over each window; 0: no rate check

    @classmethod
    def from_settings(cls, settings: Settings) -> UploadLimits:
        return cls(settings.max_upload_bytes, settings.upload_idle_timeout,
                   settings.upload_deadline, settings.upload_min_rate)


class UploadPace:
    """Watches one upload body; raises a 408 error as soon as it is too slow."""

    def __init__(self, limits: UploadLimits, clock: Callable[[], float] = time.monotonic):
        self.limits = limits
        self._clock = clock
        self._start = clock()
        self._total = 0
        self._samples = deque([(self._start, 0)])  # (time, bytes so far), oldest first

    def wait_budget(self) -> float:
        """How long to wait for the next chunk: the idle timeout or what the deadline leaves."""
        return max(0.0, min(self.limits.idle_timeout,
                            self._start + self.limits.deadline - self._clock()))

    def nothing_arrived(self) -> RequestTimeout:
        """The error for a wait that ran out: the deadline's, or the idle timeout's."""
        if self._clock() - self._start >= self.limits.deadline:
            return self._past_deadline()
        return RequestTimeout(f"Nothing was received for {self.limits.idle_timeout:g} s; the "
                              "upload was abandoned. Please try again.")

    def received(self, size: int) -> None:
        now = self._clock()
        self._total += size
        if now - self._start >= self.limits.deadline:
            raise self._past_deadline()
        if now - self._samples[-1][0] >= SAMPLE_SECONDS:
            self._samples.append((now, self._total))
        window = self.limits.idle_timeout
        while len(self._samples) > 1 and self._samples[1][0] <= now - window:
            self._samples.popleft()  # keep the newest sample at least a window old
        since, before = self._samples[0]
        if now - since >= window and self._total - before < self.limits.min_rate * (now - since):
            rate = (self._total - before) / (now - since)
            raise UploadTooSlow(
                f"The upload arrived at {rate:.0f} bytes/s over the last {window:g} s; "
                f"at least {self.limits.min_rate} bytes/s is needed. Please retry on a "
                "faster connection.")

    def _past_deadline(self) -> UploadTooSlow:
        return UploadTooSlow(f"The upload did not finish within {self.limits.deadline:g} s. "
                             "Please retry on a faster connection or send a shorter video.")
