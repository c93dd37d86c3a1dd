"""Ingest stages with their side effects: fetch feeds and pages, parse feeds, extract text.

Each stage reads what is missing from the store and writes its results back in small committed
batches, so it can be re-run at any time and does no work twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline import dedupe, folders, health, search
from pipeline.archive import Archive
from pipeline.db import documents
from pipeline.db import sources as source_rows
from pipeline.db.states import DocState, SourceKind, SourceState
from pipeline.errors import FetchError
from pipeline.extract import Extracted, extracted_fields, sniff_kind
from pipeline.feeds import ParsedFeed, check_xml_parser
from pipeline.fetch import Fetcher
from pipeline.pages import download
from pipeline.sources import Source, document_path
from pipeline.store import Store
from pipeline.workers import FEED, ExtractPool, Task

log = logging.getLogger(__name__)

Progress = Callable[[int], None]


def _noop(_: int) -> None:
    return None


def sync_sources(store: Store, sources: list[Source]) -> None:
    """Record the configured sources; ones no longer configured are kept but marked removed."""
    with store.transaction():
        for source in sources:
            source_rows.put_configured(store, source.id, source.kind, source.location, source.title, source.origin)
        source_rows.mark_removed_except(store, [s.id for s in sources])


def fetch_feeds(
    store: Store,
    archive: Archive,
    fetcher: Fetcher | None,
    now: str,
    progress: Progress = _noop,
    *,
    search_every_days: int = 1,
) -> Counter[str]:
    """Fetch every due feed with a conditional GET; each source ends in exactly one recorded state.

    States: new, not_modified, failed (with a reason), backoff_skip, disabled (see `health`). A search
    source (pipeline/search.py) fetched fine less than `search_every_days` days ago is left as it is
    and counted as `search_not_due`: a service is asked each question at most that often.
    """
    counts: Counter[str] = Counter()
    today = dt.date.fromisoformat(now[:10])
    run_id = store.current_run()
    rows = store.query(
        "SELECT * FROM sources WHERE kind = ? AND COALESCE(state, '') != ?", (SourceKind.FEED, SourceState.REMOVED)
    )
    for row in rows:
        if search.is_search(row["origin"]) and row["last_ok_at"]:
            if (today - dt.date.fromisoformat(row["last_ok_at"][:10])).days < search_every_days:
                counts["search_not_due"] += 1
                progress(1)
                continue
        counts["sources"] += 1
        verdict = health.verdict(row["disabled_at"], row["next_attempt_on"], today, row["reason"])
        if verdict != "due":
            failures = row["consecutive_failures"]
            why = (
                f"disabled after {failures} failures in a row ({row['reason']}); re-enable with `gifts enable`"
                if verdict == SourceState.DISABLED
                else f"backoff until {row['next_attempt_on']} after {failures} failures ({row['reason']})"
            )
            with store.transaction():
                source_rows.set_state(store, row["id"], verdict)
                store.record_source_run(run_id, row["id"], verdict, why, 0.0)
            counts[f"sources_{verdict}"] += 1
            progress(1)
            continue
        started = time.monotonic()
        try:
            how, entry = download(row["location"], archive, fetcher, now, row["etag"], row["last_modified"])
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
        state = SourceState.NEW if changed else SourceState.NOT_MODIFIED
        if state == SourceState.NOT_MODIFIED:
            counts[SourceState.NOT_MODIFIED] += 1
        # The same bytes that were quarantined stay quarantined (and say why) until the feed changes.
        quarantined = not changed and row["state"] == SourceState.QUARANTINED and row["parsed_sha"] == sha
        reason = row["reason"] if quarantined else None
        if quarantined:
            state = SourceState.QUARANTINED
        counts[f"sources_{state}"] += 1
        with store.transaction():
            source_rows.record_fetched(
                store,
                row["id"],
                state,
                reason,
                sha,
                entry.etag if entry else row["etag"],
                entry.last_modified if entry else row["last_modified"],
                now,
            )
            store.record_source_run(run_id, row["id"], state, reason, time.monotonic() - started)
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
        if fetcher is None or health.refused_by_configuration(reason):
            # Offline, a feed missing from the archive says nothing about the feed's health; nor does
            # a refusal by the fetch settings (a private address, a scheme): it is checked again each
            # night, so it is fetched as soon as the configuration allows it (see `health`).
            source_rows.mark_failed(store, row["id"], reason, now)
        else:
            after = health.after_failure(row["consecutive_failures"], row["last_failed_on"], today)
            source_rows.record_failure(
                store,
                row["id"],
                reason,
                now,
                failures=after.failures,
                failed_on=today.isoformat(),
                next_attempt_on=after.next_attempt_on,
                disabled=after.disabled,
            )
        store.record_source_run(run_id, row["id"], SourceState.FAILED, reason, seconds)


def parse_sources(
    store: Store,
    archive: Archive,
    now: str,
    max_entries: int,
    pool: ExtractPool | None = None,
    max_bytes: int | None = None,
) -> Counter[str]:
    """Turn new feed bodies and new or changed local files into pending documents.

    Feeds are parsed in worker processes with the extraction limits (`workers`). A feed that cannot
    be parsed (refused, over its time or memory, or failing to store) is quarantined: recorded as
    failed with the reason and its body's hash, so no later night parses the same bytes again, and
    the run goes on.

    Args:
        pool: the workers to use (tests pass small limits); None starts a default pool.
        max_bytes: the size cap for a folder's files (`fetch.max_bytes`, as for fetched bodies).
    """
    check_xml_parser()
    counts: Counter[str] = Counter()
    with store.transaction():
        # Entries stored before links were checked here waited for a fetch that never came.
        documents.block_linkless_entries(store)
    feeds = {
        row["id"]: row
        for row in store.query(
            "SELECT * FROM sources WHERE kind = ? AND raw_sha IS NOT NULL"
            " AND raw_sha IS NOT parsed_sha AND COALESCE(state, '') != ?",
            (SourceKind.FEED, SourceState.REMOVED),
        )
    }
    tasks = [
        Task(row["id"], archive.path_of(row["raw_sha"]), FEED, url=row["location"], max_entries=max_entries)
        for row in feeds.values()
        if archive.has(row["raw_sha"])
    ]
    for row in feeds.values():
        if not archive.has(row["raw_sha"]):
            counts.update(_quarantine_feed(store, row, "its body is missing from the raw archive"))
    if tasks:
        with pool or ExtractPool() as workers:
            for outcome in workers.run(tasks):
                row = feeds[outcome.key]
                if outcome.feed is None:
                    counts.update(_quarantine_feed(store, row, outcome.result.reason or "feed could not be parsed"))
                    continue
                try:
                    counts.update(_store_entries(store, row, outcome.feed, now))
                except sqlite3.Error as exc:
                    reason = f"cannot store its entries: {type(exc).__name__}: {exc}"
                    counts.update(_quarantine_feed(store, row, reason))
                    continue
                counts["parsed"] += 1
    for row in store.query(
        "SELECT * FROM sources WHERE kind = ? AND COALESCE(state, '') != ?", (SourceKind.FOLDER, SourceState.REMOVED)
    ):
        counts.update(folders.scan_folder(store, archive, row["id"], Path(row["location"]), now, max_bytes))
    return counts


def _store_entries(store: Store, row: Any, parsed: ParsedFeed, now: str) -> Counter[str]:
    """One feed's entries become pending documents, in one transaction with its parsed hash."""
    counts: Counter[str] = Counter()
    if parsed.bozo and not parsed.entries:
        log.warning("feed %s is ill-formed and yielded nothing: %s", row["location"], parsed.bozo)
    with store.transaction():
        for entry in parsed.entries:
            if entry.guid and store.scalar(
                "SELECT 1 FROM documents WHERE source_id = ? AND guid = ? AND id != ?",
                (row["id"], entry.guid, entry.id),
            ):
                counts["collapsed"] += 1  # the same GUID under a new URL: the same story
                continue
            added = documents.insert_entry(
                store,
                doc_id=entry.id,
                source_id=row["id"],
                url=entry.url,
                guid=entry.guid,
                title=entry.title,
                author=entry.author,
                published=entry.published,
                summary=entry.summary,
                kind=entry.kind,
                state=DocState.BLOCKED if entry.reason else DocState.PENDING,
                reason=entry.reason,
                first_seen=now,
            )
            counts["new_documents"] += added
            if entry.reason:
                counts[DocState.BLOCKED] += added
        source_rows.set_parsed(store, row["id"], row["raw_sha"], parsed.title)
    return counts


def _quarantine_feed(store: Store, row: Any, reason: str) -> Counter[str]:
    """Record why this body failed, with its hash, so the same bytes are never parsed again.

    Returns the change to the run's source counts: this run's state for the source (from the fetch
    stage, when it ran) becomes `quarantined`, so every source still ends in exactly one state.
    """
    log.warning("feed %s quarantined: %s", row["location"], reason)
    run_id = store.current_run()
    before = store.scalar("SELECT state FROM source_runs WHERE run_id = ? AND source_id = ?", (run_id, row["id"]))
    seconds = store.scalar("SELECT seconds FROM source_runs WHERE run_id = ? AND source_id = ?", (run_id, row["id"]))
    with store.transaction():
        source_rows.quarantine(store, row["id"], reason, row["raw_sha"])
        store.record_source_run(run_id, row["id"], SourceState.QUARANTINED, reason, float(seconds or 0.0))
    change: Counter[str] = Counter({f"sources_{SourceState.QUARANTINED}": 1})
    if before:
        change[f"sources_{before}"] -= 1
    else:
        change["sources"] += 1
    return change


def reclaim_dataset_documents(store: Store) -> int:
    """Documents the Ray engine extracted keep their text in its Parquet dataset, not here: for the
    local engine they go back to pending, to be extracted again from the raw archive."""
    with store.transaction():
        return documents.reclaim_from_dataset(store)


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
            "SELECT d.id, d.raw_sha, d.kind, d.title, d.url, d.seconds, d.guid, s.kind AS source_kind,"
            " s.location AS source_location FROM documents d LEFT JOIN sources s ON s.id = d.source_id"
            " WHERE d.state = ? AND d.raw_sha IS NOT NULL",
            (DocState.PENDING,),
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
    if collapsed[DocState.DUPLICATE]:
        ids = {r["id"] for r in store.query("SELECT id FROM documents WHERE state = ?", (DocState.DUPLICATE,))}
        here = len(ids & done_here)
        counts[DocState.EXTRACTED] -= min(here, counts[DocState.EXTRACTED])
        counts[DocState.DUPLICATE] += collapsed[DocState.DUPLICATE]
    return +counts


def _save_extracted(store: Store, row: Any, result: Extracted, kind: str, seconds: float, now: str) -> None:
    fields = extracted_fields(result, kind, row["title"], row["url"])
    with store.transaction():
        documents.mark_extracted(store, row["id"], fields, now, round(seconds, 3))
    if result.state != DocState.EXTRACTED:
        where = row["url"] or document_path(row["source_kind"], row["source_location"], row["guid"]) or row["id"]
        log.warning("extract failed for %s: %s", where, result.reason)


def use_feed_text(store: Store) -> Counter[str]:
    """With `fetch_articles = false`: a pending entry's own feed text becomes its document text."""
    counts: Counter[str] = Counter()
    rows = store.query("SELECT id, summary FROM documents WHERE state = ? AND raw_sha IS NULL", (DocState.PENDING,))
    with store.transaction():
        for row in rows:
            text = (row["summary"] or "").strip()
            state = DocState.EXTRACTED if text else DocState.EXTRACT_FAILED
            documents.use_feed_text(
                store,
                row["id"],
                state,
                None if text else "feed entry has no text and fetch_articles is false",
                text or None,
                hashlib.sha256(text.encode()).hexdigest() if text else None,
                len(text.split()),
            )
            counts[state] += 1
    return counts
