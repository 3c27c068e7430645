"""Storage over a store that is not this disk: reads leave nothing, concurrent reads agree."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from stages.blobs import LocalBlobStore
from stages.workspace import RESULTS, Storage

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
