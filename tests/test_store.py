"""Tests for pipeline.store: schema and WAL, upserts, float32 vectors, and the workspace lock."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import LockedError
from pipeline.store import MIGRATIONS, SCHEMA_VERSION, Store, WorkspaceLock

# Runs in a child process: try the lock on argv[1] and report what happened.
TRY_LOCK = """
import sys
from pathlib import Path
from pipeline.errors import LockedError
from pipeline.store import WorkspaceLock
try:
    with WorkspaceLock(Path(sys.argv[1])):
        print("acquired")
except LockedError as exc:
    print("locked:", exc)
"""

# Runs in a child process: hold the lock until stdin closes or the process is killed.
HOLD_LOCK = """
import sys
from pathlib import Path
from pipeline.store import WorkspaceLock
with WorkspaceLock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""


def try_lock_in_child(interim: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", TRY_LOCK, str(interim)], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def test_schema_version_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "interim" / "gifts.sqlite"
    with Store(path) as store:
        assert SCHEMA_VERSION == len(MIGRATIONS)
        assert store.scalar("PRAGMA user_version") == len(MIGRATIONS)
        assert str(store.scalar("PRAGMA journal_mode")).lower() == "wal"
        tables = {row["name"] for row in store.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"sources", "documents", "passages", "vectors", "suggestions", "runs", "meta"} <= tables
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # WAL persists in the file
    finally:
        raw.close()


def test_reopening_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "gifts.sqlite"
    with Store(path) as store, store.transaction():
        store.set_meta("k", "v")
    with Store(path) as again:
        assert again.scalar("PRAGMA user_version") == SCHEMA_VERSION
        assert again.get_meta("k") == "v"


def test_readonly_store_reads_and_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "gifts.sqlite"
    with Store(path) as store, store.transaction():
        store.set_meta("k", "v")
    with Store(path, readonly=True) as reader:
        assert reader.get_meta("k") == "v"
        with pytest.raises(sqlite3.OperationalError):
            reader.set_meta("k", "w")


def test_upsert_inserts_then_updates(tmp_path: Path) -> None:
    with Store(tmp_path / "gifts.sqlite") as store:
        row = {"id": "feed-1", "kind": "feed", "location": "https://a.example/feed", "title": "A"}
        with store.transaction():
            store.upsert("sources", row)
        with store.transaction():
            store.upsert("sources", {"id": "feed-1", "kind": "feed", "location": row["location"], "title": "A2"})
        rows = store.query("SELECT id, title, location, consecutive_failures FROM sources")
        assert [tuple(r) for r in rows] == [("feed-1", "A2", "https://a.example/feed", 0)]


def test_upsert_updates_only_the_given_columns(tmp_path: Path) -> None:
    with Store(tmp_path / "gifts.sqlite") as store, store.transaction():
        store.upsert("sources", {"id": "s", "kind": "feed", "location": "u", "title": "T", "etag": '"e1"'})
        store.upsert("sources", {"id": "s", "state": "failed", "kind": "feed", "location": "u"})
        row = store.query("SELECT title, etag, state FROM sources WHERE id = 's'")[0]
        assert (row["title"], row["etag"], row["state"]) == ("T", '"e1"', "failed")


def test_upsert_with_a_composite_key(tmp_path: Path) -> None:
    with Store(tmp_path / "gifts.sqlite") as store, store.transaction():
        base = {"doc_id": "d", "idx": 0, "text": "one", "sha": "s1", "text_sha": "t"}
        store.upsert("passages", base, key=("doc_id", "idx"))
        store.upsert("passages", {**base, "text": "uno"}, key=("doc_id", "idx"))
        store.upsert("passages", {**base, "idx": 1, "text": "two"}, key=("doc_id", "idx"))
        assert [tuple(r) for r in store.query("SELECT idx, text FROM passages ORDER BY idx")] == [
            (0, "uno"),
            (1, "two"),
        ]


def test_meta_round_trip(tmp_path: Path) -> None:
    with Store(tmp_path / "gifts.sqlite") as store:
        assert store.get_meta("missing") is None
        with store.transaction():
            store.set_meta("model", "a")
            store.set_meta("model", "b")
        assert store.get_meta("model") == "b"


def test_vectors_round_trip_as_float32(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    a = rng.normal(size=384)  # float64 on the way in
    b = rng.normal(size=384).astype(np.float32)
    with Store(tmp_path / "gifts.sqlite") as store:
        with store.transaction():
            store.put_vectors("mini@1", [("sha-a", a), ("sha-b", b)])
        found = store.vectors("mini@1", ["sha-a", "sha-b", "sha-missing", "sha-a"])
        assert sorted(found) == ["sha-a", "sha-b"]
        assert found["sha-a"].dtype == np.float32
        np.testing.assert_array_equal(found["sha-a"], a.astype(np.float32))
        np.testing.assert_array_equal(found["sha-b"], b)
        assert store.scalar("SELECT dim FROM vectors WHERE sha = 'sha-a'") == 384
        assert store.vectors("other-model", ["sha-a"]) == {}


def test_vectors_lookup_over_many_hashes(tmp_path: Path) -> None:
    # More than one 500-row chunk of the IN (...) query.
    items = [(f"sha-{i}", np.full(4, i, dtype=np.float32)) for i in range(1203)]
    with Store(tmp_path / "gifts.sqlite") as store:
        with store.transaction():
            store.put_vectors("m", items)
        found = store.vectors("m", [sha for sha, _ in items])
        assert len(found) == 1203
        assert found["sha-1202"].tolist() == [1202.0] * 4


def test_runs_start_and_finish(tmp_path: Path) -> None:
    with Store(tmp_path / "gifts.sqlite") as store:
        first = store.start_run("2026-11-26T06:00:00Z")
        second = store.start_run("2026-11-27T06:00:00Z")
        assert second == first + 1
        store.finish_run(first, "2026-11-26T06:05:00Z", "ok", {"fetched": 3}, {"fetch": 1.5})
        row = store.query("SELECT status, counts, timings FROM runs WHERE id = ?", (first,))[0]
        assert (row["status"], row["counts"], row["timings"]) == ("ok", '{"fetched": 3}', '{"fetch": 1.5}')
        assert store.scalar("SELECT status FROM runs WHERE id = ?", (second,)) == "running"


def test_second_lock_in_the_same_process_is_refused(tmp_path: Path) -> None:
    interim = tmp_path / "interim"
    with WorkspaceLock(interim) as held:
        assert held.path == interim / "gifts.lock"
        assert held.path.read_text() == str(os.getpid())
        with pytest.raises(LockedError) as info, WorkspaceLock(interim):
            pass
        assert f"pid {os.getpid()}" in str(info.value)
        assert str(interim / "gifts.lock") in str(info.value)
    with WorkspaceLock(interim):  # free again after exit
        pass


def test_lock_held_here_is_refused_in_another_process(tmp_path: Path) -> None:
    interim = tmp_path / "interim"
    with WorkspaceLock(interim):
        outcome = try_lock_in_child(interim)
        assert outcome.startswith("locked:")
        assert f"pid {os.getpid()}" in outcome
    assert try_lock_in_child(interim) == "acquired"


def test_lock_held_by_another_process_is_released_when_it_dies(tmp_path: Path) -> None:
    interim = tmp_path / "interim"
    with subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(interim)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "held"
            with pytest.raises(LockedError, match=f"pid {child.pid}"), WorkspaceLock(interim):
                pass
        finally:
            child.kill()
            child.wait(timeout=30)
    with WorkspaceLock(interim) as lock:  # the kernel dropped the dead holder's lock
        assert lock.path.read_text() == str(os.getpid())
