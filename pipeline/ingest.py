"""Ingest stages with their side effects: fetch feeds and pages, parse feeds, extract text.

Each stage reads what is missing from the store and writes its results back in small committed
batches, so it can be re-run at any time and does no work twice.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from pipeline.archive import Archive, ArchiveEntry
from pipeline.errors import FetchError
from pipeline.extract import extract, sniff_kind
from pipeline.feeds import parse_feed
from pipeline.fetch import Fetcher
from pipeline.sources import Source, folder_files
from pipeline.store import Store

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


def fetch_feeds(
    store: Store, archive: Archive, fetcher: Fetcher | None, now: str, progress: Progress = _noop
) -> Counter[str]:
    """Fetch every feed source with a conditional GET; one recorded state per source."""
    counts: Counter[str] = Counter()
    rows = store.query("SELECT * FROM sources WHERE kind = 'feed' AND COALESCE(state, '') != 'removed'")
    for row in rows:
        url = row["location"]
        try:
            how, entry = _get(url, archive, fetcher, now, row["etag"], row["last_modified"])
        except FetchError as exc:
            log.warning("feed failed: %s", exc)
            counts["sources_failed"] += 1
            with store.transaction():
                store.db.execute(
                    "UPDATE sources SET state = 'failed', reason = ?, last_attempt_at = ?,"
                    " consecutive_failures = consecutive_failures + 1 WHERE id = ?",
                    (exc.reason, now, row["id"]),
                )
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
        with store.transaction():
            store.db.execute(
                "UPDATE sources SET state = ?, reason = NULL, raw_sha = ?, etag = ?, last_modified = ?,"
                " last_attempt_at = ?, last_ok_at = ?, consecutive_failures = 0 WHERE id = ?",
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
        progress(1)
    return counts


def parse_sources(store: Store, archive: Archive, now: str, max_entries: int) -> Counter[str]:
    """Turn new feed bodies and new or changed local files into pending documents."""
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
    counts: Counter[str] = Counter()
    if not folder.is_dir():
        with store.transaction():
            store.db.execute(
                "UPDATE sources SET state = 'failed', reason = 'folder missing', last_attempt_at = ? WHERE id = ?",
                (now, source),
            )
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
            sha = archive.put(path.read_bytes())
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
                },
            )
        store.db.execute(
            "UPDATE sources SET state = ?, reason = NULL, last_attempt_at = ?, last_ok_at = ?,"
            " consecutive_failures = 0 WHERE id = ?",
            ("new" if changed else "not_modified", now, now, source),
        )
    counts["new_documents"] += changed
    counts["new" if changed else "not_modified"] += 1
    return counts


def fetch_documents(
    store: Store, archive: Archive, fetcher: Fetcher | None, now: str, progress: Progress = _noop
) -> Counter[str]:
    """Fetch the page or PDF behind every pending feed entry (the archive answers repeats)."""
    counts: Counter[str] = Counter()
    rows = store.query("SELECT id, url FROM documents WHERE state = 'pending' AND raw_sha IS NULL AND url IS NOT NULL")
    for row in rows:
        try:
            # An article's page is fetched once: if the archive has it, later runs reuse it.
            entry = archive.get(row["url"])
            if entry is not None and archive.has(entry.sha256):
                counts["archive_hits"] += 1
            else:
                how, entry = _get(row["url"], archive, fetcher, now)
                counts["fetched" if how == "downloaded" else "archive_hits"] += 1
        except FetchError as exc:
            log.warning("page failed: %s", exc)
            state = (
                "blocked"
                if exc.reason.startswith("blocked")
                else ("too_large" if exc.reason.startswith("too_large") else "extract_failed")
            )
            counts[state] += 1
            with store.transaction():
                store.db.execute(
                    "UPDATE documents SET state = ?, reason = ? WHERE id = ?",
                    (state, f"fetch: {exc.reason}", row["id"]),
                )
            progress(1)
            continue
        assert entry is not None  # noqa: S101 -- archive hits and downloads both carry an entry
        with store.transaction():
            store.db.execute(
                "UPDATE documents SET raw_sha = ?, kind = COALESCE(?, kind) WHERE id = ?",
                (entry.sha256, _kind_from_type(entry.content_type), row["id"]),
            )
        progress(1)
    return counts


def _kind_from_type(content_type: str) -> str | None:
    if "pdf" in content_type:
        return "pdf"
    if "html" in content_type:
        return "html"
    return None


def extract_documents(store: Store, archive: Archive, now: str, progress: Progress = _noop) -> Counter[str]:
    """Extract text from every pending document that has its raw body."""
    counts: Counter[str] = Counter()
    rows = store.query(
        "SELECT id, raw_sha, kind, title, url FROM documents WHERE state = 'pending' AND raw_sha IS NOT NULL"
    )
    for row in rows:
        body = archive.read(row["raw_sha"])
        kind = sniff_kind(body, "", row["kind"] or "text")
        result = extract(body, kind)
        counts[result.state] += 1
        text = result.text
        title = row["title"]
        if result.title and (row["url"] is None or not title):
            title = result.title  # local files have only a file name; the document knows better
        words = len(text.split())
        with store.transaction():
            store.db.execute(
                "UPDATE documents SET state = ?, reason = ?, text = ?, text_sha = ?, words = ?, kind = ?,"
                " title = ?, extracted_at = ? WHERE id = ?",
                (
                    result.state,
                    result.reason,
                    text or None,
                    hashlib.sha256(text.encode()).hexdigest() if text else None,
                    words,
                    kind,
                    title,
                    now,
                    row["id"],
                ),
            )
        if result.state != "extracted":
            log.warning("extract failed for %s: %s", row["url"] or row["id"], result.reason)
        progress(1)
    return counts


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
