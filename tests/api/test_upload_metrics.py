"""The web's share of the metrics: bytes of upload bodies and uploads by outcome, counted
in Redis for the metrics port; the upload's log lines carry its session id."""

from __future__ import annotations

from pathlib import Path

import fakeredis
import pytest
from quart.typing import TestClientProtocol as QuartClient

import api.intake
from queues import keys
from queues.logs import current_scope
from tests.api.conftest import upload


async def test_upload_bytes_and_outcomes_are_counted(client: QuartClient, small_video: Path,
                                                     tmp_path: Path,
                                                     sync_client: fakeredis.FakeRedis) -> None:
    accepted = await upload(client, small_video, analysis="workout")
    assert accepted.status_code == 202
    counts = {k.decode(): int(v) for k, v in sync_client.hgetall(keys.METRICS_UPLOADS).items()}
    assert counts["accepted"] == 1 and "no_session" not in counts
    # the whole multipart body: the video and its boundaries and fields
    assert small_video.stat().st_size < counts["bytes"] < small_video.stat().st_size + 2048
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video" * 100)
    refused = await upload(client, bad)
    assert refused.status_code in (415, 422)
    counts = {k.decode(): int(v) for k, v in sync_client.hgetall(keys.METRICS_UPLOADS).items()}
    assert counts["no_session"] == 1 and counts["accepted"] == 1
    assert counts["bytes"] > small_video.stat().st_size + 1100


async def test_an_uploads_work_carries_its_session(client: QuartClient, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str | None, str | None]] = []
    original = api.intake.probe

    def probe(*args: object, **kwargs: object) -> object:
        seen.append(current_scope())  # inside asyncio.to_thread: the scope came along
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(api.intake, "probe", probe)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video" * 100)
    await upload(client, bad)
    assert len(seen) == 1 and seen[0][0] is not None and seen[0][1] is None
    assert current_scope() == (None, None)
