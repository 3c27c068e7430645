"""Expiry: sessions vanish SESSION_TTL after they end, orphan workspaces after a while."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import fakeredis
import pytest

from queues import keys
from queues.session import F_CANCEL, Session, SessionStatus
from queues.settings import Settings
from queues.store import SessionStore
from queues.sweeper import sweep
from stages.workspace import Storage


def leftovers(redis_conn: fakeredis.FakeRedis, sid: str) -> list[str]:
    return sorted(k.decode() for k in redis_conn.keys(f"*{sid}*"))


@pytest.mark.parametrize("ending", ["completed", "failed", "cancelled"])
def test_ended_session_expires_completely(ending: str, make_session: Callable[..., Session],
                                          small_video: Path, run_jobs: Callable[[], None],
                                          store: SessionStore, storage: Storage,
                                          redis_conn: fakeredis.FakeRedis,
                                          settings: Settings) -> None:
    session = make_session(small_video, render=False)
    sid = session.session_id
    if ending == "failed":
        storage.open(sid).path("source").write_text("damaged")
    if ending == "cancelled":
        store.update(sid, {F_CANCEL: "1"})
    run_jobs()
    assert store.get(sid).status.value == ending  # type: ignore[union-attr]
    assert sweep(redis_conn, settings).expired_sessions == 0  # not yet
    report = sweep(redis_conn, settings, now=time.time() + settings.session_ttl + 1)
    assert report.expired_sessions == 1
    assert not storage.open(sid).directory.exists()
    # nothing but the tombstone: not the hash, not the index entry, not RQ's job records
    assert leftovers(redis_conn, sid) == [keys.tombstone_key(sid)]
    assert redis_conn.zscore(keys.SESSIONS_BY_EXPIRY, sid) is None


def test_stuck_session_is_stopped_and_removed(make_session: Callable[..., Session],
                                              small_video: Path, storage: Storage,
                                              redis_conn: fakeredis.FakeRedis,
                                              settings: Settings) -> None:
    session = make_session(small_video)
    report = sweep(redis_conn, settings, now=time.time() + settings.session_ttl + 1)
    assert report.expired_sessions == 1
    assert not storage.open(session.session_id).directory.exists()
    assert leftovers(redis_conn, session.session_id) == [keys.tombstone_key(session.session_id)]


def test_orphan_workspace_is_removed_when_stale(storage: Storage, settings: Settings,
                                                redis_conn: fakeredis.FakeRedis) -> None:
    fresh = storage.create("F" * 32)
    (fresh.directory / "source").write_bytes(b"partial upload")
    stale = storage.create("O" * 32)
    (stale.directory / "source").write_bytes(b"abandoned upload")
    old = time.time() - settings.upload_stale_seconds - 10
    for path in (stale.directory / "source", stale.directory):
        os.utime(path, (old, old))
    assert sweep(redis_conn, settings).orphan_workspaces == 1
    assert fresh.directory.exists() and not stale.directory.exists()



def test_job_records_go_even_when_the_hash_expired_first(
        make_session: Callable[..., Session], small_video: Path,
        redis_conn: fakeredis.FakeRedis, settings: Settings, store: SessionStore) -> None:
    session = make_session(small_video)
    sid = session.session_id
    store.request_cancel(sid)
    from queues.cancel import request_cancel

    request_cancel(redis_conn, store, Storage(settings.media_root), sid)
    redis_conn.delete(keys.session_key(sid))  # its safety TTL ran out before any sweep
    sweep(redis_conn, settings, now=time.time() + settings.session_ttl + 1)
    assert leftovers(redis_conn, sid) == [keys.tombstone_key(sid)]
    assert not redis_conn.zcard(f"rq:canceled:{settings.queue_name}")


def test_stalled_cancellation_is_enforced(make_session: Callable[..., Session],
                                          small_video: Path, store: SessionStore,
                                          redis_conn: fakeredis.FakeRedis,
                                          settings: Settings) -> None:
    session = make_session(small_video)
    # as if a worker were running it
    store.start_stage(session.session_id, "decode", "decode-" + "0" * 16, "w", 10)
    assert store.request_cancel(session.session_id) is SessionStatus.CANCELLING
    assert sweep(redis_conn, settings).stalled_cancels == 0  # still within the grace
    report = sweep(redis_conn, settings, now=time.time() + settings.cancel_grace + 1)
    assert report.stalled_cancels == 1
    assert store.get(session.session_id).status is SessionStatus.CANCELLED  # type: ignore[union-attr]
