"""Fair scheduling: N sessions uploaded at once on two workers, with the service's default
(a started session's later stages go to the queue's front) and with plain FIFO."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.perf.stack import Stack


def burst(stack: Stack, video: Path, sessions: int, fair: bool) -> dict[str, float]:
    """Upload ``sessions`` clips at once (analysis=all); each session's turnaround is from
    the burst's start to its completion."""
    stack.restart_web(FAIR_SCHEDULING="true" if fair else "false")
    started = time.perf_counter()
    with ThreadPoolExecutor(sessions) as pool:
        sids = list(pool.map(lambda _: stack.upload(video, analysis="all"), range(sessions)))
    done: dict[str, float] = {}
    while len(done) < len(sids):
        for sid in sids:
            if sid in done:
                continue
            status = stack.status(sid)["status"]
            if status != "queued" and status != "processing":
                assert status == "completed", status
                done[sid] = time.perf_counter() - started
        time.sleep(0.05)
    for sid in sids:
        stack.client.delete(f"/api/v1/video/cleanup/{sid}")
    times = sorted(done.values())
    return {"first": times[0], "last": times[-1], "mean": statistics.mean(times),
            "first_over_last": times[0] / times[-1]}
