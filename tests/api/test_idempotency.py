"""Idempotency-Key on POST /api/v1/video/upload: a retried upload returns the first session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from quart.testing import QuartClient

from api.idempotency import IdempotencySlot
from queues import keys
from queues.settings import Settings
from tests.api.conftest import video_file
from tests.api.test_upload import assert_problem, workspaces

UPLOAD = "/api/v1/video/upload"


async def keyed_upload(client: QuartClient, path: Path, key: str, **form: str) -> Any:
    return await client.post(UPLOAD, form=form, files={"file": video_file(path)},
                             headers={"Idempotency-Key": key})


def session_count(sync_client: fakeredis.FakeRedis) -> int:
    return int(sync_client.zcard(keys.SESSIONS_BY_EXPIRY))


def workspace_names(settings: Settings) -> list[str]:
    return [path.name for path in workspaces(settings)]


async def problem_code(response: Any, status: int) -> str:
    return str((await assert_problem(response, status))["code"])


async def test_retry_with_the_same_key_returns_the_first_session(
        client: QuartClient, small_video: Path, sync_client: fakeredis.FakeRedis,
        settings: Settings) -> None:
    first = await keyed_upload(client, small_video, "retry-1", analysis="all")
    again = await keyed_upload(client, small_video, "retry-1", analysis="all")
    assert first.status_code == again.status_code == 202
    assert await again.get_json() == await first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert session_count(sync_client) == 1
    sid = (await first.get_json())["session_id"]
    assert workspace_names(settings) == [sid]  # the retry's bytes were not kept


async def test_other_keys_and_no_key_make_new_sessions(
        client: QuartClient, small_video: Path, sync_client: fakeredis.FakeRedis) -> None:
    ids = {(await (await keyed_upload(client, small_video, key)).get_json())["session_id"]
           for key in ("a", "b")}
    plain = await client.post(UPLOAD, files={"file": video_file(small_video)})
    ids.add((await plain.get_json())["session_id"])
    assert len(ids) == 3 and session_count(sync_client) == 3


@pytest.mark.parametrize("change", ["file", "options"])
async def test_same_key_for_another_upload_is_refused(
        client: QuartClient, small_video: Path, video_factory: Callable[..., Path],
        sync_client: fakeredis.FakeRedis, settings: Settings, change: str) -> None:
    first = await keyed_upload(client, small_video, "k", analysis="highlights")
    assert first.status_code == 202
    if change == "file":
        other = await keyed_upload(client, video_factory("small", seconds=3.0), "k",
                                   analysis="highlights")
    else:
        other = await keyed_upload(client, small_video, "k", analysis="workout")
    assert await problem_code(other, 422) == "idempotency_key_reused"
    assert session_count(sync_client) == 1
    assert workspace_names(settings) == [(await first.get_json())["session_id"]]


async def test_key_held_by_a_request_in_progress_gets_409(
        client: QuartClient, small_video: Path, sync_client: fakeredis.FakeRedis,
        server: fakeredis.FakeServer) -> None:
    other_request = await IdempotencySlot.open(fakeredis.FakeAsyncRedis(server=server), "busy",
                                               claim_ttl=60, answer_ttl=3600)
    response = await keyed_upload(client, small_video, "busy")
    assert await problem_code(response, 409) == "idempotency_key_in_use"
    assert int(response.headers["Retry-After"]) > 0
    await other_request.release()  # that request failed: the key is free again
    assert (await keyed_upload(client, small_video, "busy")).status_code == 202
    assert session_count(sync_client) == 1


async def test_a_failed_first_upload_frees_its_key(
        client: QuartClient, small_video: Path, tmp_path: Path,
        sync_client: fakeredis.FakeRedis) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 100)
    refused = await keyed_upload(client, text, "k2")
    assert refused.status_code in (415, 422)
    assert await problem_code(refused, refused.status_code) != "idempotency_key_reused"
    retried = await keyed_upload(client, small_video, "k2")
    assert retried.status_code == 202
    assert session_count(sync_client) == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve", "tab\there"],
                         ids=["empty", "too-long", "non-ascii", "control"])
async def test_unusable_keys_are_400(client: QuartClient, small_video: Path,
                                     sync_client: fakeredis.FakeRedis, key: str) -> None:
    response = await client.post(UPLOAD, files={"file": video_file(small_video)},
                                 headers={"Idempotency-Key": key.encode().decode("latin-1")})
    assert await problem_code(response, 400) == "bad_idempotency_key"
    assert session_count(sync_client) == 0


async def test_the_first_answer_expires_with_the_ttl(
        client: QuartClient, small_video: Path, sync_client: fakeredis.FakeRedis) -> None:
    first = await (await keyed_upload(client, small_video, "old")).get_json()
    records = list(sync_client.scan_iter(keys.idempotency_key("*")))
    assert len(records) == 1
    assert 0 < sync_client.ttl(records[0]) <= Settings().idempotency_ttl
    sync_client.delete(records[0])  # what the TTL does a day later
    later = await (await keyed_upload(client, small_video, "old")).get_json()
    assert later["session_id"] != first["session_id"]
