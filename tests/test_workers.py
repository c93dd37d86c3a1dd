"""Extraction workers: a pathological page is killed at its time limit, a memory hog fails, the next goes on."""

from __future__ import annotations

import os
import signal
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

import pipeline.workers as workers
from pipeline.extract import Extracted
from pipeline.workers import ExtractPool, Task

ARTICLE = (
    "<html><body><article><h1>Drift</h1>"
    + "<p>Monitoring deployed models for drift means comparing live inputs with training data every day.</p>" * 20
    + "</article></body></html>"
).encode()


def _write(tmp_path: Path, name: str, body: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(body)
    return path


def _hang_on_marker(original: Any) -> Any:
    """An extractor that never returns for a body starting with HANG: a hang that is certain on any machine."""

    def extract(body: bytes, kind: str) -> Extracted:
        if body.startswith(b"HANG"):
            threading.Event().wait()
        return original(body, kind)  # type: ignore[no-any-return]

    return extract


def test_hanging_page_is_killed_and_the_next_is_processed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "extract", _hang_on_marker(workers.extract))  # workers are forked: they see it
    slow = _write(tmp_path, "hang.html", b"HANG <html></html>")
    good = _write(tmp_path, "good.html", ARTICLE)
    with ExtractPool(workers=1, timeout_s=1.0) as pool:
        outcomes = {o.key: o for o in pool.run([Task("slow", slow, "html"), Task("good", good, "html")])}
    assert outcomes["slow"].result.state == "extract_failed"
    assert "longer than 1 s" in (outcomes["slow"].result.reason or "")
    assert outcomes["good"].result.state == "extracted"
    assert "drift" in outcomes["good"].result.text
    assert pool.stats.timeouts == 1
    assert pool.stats.workers_started == 2  # the killed worker was replaced


def test_memory_hog_fails_inside_its_worker(tmp_path: Path) -> None:
    big = _write(tmp_path, "big.txt", b"word " * (16 * 1024 * 1024))  # 80 MB of text, decoded and cleaned
    small = _write(tmp_path, "small.txt", b"# Title\nA short note.")
    with ExtractPool(workers=1, timeout_s=30, memory_mb=64) as pool:
        outcomes = {o.key: o.result for o in pool.run([Task("big", big, "text"), Task("small", small, "text")])}
    assert outcomes["big"].state == "extract_failed"
    assert "memory" in (outcomes["big"].reason or "").lower()
    assert outcomes["small"].state == "extracted"
    assert pool.stats.memory_failures == 1


def _crash_on_boom(body: bytes, kind: str) -> Extracted:
    if body.startswith(b"BOOM"):
        os.kill(os.getpid(), signal.SIGKILL)
    return Extracted("extracted", text=body.decode())


def test_a_worker_that_dies_is_recorded_and_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "extract", _crash_on_boom)  # workers are forked: they see the patch
    tasks = [Task(f"t{i}", _write(tmp_path, f"{i}.txt", b"BOOM" if i == 1 else b"fine"), "text") for i in range(3)]
    with ExtractPool(workers=2) as pool:
        outcomes = {o.key: o.result for o in pool.run(tasks)}
    assert outcomes["t1"].state == "extract_failed"
    assert outcomes["t1"].reason == "extraction worker died (signal 9)"
    assert outcomes["t0"].state == outcomes["t2"].state == "extracted"


def test_workers_are_recycled_after_their_quota(tmp_path: Path) -> None:
    tasks = [Task(f"t{i}", _write(tmp_path, f"{i}.txt", f"note {i}".encode()), "text") for i in range(5)]
    with ExtractPool(workers=1, tasks_per_worker=2) as pool:
        assert sorted(o.key for o in pool.run(tasks)) == [f"t{i}" for i in range(5)]
    assert pool.stats.workers_started == 3  # after tasks 2 and 4


def test_parent_never_holds_the_body(tmp_path: Path) -> None:
    body = b"<html><body>" + b"<p>x</p>" * (512 * 1024) + b"</body></html>"  # 4 MB a worker reads and refuses
    path = _write(tmp_path, "huge.html", body)
    tracemalloc.start()
    try:
        with ExtractPool(workers=1, timeout_s=60) as pool:
            [outcome] = list(pool.run([Task("huge", path, "html")]))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert outcome.result.state == "too_large"
    assert peak < len(body) // 8  # the parent handled a path and a reason, never the 4 MB


def test_workers_do_not_keep_the_workspace_locked(tmp_path: Path) -> None:
    """A run killed while its workers live must not leave the lock held by them (found by scripts/reliability.py)."""
    from pipeline.store import WorkspaceLock

    lock = WorkspaceLock(tmp_path)
    lock.__enter__()
    note = _write(tmp_path, "n.txt", b"a note")
    with ExtractPool(workers=1) as pool:
        assert [o.result.state for o in pool.run([Task("n", note, "text")])] == ["extracted"]
        assert lock._fd is not None
        os.close(lock._fd)  # the run dies without unlocking; its idle worker lives on
        lock._fd = None
        with WorkspaceLock(tmp_path):  # LockedError if the worker still held the lock's file
            pass
