"""The single job runner: completion, failure, cancellation, skipped stages, crashes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import fakeredis
from rq.job import Job, JobStatus

from queues.runner import RedisStageContext
from queues.session import F_CANCEL, Session, SessionStatus, StageStatus
from queues.settings import Settings
from queues.store import SessionStore
from queues.worker import horse_killed_handler
from stages.errors import StageCancelled
from stages.options import AnalysisOptions
from stages.workspace import RESULTS, Storage


def statuses(store: SessionStore, sid: str) -> dict[str, str]:
    session = store.get(sid)
    assert session is not None
    return {s.name: s.status.value for s in session.stages}


def test_all_pipeline_completes(make_session: Callable[..., Session], small_video: Path,
                                run_jobs: Callable[[], None], store: SessionStore,
                                storage: Storage) -> None:
    session = make_session(small_video, analysis="all", target_duration=3.0)
    run_jobs()
    done = store.get(session.session_id)
    assert done is not None and done.status is SessionStatus.COMPLETED
    assert set(statuses(store, session.session_id).values()) == {"completed"}
    body = storage.open(session.session_id).read_json(RESULTS)
    assert body["analysis"] == "all" and body["workout"] is not None
    assert body["video"]["fps"] == 25.0


def test_failing_stage_fails_session_and_cancels_the_rest(
        make_session: Callable[..., Session], small_video: Path, run_jobs: Callable[[], None],
        store: SessionStore, storage: Storage, redis_conn: fakeredis.FakeRedis) -> None:
    session = make_session(small_video, analysis="all")
    storage.open(session.session_id).path("source").write_text("not a video any more")
    run_jobs()
    failed = store.get(session.session_id)
    assert failed is not None and failed.status is SessionStatus.FAILED
    assert failed.error is not None and failed.error["code"] == "unreadable_video"
    assert statuses(store, session.session_id) == {
        "decode": "failed", "score": "cancelled", "select": "cancelled",
        "render": "cancelled", "workout": "cancelled"}
    for stage, jid in session.jobs.items():
        if stage != "decode":  # RQ would otherwise keep these deferred forever
            assert Job.fetch(jid, connection=redis_conn).get_status() == JobStatus.CANCELED
    workspace = storage.open(session.session_id)
    assert sorted(p.name for p in workspace.directory.iterdir()) == ["source"]


def test_cancel_flag_before_start_cancels(make_session: Callable[..., Session],
                                          small_video: Path, run_jobs: Callable[[], None],
                                          store: SessionStore) -> None:
    session = make_session(small_video)
    store.update(session.session_id, {F_CANCEL: "1"})
    run_jobs()
    cancelled = store.get(session.session_id)
    assert cancelled is not None and cancelled.status is SessionStatus.CANCELLED
    assert set(statuses(store, session.session_id).values()) == {"cancelled"}


def test_render_false_skips_render(make_session: Callable[..., Session], small_video: Path,
                                   run_jobs: Callable[[], None], store: SessionStore) -> None:
    session = make_session(small_video, render=False)
    run_jobs()
    assert statuses(store, session.session_id)["render"] == "skipped"
    assert store.get(session.session_id).status is SessionStatus.COMPLETED  # type: ignore[union-attr]


def test_context_reports_progress_and_raises_on_cancel(
        make_session: Callable[..., Session], small_video: Path, store: SessionStore,
        storage: Storage, monkeypatch) -> None:  # noqa: ANN001
    import queues.runner

    monkeypatch.setattr(queues.runner, "PROGRESS_INTERVAL", 0.0)
    monkeypatch.setattr(queues.runner, "CANCEL_POLL_INTERVAL", 0.0)
    session = make_session(small_video)
    sid = session.session_id
    ctx = RedisStageContext(store, sid, "decode", storage.open(sid), AnalysisOptions())
    ctx.progress(0.4)
    ctx.progress(0.2)  # never goes back
    got = store.get(sid)
    assert got is not None and got.stages[0].progress == 40
    assert got.stages[0].status is StageStatus.RUNNING
    store.update(sid, {F_CANCEL: "1"})
    try:
        ctx.progress(0.5)
    except StageCancelled:
        pass
    else:
        raise AssertionError("progress() must raise once the session is cancelled")


def test_killed_work_horse_fails_the_session(make_session: Callable[..., Session],
                                             small_video: Path, store: SessionStore,
                                             redis_conn: fakeredis.FakeRedis,
                                             settings: Settings) -> None:
    session = make_session(small_video)
    job = Job.fetch(session.jobs["decode"], connection=redis_conn)
    horse_killed_handler(redis_conn, settings)(job, 1234, 9, None)  # type: ignore[arg-type]
    failed = store.get(session.session_id)
    assert failed is not None and failed.status is SessionStatus.FAILED
    assert failed.error is not None and failed.error["code"] == "worker_crashed"
    assert json.dumps(failed.error)
    for stage in ("score", "select", "render"):
        assert Job.fetch(session.jobs[stage], connection=redis_conn).get_status() == \
            JobStatus.CANCELED
