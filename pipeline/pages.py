"""Page fetching: the page or PDF behind every pending feed entry, fetched concurrently within budgets.

Pages are fetched by a small thread pool (`fetch.page_workers` at once, never more than
`politeness.MAX_CONNECTIONS_PER_HOST` to one host), so six trickling pages cost one deadline,
not six. Two budgets bound a night: each source's pages may use `fetch.source_budget_s` seconds
of fetching in one run, and all pages together `fetch.run_budget_s` of wall time. A page not
started within them stays pending and is fetched on a later night; nothing is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipeline.archive import Archive, ArchiveEntry
from pipeline.db import documents
from pipeline.db.states import DocState
from pipeline.errors import FetchError
from pipeline.fetch import Fetcher
from pipeline.store import Store

log = logging.getLogger(__name__)

Progress = Callable[[int], None]

PAGE_RESULTS = ("id", "state", "reason", "raw_sha", "kind", "how", "seconds")
DEFERRED = "deferred"  # `how` of a page left for a later night: its budget was spent
PAGE_BATCH = 16  # results are committed this many at a time, so a kill loses little

# A page that failed for a reason that may pass (a timeout, a 5xx, a 429, a deferred host) is
# tried again on later nights, so one bad night never loses a document for good.
TRANSIENT_REASONS = ("fetch: timeout", "fetch: network", "fetch: http 5", "fetch: http 429", "fetch: deferred")
MAX_FETCH_ATTEMPTS = 3


def _noop(_: int) -> None:
    return None


def download(
    url: str,
    archive: Archive,
    fetcher: Fetcher | None,
    now: str,
    etag: str | None = None,
    last_modified: str | None = None,
) -> tuple[str, ArchiveEntry | None]:
    """('downloaded' | 'not_modified' | 'archive', entry). Offline (no fetcher) reads the archive only.

    Raises:
        FetchError: when the URL cannot be had.
    """
    if fetcher is None:
        entry = archive.get(url)
        if entry is None:
            raise FetchError(url, "offline: not in the raw archive")
        return "archive", entry
    result = fetcher.get(url, etag=etag, last_modified=last_modified)
    if result.status == 304:
        return "not_modified", archive.get(url)
    assert result.body is not None  # noqa: S101 -- Fetcher returns a body with every 200
    sha = archive.put(result.body)
    entry = ArchiveEntry(
        url=url,
        sha256=sha,
        content_type=result.content_type,
        fetched_at=now,
        etag=result.etag,
        last_modified=result.last_modified,
        final_url=result.final_url if result.final_url != url else None,
    )
    archive.record(entry)
    return "downloaded", entry


@dataclass
class PageBudget:
    """How much fetching a run and each source may still do (thread-safe).

    Args:
        run_s: wall time, from creation, within which pages may be started (0: no limit).
        source_s: seconds of fetching one source's pages may add up to in this run (0: no limit).
        clock: monotonic seconds (tests inject one).
    """

    run_s: float = 0.0
    source_s: float = 0.0
    clock: Callable[[], float] = time.monotonic
    _started: float = field(init=False)
    _spent: dict[str, float] = field(init=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._started = self.clock()

    def refusal(self, source: str) -> str | None:
        """Why a page of `source` may not start now, or None when it may."""
        with self._lock:
            if self.run_s and self.clock() - self._started >= self.run_s:
                return f"the run's page budget of {self.run_s:g} s is spent"
            if self.source_s and self._spent.get(source, 0.0) >= self.source_s:
                return f"its source's page budget of {self.source_s:g} s is spent"
        return None

    def spend(self, source: str, seconds: float) -> None:
        with self._lock:
            self._spent[source] = self._spent.get(source, 0.0) + seconds


def _kind_from_type(content_type: str) -> str | None:
    if "pdf" in content_type:
        return "pdf"
    if "html" in content_type:
        return "html"
    return None


def fetch_page(doc_id: str, url: str, archive: Archive, fetcher: Fetcher | None, now: str) -> tuple[Any, ...]:
    """One PAGE_RESULTS row: the page fetched into the archive (or found there), or why not."""
    started = time.monotonic()
    try:
        # An article's page is fetched once: if the archive has it, later runs reuse it.
        entry = archive.get(url)
        if entry is not None and archive.has(entry.sha256):
            how = "archive"
        else:
            refused = fetcher.robots_block(url) if fetcher is not None else None
            if refused:
                raise FetchError(url, refused)
            how, entry = download(url, archive, fetcher, now)
    except FetchError as exc:
        log.warning("page failed: %s", exc)
        state = (
            DocState.BLOCKED
            if exc.reason.startswith("blocked")
            else (DocState.TOO_LARGE if exc.reason.startswith("too_large") else DocState.EXTRACT_FAILED)
        )
        return (doc_id, state, f"fetch: {exc.reason}", None, None, "failed", time.monotonic() - started)
    assert entry is not None  # noqa: S101 -- archive hits and downloads both carry an entry
    return (doc_id, None, None, entry.sha256, _kind_from_type(entry.content_type), how, time.monotonic() - started)


def _budgeted(
    row: tuple[str, str, str], archive: Archive, fetcher: Fetcher | None, now: str, budget: PageBudget | None
) -> tuple[Any, ...]:
    doc_id, url, source = row
    if budget is not None:
        refused = budget.refusal(source)
        if refused:
            return (doc_id, None, refused, None, None, DEFERRED, 0.0)
    result = fetch_page(doc_id, url, archive, fetcher, now)
    if budget is not None:
        budget.spend(source, float(result[-1]))
    return result


def _rows(batch: pd.DataFrame) -> list[tuple[str, str, str]]:
    sources = batch["source_id"] if "source_id" in batch else [""] * len(batch)
    return [(str(d), str(u), str(s)) for d, u, s in zip(batch["id"], batch["url"], sources, strict=True)]


def fetch_page_frame(
    batch: pd.DataFrame,
    archive: Archive,
    fetcher: Fetcher | None,
    now: str,
    *,
    workers: int = 1,
    budget: PageBudget | None = None,
) -> pd.DataFrame:
    """(id, url[, source_id]) rows -> PAGE_RESULTS rows, `workers` pages at a time.

    The one batch function both engines call for pages; the store is not touched here, so Ray
    workers can run it. `state` is None for a page now in the archive (or deferred: `how` says
    which), else blocked, too_large or extract_failed with its reason.
    """
    rows = _rows(batch)
    if workers <= 1 or len(rows) <= 1:
        results = [_budgeted(row, archive, fetcher, now, budget) for row in rows]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="page") as pool:
            results = list(pool.map(lambda row: _budgeted(row, archive, fetcher, now, budget), rows))
    return pd.DataFrame(results, columns=list(PAGE_RESULTS))


def save_page_results(store: Store, results: pd.DataFrame) -> Counter[str]:
    """Write fetch_page_frame's results to the store; returns fetched / archive_hits / deferred / failure counts."""
    counts: Counter[str] = Counter()
    with store.transaction():
        for r in results.itertuples(index=False):
            seconds = round(float(r.seconds), 3)
            if r.how == DEFERRED:
                counts["pages_deferred"] += 1  # still pending, with no attempt counted: a later night fetches it
                continue
            if isinstance(r.state, str):  # None (or NaN, once through Parquet) means the page is in the archive
                counts[r.state] += 1
                documents.record_page_failure(store, r.id, r.state, r.reason, seconds)
                continue
            counts["fetched" if r.how == "downloaded" else "archive_hits"] += 1
            documents.record_page(store, r.id, r.raw_sha, r.kind, seconds)
    return counts


def pending_pages(store: Store) -> pd.DataFrame:
    """(id, url, source_id) of every pending entry whose page has not been fetched yet, oldest first."""
    rows = store.query(
        "SELECT id, url, source_id FROM documents WHERE state = ? AND raw_sha IS NULL AND url IS NOT NULL"
        " ORDER BY first_seen, id",
        (DocState.PENDING,),
    )
    return pd.DataFrame([dict(r) for r in rows], columns=["id", "url", "source_id"])


def fetch_documents(
    store: Store,
    archive: Archive,
    fetcher: Fetcher | None,
    now: str,
    progress: Progress = _noop,
    *,
    workers: int = 1,
    budget: PageBudget | None = None,
) -> Counter[str]:
    """Fetch the page or PDF behind every pending feed entry (the archive answers repeats).

    robots.txt is honoured for these pages; a refused, oversized or unreachable page ends in
    blocked, too_large or extract_failed with its reason. Results are committed PAGE_BATCH at a
    time as they finish, whatever order the pool finishes them in.
    """
    counts: Counter[str] = Counter()
    rows = _rows(pending_pages(store))
    done: list[tuple[Any, ...]] = []

    def commit() -> None:
        counts.update(save_page_results(store, pd.DataFrame(done, columns=list(PAGE_RESULTS))))
        progress(len(done))
        done.clear()

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="page") as pool:
        # At most `workers` pages are submitted ahead, so the budget is checked when a page starts.
        queue = iter(rows)
        running: set[Future[tuple[Any, ...]]] = set()
        for row in queue:
            running.add(pool.submit(_budgeted, row, archive, fetcher, now, budget))
            if len(running) < max(1, workers):
                continue
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            done.extend(f.result() for f in finished)
            if len(done) >= PAGE_BATCH:
                commit()
        for future in running:
            done.append(future.result())
    if done:
        commit()
    return counts


def retry_transient_failures(store: Store) -> int:
    """Put pages that failed transiently (fewer than MAX_FETCH_ATTEMPTS times) back in the queue."""
    with store.transaction():
        return documents.retry_pages(store, TRANSIENT_REASONS, MAX_FETCH_ATTEMPTS)
