"""Row changes of `documents`: new feed entries, page fetches, extraction, near-duplicates, retries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.db.states import DocState, SourceKind
from pipeline.store import Store


def insert_entry(
    store: Store,
    *,
    doc_id: str,
    source_id: str,
    url: str | None,
    guid: str | None,
    title: str,
    author: str | None,
    published: str | None,
    summary: str | None,
    kind: str | None,
    state: str,
    reason: str | None,
    first_seen: str,
) -> int:
    """A feed entry becomes a document unless its id is known; returns 1 when it was new, else 0."""
    cursor = store.db.execute(
        "INSERT INTO documents (id, source_id, url, guid, title, author, published, summary,"
        " kind, state, reason, first_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(id) DO NOTHING",
        (doc_id, source_id, url, guid, title, author, published, summary, kind, state, reason, first_seen),
    )
    return int(cursor.rowcount)


def block_linkless_entries(store: Store) -> None:
    """Feed entries stored pending with neither a link nor a body are blocked: no fetch will come."""
    store.db.execute(
        "UPDATE documents SET state = ?, reason = 'entry has no link'"
        " WHERE state = ? AND url IS NULL AND raw_sha IS NULL"
        " AND source_id IN (SELECT id FROM sources WHERE kind = ?)",
        (DocState.BLOCKED, DocState.PENDING, SourceKind.FEED),
    )


def record_page(store: Store, doc_id: str, raw_sha: str, kind: str | None, seconds: float) -> None:
    """The entry's page is in the raw archive (`kind` None keeps the kind the feed gave)."""
    store.db.execute(
        "UPDATE documents SET raw_sha = ?, kind = COALESCE(?, kind), seconds = ? WHERE id = ?",
        (raw_sha, kind, seconds, doc_id),
    )


def record_page_failure(store: Store, doc_id: str, state: str, reason: str | None, seconds: float) -> None:
    """The entry's page could not be fetched (blocked, too_large, extract_failed): one more attempt counted."""
    store.db.execute(
        "UPDATE documents SET state = ?, reason = ?, seconds = ?, fetch_attempts = fetch_attempts + 1 WHERE id = ?",
        (state, reason, seconds, doc_id),
    )


def retry_pages(store: Store, reason_prefixes: Sequence[str], max_attempts: int) -> int:
    """Pages that failed with one of these reasons, fewer than `max_attempts` times, go back to pending."""
    like = " OR ".join("reason LIKE ?" for _ in reason_prefixes)
    cursor = store.db.execute(
        "UPDATE documents SET state = ? WHERE state = ? AND raw_sha IS NULL"
        f" AND url IS NOT NULL AND fetch_attempts < ? AND ({like})",
        (DocState.PENDING, DocState.EXTRACT_FAILED, max_attempts, *(f"{r}%" for r in reason_prefixes)),
    )
    return int(cursor.rowcount or 0)


def mark_extracted(store: Store, doc_id: str, fields: Mapping[str, Any], at: str, seconds: float | None = None) -> None:
    """An extraction's outcome, whichever engine ran it.

    Args:
        fields: state, reason, text_sha, words, kind, title, and text (None where the text is kept
            elsewhere: the Ray engine's dataset); without a `text` key the column is left as it is.
        seconds: how long the document held the run (its fetch and extraction); None leaves it as it is.
    """
    columns = ["state", "reason", *(["text"] if "text" in fields else []), "text_sha", "words", "kind", "title"]
    values = [fields[c] for c in columns] + [at]
    columns.append("extracted_at")
    if seconds is not None:
        columns.append("seconds")
        values.append(seconds)
    store.db.execute(
        f"UPDATE documents SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?",
        (*values, doc_id),
    )


def use_feed_text(
    store: Store, doc_id: str, state: str, reason: str | None, text: str | None, text_sha: str | None, words: int
) -> None:
    """The entry's own feed text is its document text (`fetch_articles = false`)."""
    store.db.execute(
        "UPDATE documents SET state = ?, reason = ?, text = ?, text_sha = ?, words = ?, kind = 'feed' WHERE id = ?",
        (state, reason, text, text_sha, words, doc_id),
    )


def reclaim_from_dataset(store: Store) -> int:
    """Documents extracted with their text kept elsewhere (the Ray engine's dataset) go back to pending."""
    cursor = store.db.execute(
        "UPDATE documents SET state = ?, reason = NULL, simhash = NULL, duplicate_of = NULL"
        " WHERE state IN (?, ?) AND text IS NULL AND text_sha IS NOT NULL AND raw_sha IS NOT NULL",
        (DocState.PENDING, DocState.EXTRACTED, DocState.DUPLICATE),
    )
    return int(cursor.rowcount or 0)


def set_simhash(store: Store, doc_id: str, value: int) -> None:
    store.db.execute("UPDATE documents SET simhash = ? WHERE id = ?", (value, doc_id))


def mark_duplicate(store: Store, doc_id: str, value: int, original: str) -> None:
    """The document repeats `original` (the story's earliest): it leaves the ranking, saying which it repeats."""
    store.db.execute(
        "UPDATE documents SET simhash = ?, state = ?, duplicate_of = ?, reason = ? WHERE id = ?",
        (value, DocState.DUPLICATE, original, f"near-duplicate of {original}", doc_id),
    )


# -- what waits (the engines' progress totals) ------------------------------------------------------
def count_waiting_for_page(store: Store) -> int:
    """Pending feed entries whose page is still to be fetched."""
    return int(
        store.scalar(
            "SELECT COUNT(*) FROM documents WHERE state = ? AND raw_sha IS NULL AND url IS NOT NULL",
            (DocState.PENDING,),
        )
        or 0
    )


def count_waiting_for_extraction(store: Store) -> int:
    """Pending documents whose body is in the raw archive."""
    return int(
        store.scalar("SELECT COUNT(*) FROM documents WHERE state = ? AND raw_sha IS NOT NULL", (DocState.PENDING,)) or 0
    )
