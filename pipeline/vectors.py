"""Embed stage: cut extracted documents into passages and embed what the vector cache lacks.

Vectors are keyed by (model, SHA-256 of the passage text), so unchanged text is never embedded
twice, and a second model simply gets its own cache rows.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.config import EmbedSettings
from pipeline.embed import Embedder
from pipeline.extract import passages
from pipeline.store import Store

log = logging.getLogger(__name__)

# Passages per encode call and per commit. Large enough that the fast backends keep every core
# busy between calls (measured: 64 -> 256 took OpenVINO int8 from ~64 to ~76 passages/s), small
# enough that a killed run loses little work.
BATCH = 256


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cut_passages(store: Store, settings: EmbedSettings) -> int:
    """(Re)cut passages for documents whose text changed since they were last cut."""
    rows = store.query(
        "SELECT d.id, d.title, d.text, d.text_sha FROM documents d WHERE d.state = 'extracted'"
        " AND d.text_sha IS NOT (SELECT p.text_sha FROM passages p WHERE p.doc_id = d.id AND p.idx = 0)"
    )
    for start in range(0, len(rows), BATCH):
        with store.transaction():
            for row in rows[start : start + BATCH]:
                store.db.execute("DELETE FROM passages WHERE doc_id = ?", (row["id"],))
                cut = passages(
                    row["title"] or "",
                    row["text"] or "",
                    settings.passage_words,
                    settings.passage_overlap,
                    settings.max_passages,
                )
                store.db.executemany(
                    "INSERT INTO passages (doc_id, idx, text, sha, text_sha) VALUES (?, ?, ?, ?, ?)",
                    [(row["id"], i, p, text_sha(p), row["text_sha"]) for i, p in enumerate(cut)],
                )
    return len(rows)


def missing_texts(store: Store, model: str, texts: dict[str, str]) -> dict[str, str]:
    """The subset of sha -> text with no cached vector for `model`."""
    cached = store.vectors(model, texts)
    return {sha: text for sha, text in texts.items() if sha not in cached}


def passage_texts_without_vectors(store: Store, model: str) -> dict[str, str]:
    rows = store.query(
        "SELECT p.sha, p.text FROM passages p JOIN documents d ON d.id = p.doc_id"
        " WHERE d.state = 'extracted' AND NOT EXISTS"
        " (SELECT 1 FROM vectors v WHERE v.model = ? AND v.sha = p.sha)",
        (model,),
    )
    return {r["sha"]: r["text"] for r in rows}


def embed_texts(
    store: Store,
    embedder: Embedder,
    texts: dict[str, str],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Embed and cache `texts` (sha -> text) in committed batches; returns how many were embedded.

    Texts are sorted by length so each batch pads to similar lengths (less wasted compute).
    """
    items = sorted(texts.items(), key=lambda kv: len(kv[1]))
    for start in range(0, len(items), BATCH):
        batch = items[start : start + BATCH]
        vectors = embedder.encode([t for _, t in batch])
        with store.transaction():
            store.put_vectors(embedder.name, zip([s for s, _ in batch], vectors, strict=True))
        if progress:
            progress(len(batch))
    return len(items)


@dataclass(frozen=True, slots=True)
class Corpus:
    """Extracted documents with their passage matrix; every matrix keeps its ids."""

    docs: pd.DataFrame  # DOC_COLUMNS from rank.py, one row per document
    passage_texts: list[str]
    passage_vectors: np.ndarray  # (n_passages, dim)
    passage_doc: np.ndarray  # (n_passages,) row in `docs`
    doc_vectors: np.ndarray  # (n_docs, dim) normalised mean of each document's passages


def load_corpus(store: Store, model: str) -> Corpus:
    """Every extracted document that has all its passage vectors for `model`."""
    docs = pd.DataFrame(
        [
            dict(r)
            for r in store.query(
                "SELECT d.id, d.title, d.url, d.source_id, COALESCE(s.title, s.location) AS source_title,"
                " d.published, d.words, d.text, d.kind FROM documents d JOIN sources s ON s.id = d.source_id"
                " WHERE d.state = 'extracted' ORDER BY d.id"
            )
        ],
        columns=[
            "id",
            "title",
            "url",
            "source_id",
            "source_title",
            "published",
            "words",
            "text",
            "kind",
        ],
    )
    rows = store.query(
        "SELECT p.doc_id, p.text, v.vec FROM passages p JOIN documents d ON d.id = p.doc_id"
        " JOIN vectors v ON v.model = ? AND v.sha = p.sha WHERE d.state = 'extracted' ORDER BY p.doc_id, p.idx",
        (model,),
    )
    totals = {r["doc_id"]: r["n"] for r in store.query("SELECT doc_id, COUNT(*) AS n FROM passages GROUP BY doc_id")}
    found: dict[str, int] = {}
    for r in rows:
        found[r["doc_id"]] = found.get(r["doc_id"], 0) + 1
    # A document counts only with every passage embedded: after a run killed mid-batch, scoring
    # it on some of its passages would silently rank it lower than it deserves.
    complete = {doc_id for doc_id, n in found.items() if n == totals.get(doc_id)}
    if len(complete) < len(docs):
        log.info("%d documents lack some vectors; the embed stage will finish them", len(docs) - len(complete))
        docs = docs[docs["id"].isin(complete)].reset_index(drop=True)
        rows = [r for r in rows if r["doc_id"] in complete]
    position = {doc_id: i for i, doc_id in enumerate(docs["id"])}
    texts = [r["text"] for r in rows]
    matrix = (
        np.stack([np.frombuffer(r["vec"], dtype=np.float32) for r in rows]) if rows else np.zeros((0, 0), np.float32)
    )
    owner = np.array([position[r["doc_id"]] for r in rows], dtype=np.int64)
    return Corpus(docs, texts, matrix, owner, doc_means(matrix, owner, len(docs)))


def doc_means(matrix: np.ndarray, owner: np.ndarray, n_docs: int) -> np.ndarray:
    if not len(matrix):
        return np.zeros((n_docs, 0), dtype=np.float32)
    sums = np.zeros((n_docs, matrix.shape[1]), dtype=np.float32)
    np.add.at(sums, owner, matrix)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return sums / np.where(norms == 0, 1, norms)
