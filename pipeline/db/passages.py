"""Row changes of `passages`: a document's passages are cut again as one batch."""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.store import Store


def replace(store: Store, doc_ids: Iterable[str], rows: Iterable[tuple[str, int, str, str, str]]) -> None:
    """These documents' passages become `rows` (doc_id, idx, text, sha, text_sha)."""
    store.db.executemany("DELETE FROM passages WHERE doc_id = ?", [(d,) for d in doc_ids])
    store.db.executemany("INSERT INTO passages (doc_id, idx, text, sha, text_sha) VALUES (?, ?, ?, ?, ?)", rows)
