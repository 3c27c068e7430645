"""The single job runner: completion, failure, cancellation, skipped stages, crashes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import fakeredis
import pytest
from rq.job import Job, JobStatus

from queues.attempt import Attempt
from queues.runner import RedisStageContext
from queues.session import F_CANCEL, LossCause, Session, SessionStatus, StageStatus
from queues.settings import Settings
from queues.store import SessionStore
from queues.worker import build_worker
from stages.errors import StageCancelled, StageSuperseded
from stages.options import AnalysisOptions
from stages.workspace import (
    FRAMES,
    REEL,
    REEL_META,
    RESULTS,
    SCORES,
    SOURCE,
    WORKOUT,
    Storage,
)


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
    # Only the results and the reel outlive the session's end: no upload, no frame cache.
    directory = storage.open(session.session_id).directory
    render = done.stage("render").token
    assert sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()
                  ) == sorted([RESULTS, f"{render}/{REEL_META}", f"{render}/{REEL}"])
    assert body["reel"] is not None
    assert storage.open(session.session_id, inputs=done.outputs).path(REEL).stat().st_size > 0


@pytest.mark.parametrize("settings", [{"keep_intermediates": True}], indirect=True)
def test_keep_intermediates_keeps_every_file(make_session: Callable[..., Session],
                                             small_video: Path, run_jobs: Callable[[], None],
                                             store: SessionStore, storage: Storage) -> None:
    session = make_session(small_video, analysis="workout")
    run_jobs()
    done = store.get(session.session_id)
    assert done is not None and done.status is SessionStatus.COMPLETED
    names = {p.name for p in storage.open(session.session_id).directory.rglob("*")}
    assert {SOURCE, FRAMES, SCORES, WORKOUT, RESULTS} <= names


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
    assert list(workspace.directory.iterdir()) == []  # the upload too: the session ended


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


def start_attempt(store: SessionStore, sid: str, stage: str = "decode") -> Attempt:
    attempt = Attempt(store, sid, stage, "worker-1", lease_seconds=10)
    assert attempt.start(())[0] == "ok"
    return attempt


def test_context_reports_progress_and_raises_on_cancel(
        make_session: Callable[..., Session], small_video: Path, store: SessionStore,
        storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    import queues.runner

    monkeypatch.setattr(queues.runner, "PROGRESS_INTERVAL", 0.0)
    monkeypatch.setattr(queues.runner, "CANCEL_POLL_INTERVAL", 0.0)
    session = make_session(small_video)
    sid = session.session_id
    attempt = start_attempt(store, sid)
    ctx = RedisStageContext(attempt, storage.open(sid), AnalysisOptions())
    ctx.progress(0.4)
    ctx.progress(0.2)  # never goes back
    got = store.get(sid)
    assert got is not None and got.stages[0].progress == 40
    assert got.stages[0].status is StageStatus.RUNNING
    store.update(sid, {F_CANCEL: "1"})
    with pytest.raises(StageCancelled):
        ctx.progress(0.5)
    attempt.close()


def test_superseded_attempt_stops_and_writes_nothing(
        make_session: Callable[..., Session], small_video: Path, store: SessionStore,
        storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    import queues.runner

    monkeypatch.setattr(queues.runner, "PROGRESS_INTERVAL", 0.0)
    monkeypatch.setattr(queues.runner, "CANCEL_POLL_INTERVAL", 0.0)
    sid = make_session(small_video).session_id
    old = start_attempt(store, sid)
    ctx = RedisStageContext(old, storage.open(sid), AnalysisOptions())
    ctx.progress(0.3)
    # The old attempt's worker went silent: its lease ran out and the stage was handed back.
    assert store.reclaim(sid, "decode", LossCause.LOST, 3, owner="worker-1") == "retry"
    new = start_attempt(store, sid)
    with pytest.raises(StageSuperseded):
        ctx.progress(0.9)
    assert not store.progress(sid, "decode", old.token, 95)
    assert old.end(StageStatus.COMPLETED, ["decode"]) == "stale"
    got = store.get(sid)
    assert got is not None and got.stages[0].status is StageStatus.RUNNING
    assert got.stages[0].token == new.token and got.stages[0].progress == 30
    assert got.stages[0].attempts == 2 and got.stages[0].losses == 1
    new.close()


def test_shutdown_hands_the_stage_back_for_a_retry(
        make_session: Callable[..., Session], small_video: Path, run_jobs: Callable[[], None],
        store: SessionStore, redis_conn: fakeredis.FakeRedis, settings: Settings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM in the horse sets SHUTDOWN: the stage stops at its next progress call, goes
    back to pending with its progress kept, and RQ requeues the job at the front."""
    import queues.runner
    from queues.attempt import SHUTDOWN

    session = make_session(small_video, analysis="workout")
    sid = session.session_id
    real = queues.runner.STAGES["decode"]

    def interrupted(ctx: RedisStageContext) -> None:
        ctx.progress(0.25)
        SHUTDOWN.set()
        ctx.progress(0.5)

    monkeypatch.setitem(queues.runner.STAGES, "decode", dataclasses.replace(real, run=interrupted))
    monkeypatch.setattr(queues.runner, "PROGRESS_INTERVAL", 0.0)
    try:
        from rq import SimpleWorker

        from queues.connection import pipeline_queue

        SimpleWorker([pipeline_queue(redis_conn, settings)],
                     connection=redis_conn).work(burst=True, max_jobs=1)
    finally:
        SHUTDOWN.clear()
    handed_back = store.get(sid)
    assert handed_back is not None and handed_back.status is SessionStatus.PROCESSING
    decode = handed_back.stage("decode")
    assert decode.status is StageStatus.PENDING and decode.progress == 25
    assert decode.losses == 0  # a restart is not a lost attempt
    job = Job.fetch(session.jobs["decode"], connection=redis_conn)
    assert job.get_status() == JobStatus.QUEUED
    assert redis_conn.lindex(f"rq:queue:{settings.queue_name}", 0) == job.id.encode()
    monkeypatch.setitem(queues.runner.STAGES, "decode", real)
    run_jobs()
    done = store.get(sid)
    assert done is not None and done.status is SessionStatus.COMPLETED
    assert done.stage("decode").attempts == 2


@pytest.mark.parametrize(("oom", "code"), [(False, "worker_lost"), (True, "out_of_memory")],
                         ids=["killed", "oom-killed"])
def test_killed_work_horse_is_retried_then_fails(
        make_session: Callable[..., Session], small_video: Path, store: SessionStore,
        redis_conn: fakeredis.FakeRedis, settings: Settings, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, oom: bool, code: str) -> None:
    import queues.worker

    counter = tmp_path / "memory.events"
    counter.write_text("low 0\noom 0\noom_kill 4\n")
    monkeypatch.setattr(queues.worker, "OOM_COUNTERS", (counter,))
    session = make_session(small_video)
    sid = session.session_id
    worker = build_worker(settings, redis_conn)
    job = Job.fetch(session.jobs["decode"], connection=redis_conn)
    for attempt in range(1, settings.max_attempts + 1):
        assert store.start_stage(sid, "decode", f"decode-{attempt:016x}", worker.name, 10)[0] \
            == "ok"
        worker._oom_kills_before = queues.worker.oom_kill_count()
        if oom:
            counter.write_text(f"low 0\noom 1\noom_kill {4 + attempt}\n")
        job.retries_left = None
        worker.handle_work_horse_killed(job, 1234, 9, None)
        got = store.get(sid)
        assert got is not None
        if attempt < settings.max_attempts:
            assert got.status is SessionStatus.PROCESSING and job.retries_left == 1
            assert got.stage("decode").status is StageStatus.PENDING
    assert got.status is SessionStatus.FAILED
    assert got.error is not None and got.error["code"] == code
    assert f"{settings.max_attempts} time(s)" in got.error["detail"]
    for stage in ("score", "select", "render"):
        assert Job.fetch(session.jobs[stage], connection=redis_conn).get_status() == \
            JobStatus.CANCELED
