"""Ingest stages with their side effects: fetch feeds and pages, parse feeds, extract text.

Each stage reads what is missing from the store and writes its results back in small committed
batches, so it can be re-run at any time and does no work twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import dedupe, health
from pipeline.archive import Archive, ArchiveEntry
from pipeline.errors import FetchError
from pipeline.extract import Extracted, sniff_kind
from pipeline.feeds import check_xml_parser, parse_feed
from pipeline.fetch import Fetcher
from pipeline.frames import extracted_fields
from pipeline.sources import Source, folder_files
from pipeline.store import Store
from pipeline.workers import ExtractPool, Task

log = logging.getLogger(__name__)

Progress = Callable[[int], None]


def _noop(_: int) -> None:
    return None


def sync_sources(store: Store, sources: list[Source]) -> None:
    """Record the configured sources; ones no longer configured are kept but marked removed."""
    with store.transaction():
        for source in sources:
            store.db.execute(
                "INSERT INTO sources (id, kind, location, title, origin) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET location = excluded.location, origin = excluded.origin,"
                " title = COALESCE(sources.title, excluded.title)",
                (source.id, source.kind, source.location, source.title, source.origin),
            )
        ids = [s.id for s in sources]
        store.db.execute(
            f"UPDATE sources SET state = 'removed' WHERE id NOT IN ({','.join('?' * len(ids))})",
            ids,
        )


def _get(
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


def current_run(store: Store) -> int:
    """The id of the run in progress (0 when a stage is called outside a run, as in tests)."""
    return int(store.scalar("SELECT MAX(id) FROM runs") or 0)


def _record_source(store: Store, run_id: int, source_id: str, state: str, reason: str | None, seconds: float) -> None:
    """This run's one state for a source (no commit: the caller's transaction holds it)."""
    store.db.execute(
        "INSERT OR REPLACE INTO source_runs (run_id, source_id, state, reason, seconds) VALUES (?, ?, ?, ?, ?)",
        (run_id, source_id, state, reason, round(seconds, 3)),
    )


def fetch_feeds(
    store: Store, archive: Archive, fetcher: Fetcher | None, now: str, progress: Progress = _noop
) -> Counter[str]:
    """Fetch every due feed with a conditional GET; each source ends in exactly one recorded state.

    States: new, not_modified, failed (with a reason), backoff_skip, disabled (see `health`).
    """
    counts: Counter[str] = Counter()
    today = dt.date.fromisoformat(now[:10])
    run_id = current_run(store)
    rows = store.query("SELECT * FROM sources WHERE kind = 'feed' AND COALESCE(state, '') != 'removed'")
    for row in rows:
        counts["sources"] += 1
        verdict = health.verdict(row["disabled_at"], row["next_attempt_on"], today)
        if verdict != "due":
            failures = row["consecutive_failures"]
            why = (
                f"disabled after {failures} failures in a row ({row['reason']}); re-enable with `gifts enable`"
                if verdict == "disabled"
                else f"backoff until {row['next_attempt_on']} after {failures} failures ({row['reason']})"
            )
            with store.transaction():
                store.db.execute("UPDATE sources SET state = ? WHERE id = ?", (verdict, row["id"]))
                _record_source(store, run_id, row["id"], verdict, why, 0.0)
            counts[f"sources_{verdict}"] += 1
            progress(1)
            continue
        started = time.monotonic()
        try:
            how, entry = _get(row["location"], archive, fetcher, now, row["etag"], row["last_modified"])
        except FetchError as exc:
            log.warning("feed failed: %s", exc)
            counts["sources_failed"] += 1
            _record_feed_failure(store, run_id, row, exc.reason, now, today, time.monotonic() - started, fetcher)
            progress(1)
            continue
        if how == "downloaded":
            counts["fetched"] += 1
        elif how == "archive":
            counts["archive_hits"] += 1
        sha = entry.sha256 if entry else row["raw_sha"]
        changed = how != "not_modified" and sha != row["raw_sha"]
        state = "new" if changed else "not_modified"
        if state == "not_modified":
            counts["not_modified"] += 1
        counts[f"sources_{state}"] += 1
        with store.transaction():
            store.db.execute(
                "UPDATE sources SET state = ?, reason = NULL, raw_sha = ?, etag = ?, last_modified = ?,"
                " last_attempt_at = ?, last_ok_at = ?, consecutive_failures = 0, next_attempt_on = NULL,"
                " last_failed_on = NULL WHERE id = ?",
                (
                    state,
                    sha,
                    entry.etag if entry else row["etag"],
                    entry.last_modified if entry else row["last_modified"],
                    now,
                    now,
                    row["id"],
                ),
            )
            _record_source(store, run_id, row["id"], state, None, time.monotonic() - started)
        progress(1)
    return counts


def _record_feed_failure(
    store: Store,
    run_id: int,
    row: Any,
    reason: str,
    now: str,
    today: dt.date,
    seconds: float,
    fetcher: Fetcher | None,
) -> None:
    with store.transaction():
        if fetcher is None:
            # Offline, a feed missing from the archive says nothing about the feed's health.
            store.db.execute(
                "UPDATE sources SET state = 'failed', reason = ?, last_attempt_at = ? WHERE id = ?",
                (reason, now, row["id"]),
            )
        else:
            after = health.after_failure(row["consecutive_failures"], row["last_failed_on"], today)
            store.db.execute(
                "UPDATE sources SET state = 'failed', reason = ?, last_attempt_at = ?, consecutive_failures = ?,"
                " last_failed_on = ?, next_attempt_on = ?, disabled_at = CASE WHEN ? THEN ? ELSE disabled_at END"
                " WHERE id = ?",
                (
                    reason,
                    now,
                    after.failures,
                    today.isoformat(),
                    after.next_attempt_on,
                    after.disabled,
                    now,
                    row["id"],
                ),
            )
        _record_source(store, run_id, row["id"], "failed", reason, seconds)


def parse_sources(store: Store, archive: Archive, now: str, max_entries: int) -> Counter[str]:
    """Turn new feed bodies and new or changed local files into pending documents."""
    check_xml_parser()
    counts: Counter[str] = Counter()
    feeds = store.query(
        "SELECT * FROM sources WHERE kind = 'feed' AND raw_sha IS NOT NULL"
        " AND raw_sha IS NOT parsed_sha AND COALESCE(state, '') != 'removed'"
    )
    for row in feeds:
        parsed = parse_feed(archive.read(row["raw_sha"]), row["location"])
        if parsed.bozo and not parsed.entries:
            log.warning("feed %s is ill-formed and yielded nothing: %s", row["location"], parsed.bozo)
        with store.transaction():
            for entry in parsed.entries[:max_entries]:
                if entry.guid and store.scalar(
                    "SELECT 1 FROM documents WHERE source_id = ? AND guid = ? AND id != ?",
                    (row["id"], entry.guid, entry.id),
                ):
                    counts["collapsed"] += 1  # the same GUID under a new URL: the same story
                    continue
                cursor = store.db.execute(
                    "INSERT INTO documents (id, source_id, url, guid, title, author, published, summary,"
                    " kind, state, first_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)"
                    " ON CONFLICT(id) DO NOTHING",
                    (
                        entry.id,
                        row["id"],
                        entry.url,
                        entry.guid,
                        entry.title,
                        entry.author,
                        entry.published,
                        entry.summary,
                        entry.kind,
                        now,
                    ),
                )
                counts["new_documents"] += cursor.rowcount
            store.db.execute(
                "UPDATE sources SET parsed_sha = ?, title = COALESCE(NULLIF(?, ''), title) WHERE id = ?",
                (row["raw_sha"], parsed.title, row["id"]),
            )
        counts["parsed"] += 1
    for row in store.query("SELECT * FROM sources WHERE kind = 'folder' AND COALESCE(state, '') != 'removed'"):
        counts.update(_scan_folder(store, archive, row["id"], Path(row["location"]), now))
    return counts


def _scan_folder(store: Store, archive: Archive, source: str, folder: Path, now: str) -> Counter[str]:
    counts: Counter[str] = Counter({"sources": 1})
    run_id = current_run(store)
    started = time.monotonic()
    if not folder.is_dir():
        with store.transaction():
            store.db.execute(
                "UPDATE sources SET state = 'failed', reason = 'folder missing', last_attempt_at = ? WHERE id = ?",
                (now, source),
            )
            _record_source(store, run_id, source, "failed", "folder missing", 0.0)
        counts["sources_failed"] += 1
        return counts
    known = {
        r["id"]: r["raw_sha"] for r in store.query("SELECT id, raw_sha FROM documents WHERE source_id = ?", (source,))
    }
    changed = 0
    with store.transaction():
        for path, kind in folder_files(folder):
            relative = path.relative_to(folder).as_posix()
            doc_id = hashlib.sha256(f"{source}|{relative}".encode()).hexdigest()[:16]
            try:
                sha = archive.put(path.read_bytes())
            except OSError as exc:
                log.warning("cannot read %s: %s", path, exc.strerror)
                continue
            if known.get(doc_id) == sha:
                continue
            changed += 1
            store.upsert(
                "documents",
                {
                    "id": doc_id,
                    "source_id": source,
                    "url": None,
                    "guid": relative,
                    "title": path.stem.replace("-", " ").replace("_", " "),
                    "published": None,
                    "kind": kind,
                    "raw_sha": sha,
                    "state": "pending",
                    "reason": None,
                    "first_seen": now,
                    "simhash": None,
                    "duplicate_of": None,
                },
            )
        state = "new" if changed else "not_modified"
        store.db.execute(
            "UPDATE sources SET state = ?, reason = NULL, last_attempt_at = ?, last_ok_at = ?,"
            " consecutive_failures = 0 WHERE id = ?",
            (state, now, now, source),
        )
        _record_source(store, run_id, source, state, None, time.monotonic() - started)
    counts["new_documents"] += changed
    counts[state] += 1
    counts[f"sources_{state}"] += 1
    return counts


PAGE_RESULTS = ("id", "state", "reason", "raw_sha", "kind", "how", "seconds")


def fetch_page_frame(batch: pd.DataFrame, archive: Archive, fetcher: Fetcher | None, now: str) -> pd.DataFrame:
    """(id, url) rows -> PAGE_RESULTS rows: each page fetched into the archive (or found there).

    The one batch function both engines call for pages; the store is not touched here, so Ray
    workers can run it. `state` is None for a page now in the archive, else blocked, too_large
    or extract_failed with its reason.
    """
    rows: list[tuple[Any, ...]] = []
    for doc_id, url in zip(batch["id"], batch["url"], strict=True):
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
                how, entry = _get(url, archive, fetcher, now)
        except FetchError as exc:
            log.warning("page failed: %s", exc)
            state = (
                "blocked"
                if exc.reason.startswith("blocked")
                else ("too_large" if exc.reason.startswith("too_large") else "extract_failed")
            )
            rows.append((doc_id, state, f"fetch: {exc.reason}", None, None, "failed", time.monotonic() - started))
            continue
        assert entry is not None  # noqa: S101 -- archive hits and downloads both carry an entry
        kind = _kind_from_type(entry.content_type)
        rows.append((doc_id, None, None, entry.sha256, kind, how, time.monotonic() - started))
    return pd.DataFrame(rows, columns=list(PAGE_RESULTS))


def save_page_results(store: Store, results: pd.DataFrame) -> Counter[str]:
    """Write fetch_page_frame's results to the store; returns fetched / archive_hits / failure counts."""
    counts: Counter[str] = Counter()
    with store.transaction():
        for r in results.itertuples(index=False):
            seconds = round(float(r.seconds), 3)
            if isinstance(r.state, str):  # None (or NaN, once through Parquet) means the page is in the archive
                counts[r.state] += 1
                store.db.execute(
                    "UPDATE documents SET state = ?, reason = ?, seconds = ?, fetch_attempts = fetch_attempts + 1"
                    " WHERE id = ?",
                    (r.state, r.reason, seconds, r.id),
                )
                continue
            counts["fetched" if r.how == "downloaded" else "archive_hits"] += 1
            store.db.execute(
                "UPDATE documents SET raw_sha = ?, kind = COALESCE(?, kind), seconds = ? WHERE id = ?",
                (r.raw_sha, r.kind, seconds, r.id),
            )
    return counts


def pending_pages(store: Store) -> pd.DataFrame:
    """(id, url) of every pending entry whose page has not been fetched yet."""
    rows = store.query("SELECT id, url FROM documents WHERE state = 'pending' AND raw_sha IS NULL AND url IS NOT NULL")
    return pd.DataFrame([dict(r) for r in rows], columns=["id", "url"])


PAGE_BATCH = 16  # pages per batch: results are committed a batch at a time, so a kill loses little


def fetch_documents(
    store: Store, archive: Archive, fetcher: Fetcher | None, now: str, progress: Progress = _noop
) -> Counter[str]:
    """Fetch the page or PDF behind every pending feed entry (the archive answers repeats).

    robots.txt is honoured for these pages; a refused, oversized or unreachable page ends in
    blocked, too_large or extract_failed with its reason.
    """
    counts: Counter[str] = Counter()
    pending = pending_pages(store)
    for start in range(0, len(pending), PAGE_BATCH):
        batch = pending.iloc[start : start + PAGE_BATCH]
        counts += save_page_results(store, fetch_page_frame(batch, archive, fetcher, now))
        progress(len(batch))
    return counts


# A page that failed for a reason that may pass (a timeout, a 5xx, a 429, a deferred host) is
# tried again on later nights, so one bad night never loses a document for good.
TRANSIENT_REASONS = ("fetch: timeout", "fetch: network", "fetch: http 5", "fetch: http 429", "fetch: deferred")
MAX_FETCH_ATTEMPTS = 3


def retry_transient_failures(store: Store) -> int:
    """Put pages that failed transiently (fewer than MAX_FETCH_ATTEMPTS times) back in the queue."""
    like = " OR ".join("reason LIKE ?" for _ in TRANSIENT_REASONS)
    with store.transaction():
        cursor = store.db.execute(
            "UPDATE documents SET state = 'pending' WHERE state = 'extract_failed' AND raw_sha IS NULL"
            f" AND url IS NOT NULL AND fetch_attempts < ? AND ({like})",
            (MAX_FETCH_ATTEMPTS, *(f"{r}%" for r in TRANSIENT_REASONS)),
        )
    return int(cursor.rowcount or 0)


def _kind_from_type(content_type: str) -> str | None:
    if "pdf" in content_type:
        return "pdf"
    if "html" in content_type:
        return "html"
    return None


def reclaim_dataset_documents(store: Store) -> int:
    """Documents the Ray engine extracted keep their text in its Parquet dataset, not here: for the
    local engine they go back to pending, to be extracted again from the raw archive."""
    with store.transaction():
        cursor = store.db.execute(
            "UPDATE documents SET state = 'pending', reason = NULL, simhash = NULL, duplicate_of = NULL"
            " WHERE state IN ('extracted', 'duplicate') AND text IS NULL AND text_sha IS NOT NULL"
            " AND raw_sha IS NOT NULL"
        )
    return int(cursor.rowcount or 0)


def extract_documents(
    store: Store, archive: Archive, now: str, progress: Progress = _noop, pool: ExtractPool | None = None
) -> Counter[str]:
    """Extract text from every pending document that has its raw body, in worker processes.

    Each result is committed as it arrives; then near-duplicates of kept documents collapse.

    Args:
        pool: the workers to use (tests pass small limits); None starts a default pool.
    """
    counts: Counter[str] = Counter()
    rows = {
        r["id"]: r
        for r in store.query(
            "SELECT id, raw_sha, kind, title, url, seconds FROM documents"
            " WHERE state = 'pending' AND raw_sha IS NOT NULL"
        )
    }
    tasks = []
    for row in rows.values():
        path = archive.path_of(row["raw_sha"])
        with path.open("rb") as handle:
            head = handle.read(4096)  # enough to sniff the kind; the body itself stays on disk
        tasks.append(Task(row["id"], path, sniff_kind(head, "", row["kind"] or "text")))
    kinds = {task.key: task.kind for task in tasks}
    done_here: set[str] = set()
    if tasks:
        workers = pool or ExtractPool()
        with workers:
            for outcome in workers.run(tasks):
                row = rows[outcome.key]
                seconds = (row["seconds"] or 0.0) + outcome.seconds  # its fetch, then its extraction
                _save_extracted(store, row, outcome.result, kinds[outcome.key], seconds, now)
                counts[outcome.result.state] += 1
                done_here.add(outcome.key)
                progress(1)
        counts["extract_longest_ms"] = int(workers.stats.longest_task_s * 1000)
        counts["extract_worker_peak_rss_kb"] = workers.stats.peak_worker_rss_kb
        counts["extract_timeouts"] = workers.stats.timeouts
    collapsed = dedupe.collapse(store)
    if collapsed["duplicate"]:
        ids = {r["id"] for r in store.query("SELECT id FROM documents WHERE state = 'duplicate'")}
        here = len(ids & done_here)
        counts["extracted"] -= min(here, counts["extracted"])
        counts["duplicate"] += collapsed["duplicate"]
    return +counts


def _save_extracted(store: Store, row: Any, result: Extracted, kind: str, seconds: float, now: str) -> None:
    fields = extracted_fields(result, kind, row["title"], row["url"])
    with store.transaction():
        store.db.execute(
            "UPDATE documents SET state = ?, reason = ?, text = ?, text_sha = ?, words = ?, kind = ?,"
            " title = ?, extracted_at = ?, seconds = ? WHERE id = ?",
            (
                fields["state"], fields["reason"], fields["text"], fields["text_sha"], fields["words"],
                fields["kind"], fields["title"], now, round(seconds, 3), row["id"],
            ),
        )  # fmt: skip
    if result.state != "extracted":
        log.warning("extract failed for %s: %s", row["url"] or row["id"], result.reason)


def pending_count(store: Store, sql_where: str) -> int:
    return int(store.scalar(f"SELECT COUNT(*) FROM documents WHERE {sql_where}") or 0)


def use_feed_text(store: Store) -> Counter[str]:
    """With `fetch_articles = false`: a pending entry's own feed text becomes its document text."""
    counts: Counter[str] = Counter()
    rows = store.query("SELECT id, summary FROM documents WHERE state = 'pending' AND raw_sha IS NULL")
    with store.transaction():
        for row in rows:
            text = (row["summary"] or "").strip()
            state = "extracted" if text else "extract_failed"
            store.db.execute(
                "UPDATE documents SET state = ?, reason = ?, text = ?, text_sha = ?, words = ?, kind = 'feed'"
                " WHERE id = ?",
                (
                    state,
                    None if text else "feed entry has no text and fetch_articles is false",
                    text or None,
                    hashlib.sha256(text.encode()).hexdigest() if text else None,
                    len(text.split()),
                    row["id"],
                ),
            )
            counts[state] += 1
    return counts
