"""Storage over a store that is not this disk: reads leave nothing, concurrent reads agree."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from stages.blobs import LocalBlobStore
from stages.workspace import FRAMES, PROBE, REEL, REEL_META, RESULTS, SOURCE, Storage

SID = "R" * 32


def test_results_read_concurrently_leave_no_scratch(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "store")  # stands in for S3: another machine's files
    (tmp_path / "in.json").write_text('{"ok": true}')
    store.put_file(f"sessions/{SID}/{RESULTS}", tmp_path / "in.json")
    storage = Storage(tmp_path / "scratch", store)
    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(lambda _: storage.read_json(SID, RESULTS), range(200)))
    assert bodies == [{"ok": True}] * 200
    assert [p for p in (tmp_path / "scratch").rglob("*") if p.is_file()] == []


def test_end_keeps_only_what_it_is_told_in_the_store_and_on_disk(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "store")
    storage = Storage(tmp_path / "scratch", store)
    files = [SOURCE, RESULTS, f"decode-{'a' * 16}/{FRAMES}", f"decode-{'a' * 16}/{PROBE}",
             f"render-{'b' * 16}/{REEL}", f"render-{'b' * 16}/{REEL_META}"]
    (tmp_path / "blob").write_bytes(b"x")
    for relative in files:
        store.put_file(f"sessions/{SID}/{relative}", tmp_path / "blob")
        scratch = storage.sessions / SID / relative  # this process's copies
        scratch.parent.mkdir(parents=True, exist_ok=True)
        scratch.write_bytes(b"x")
    keep = (RESULTS, f"render-{'b' * 16}/{REEL}")
    storage.end(SID, keep)
    for root in (store.root / "sessions" / SID, storage.sessions / SID):
        left = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        assert left == sorted(keep)


def test_end_keeps_everything_when_asked(tmp_path: Path) -> None:
    storage = Storage(tmp_path, keep_intermediates=True)
    workspace = storage.create(SID)
    workspace.path(SOURCE).write_bytes(b"video")
    storage.end(SID)
    assert workspace.path(SOURCE).read_bytes() == b"video"
