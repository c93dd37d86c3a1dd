"""Extraction and feed parsing in worker processes, each with a time and memory limit, recycled regularly.

trafilatura, pypdf and feedparser have no size or time limit of their own (a megabyte of `<td>` can
take minutes and gigabytes; feedparser's loose parser expands entities expat refused, and its author
regex is worse than quadratic in the field's length), so every body is handled in a child process:
one over its time is killed and replaced, one over its memory fails inside the child, and either
way the item is recorded as failed with a reason while the next one goes on. The parent never holds
a body.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from pipeline.db.states import DocState
from pipeline.extract import Extracted, extract
from pipeline.feeds import FEED_FAILED, FEED_PARSED, FeedRefused, ParsedFeed, parse_feed

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 2
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MEMORY_MB = 1024  # address space a worker may add on top of what it has at start
DEFAULT_TASKS_PER_WORKER = 50
MAX_TEXT_CHARS = 2_000_000  # more text than any article; caps what travels back to the parent


FEED = "feed"  # a Task kind: parse the body as a feed instead of extracting an article


@dataclass(frozen=True, slots=True)
class Task:
    """One body to handle: `key` identifies it to the caller, `path` is the raw file.

    `kind` is html, pdf or text (extract) or FEED (parse); a feed's `url` resolves its relative
    links and `max_entries` bounds what travels back.
    """

    key: str
    path: Path
    kind: str
    url: str = ""
    max_entries: int = 0


@dataclass(frozen=True, slots=True)
class Outcome:
    key: str
    result: Extracted  # for a feed: state FEED_PARSED or FEED_FAILED, the ill-formedness as reason
    seconds: float
    feed: ParsedFeed | None = None


@dataclass
class PoolStats:
    tasks: int = 0
    timeouts: int = 0
    memory_failures: int = 0
    crashes: int = 0
    workers_started: int = 0
    longest_task_s: float = 0.0
    peak_worker_rss_kb: int = 0


def _worker_main(conn: multiprocessing.connection.Connection, memory_bytes: int) -> None:
    """Child: extract tasks from `conn` until told to stop (None) or the parent goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _detach_from_parent(conn.fileno())
    # The run's log file was closed with the other inherited descriptors: a library warning here
    # would print a logging traceback to the terminal. What a body did wrong comes back as its reason.
    logging.getLogger().handlers = [logging.NullHandler()]
    if memory_bytes > 0:
        start = _address_space_bytes()
        limit = start + memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        key, path, kind, url, max_entries = message
        failed = FEED_FAILED if kind == FEED else DocState.EXTRACT_FAILED
        feed: ParsedFeed | None = None
        try:
            body = Path(path).read_bytes()
            if kind == FEED:
                feed = parse_feed(body, url, max_entries=max_entries or None)
                result = Extracted(FEED_PARSED, reason=feed.bozo)
            else:
                result = extract(body, kind)
            del body
        except MemoryError:
            feed, result = None, Extracted(failed, reason=f"memory limit exceeded during {_doing(kind)}")
        except FeedRefused as exc:
            result = Extracted(failed, reason=str(exc))
        except Exception as exc:  # a worker must answer for every task, whatever the library raised
            result = Extracted(failed, reason=f"{type(exc).__name__}: {exc}"[:300])
        text = result.text[:MAX_TEXT_CHARS]
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            conn.send((key, result.state, text, result.title, result.reason, rss, feed))
        except MemoryError:
            conn.send((key, failed, "", None, "memory limit exceeded sending the result", rss, None))


def _doing(kind: str) -> str:
    return "feed parsing" if kind == FEED else "extraction"


def _failed_state(kind: str) -> str:
    return FEED_FAILED if kind == FEED else DocState.EXTRACT_FAILED


def _detach_from_parent(keep: int) -> None:
    """Drop what the fork copied from the run: the workspace lock, the store, sockets, sibling pipes.

    A forked worker shares the parent's open files; holding the lock's file would keep the
    workspace locked after the run itself was killed, and holding a sibling's pipe would keep that
    sibling from seeing its parent go. Pipes are kept: multiprocessing's exit sentinel is one.
    The worker also asks the kernel to kill it when the run dies (Linux), so a worker busy with a
    pathological page does not outlive the run.
    """
    parent = os.getppid()
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the run died before the request above took effect
        os._exit(1)
    for entry in list(Path("/proc/self/fd").iterdir()):  # listed in full before any fd is closed
        fd = int(entry.name)
        if fd < 3 or fd == keep:
            continue
        try:
            if str(entry.readlink()).startswith("pipe:"):
                continue
            os.close(fd)
        except OSError:
            continue


def _address_space_bytes() -> int:
    try:
        with Path("/proc/self/statm").open() as handle:
            return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class _Worker:
    def __init__(self, context: Any, memory_bytes: int) -> None:
        parent, child = context.Pipe(duplex=True)
        self.conn: multiprocessing.connection.Connection = parent
        self.process: BaseProcess = context.Process(target=_worker_main, args=(child, memory_bytes), daemon=True)
        self.process.start()
        child.close()
        self.done = 0
        self.task: Task | None = None
        self.started = 0.0

    def peak_rss_kb(self) -> int:
        """The process's high-water RSS from /proc (0 once it is gone)."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text(encoding="ascii", errors="replace")
        except OSError:
            return 0
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return 0

    def stop(self, kill: bool = False) -> None:
        if not kill and self.process.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                kill = True
            self.process.join(2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.conn.close()


class ExtractPool:
    """A small pool of extraction workers; use as a context manager and call `run`.

    Args:
        workers: processes extracting at once.
        timeout_s: wall time one body may take before its worker is killed.
        memory_mb: address space a worker may grow by (RLIMIT_AS) before allocations fail.
        tasks_per_worker: a worker is replaced after this many bodies (leaks and fragmentation).
    """

    def __init__(
        self,
        workers: int | None = None,
        timeout_s: float | None = None,
        memory_mb: int | None = None,
        tasks_per_worker: int | None = None,
    ) -> None:
        # Defaults are read at call time, so a harness (scripts/reliability.py) can tighten them.
        self.size = max(1, workers or DEFAULT_WORKERS)
        self.timeout_s = timeout_s or DEFAULT_TIMEOUT_S
        self.memory_bytes = (memory_mb or DEFAULT_MEMORY_MB) * 1024 * 1024
        self.tasks_per_worker = max(1, tasks_per_worker or DEFAULT_TASKS_PER_WORKER)
        self.stats = PoolStats()
        # Workers are forked, so the libraries are imported once here rather than in every fresh
        # worker (a recycled worker then starts in milliseconds). fork, not spawn or forkserver:
        # those re-import the parent's __main__, which a script may not guard.
        import pypdf  # noqa: F401
        import trafilatura  # noqa: F401

        self._context = multiprocessing.get_context("fork")
        self._workers: list[_Worker] = []

    def __enter__(self) -> ExtractPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for worker in self._workers:
            self.stats.peak_worker_rss_kb = max(self.stats.peak_worker_rss_kb, worker.peak_rss_kb())
            worker.stop(kill=worker.task is not None)
        self._workers = []

    def _spawn(self) -> _Worker:
        worker = _Worker(self._context, self.memory_bytes)
        self.stats.workers_started += 1
        return worker

    def _replace(self, worker: _Worker, kill: bool) -> None:
        self.stats.peak_worker_rss_kb = max(self.stats.peak_worker_rss_kb, worker.peak_rss_kb())
        worker.stop(kill=kill)
        self._workers[self._workers.index(worker)] = self._spawn()

    def run(self, tasks: Iterable[Task]) -> Iterator[Outcome]:
        """Extract every task, yielding outcomes as they finish (not in task order)."""
        queue = collections.deque(tasks)
        while len(self._workers) < min(self.size, max(1, len(queue))):
            self._workers.append(self._spawn())
        while queue or any(w.task is not None for w in self._workers):
            for worker in list(self._workers):
                if worker.task is None and queue:
                    task = queue.popleft()
                    try:
                        worker.conn.send((task.key, str(task.path), task.kind, task.url, task.max_entries))
                    except OSError:
                        self._replace(worker, kill=True)
                        queue.appendleft(task)
                        continue
                    worker.task, worker.started = task, time.monotonic()
            busy = [w for w in self._workers if w.task is not None]
            if not busy:
                continue
            first_deadline = min(w.started for w in busy) + self.timeout_s
            ready = multiprocessing.connection.wait(
                [w.conn for w in busy], timeout=max(0.0, first_deadline - time.monotonic())
            )
            now = time.monotonic()
            for worker in busy:
                if worker.conn in ready:
                    yield self._collect(worker, now)
                elif now - worker.started >= self.timeout_s:
                    yield self._timed_out(worker, now)

    def _finish(self, worker: _Worker, result: Extracted, now: float, feed: ParsedFeed | None = None) -> Outcome:
        task = worker.task
        assert task is not None  # noqa: S101 -- only busy workers are finished
        seconds = now - worker.started
        self.stats.tasks += 1
        self.stats.longest_task_s = max(self.stats.longest_task_s, seconds)
        worker.task = None
        return Outcome(task.key, result, seconds, feed)

    def _collect(self, worker: _Worker, now: float) -> Outcome:
        kind = worker.task.kind if worker.task else ""
        try:
            _key, state, text, title, reason, rss, feed = worker.conn.recv()
        except (EOFError, OSError):
            worker.process.join(5)
            code = worker.process.exitcode
            self.stats.crashes += 1
            how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            reason = f"{_doing(kind)} worker died ({how})"
            outcome = self._finish(worker, Extracted(_failed_state(kind), reason=reason), now)
            self._replace(worker, kill=True)
            return outcome
        self.stats.peak_worker_rss_kb = max(self.stats.peak_worker_rss_kb, int(rss))
        out_of_memory = bool(reason and "memory" in reason.lower() and state != FEED_PARSED)
        if out_of_memory:
            self.stats.memory_failures += 1
        outcome = self._finish(worker, Extracted(state, text=text, title=title, reason=reason), now, feed)
        worker.done += 1
        if worker.done >= self.tasks_per_worker or out_of_memory:
            self._replace(worker, kill=False)  # recycle: a fresh process gives back what this one grew
        return outcome

    def _timed_out(self, worker: _Worker, now: float) -> Outcome:
        self.stats.timeouts += 1
        kind = worker.task.kind if worker.task else ""
        reason = f"{_doing(kind)} took longer than {self.timeout_s:g} s (worker killed)"
        outcome = self._finish(worker, Extracted(_failed_state(kind), reason=reason), now)
        self._replace(worker, kill=True)
        return outcome
