"""Embed stage: cut extracted documents into passages, embed what the vector cache lacks, and load
the rank stage's corpus.

Vectors are keyed by (model, SHA-256 of the passage text), so unchanged text is never embedded
twice, and a second model simply gets its own cache rows. The frame functions here (`passage_frame`,
`embed_frame`, `corpus_frame`) are the ones both engines call: the local engine on batches from the
store, the Ray engine on Ray Data blocks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.config import EmbedSettings
from pipeline.db import passages as passage_rows
from pipeline.db.states import DocState
from pipeline.embed import Embedder
from pipeline.passages import passages, text_sha
from pipeline.rank import DOC_COLUMNS
from pipeline.store import Store

__all__ = ["Corpus", "cut_passages", "doc_means", "embed_texts", "load_corpus", "text_sha"]

log = logging.getLogger(__name__)

# Passages per encode call and per commit. Large enough that the fast backends keep every core
# busy between calls (measured: 64 -> 256 took OpenVINO int8 from ~64 to ~76 passages/s), small
# enough that a killed run loses little work.
BATCH = 256
# Columns of the passage and vector frames, in order: the Ray engine writes exactly these to Parquet.
PASSAGES = ("doc_id", "idx", "text", "sha", "text_sha")
VECTORS = ("sha", "vector")


def passage_frame(docs: pd.DataFrame, settings: EmbedSettings) -> pd.DataFrame:
    """Documents (id, title, text, text_sha) -> their passages, cut as the embed stage cuts them."""
    rows: list[tuple[str, int, str, str, str]] = []
    for doc in docs.itertuples(index=False):
        cut = passages(
            doc.title or "", doc.text or "", settings.passage_words, settings.passage_overlap, settings.max_passages
        )
        rows.extend((doc.id, i, p, text_sha(p), doc.text_sha) for i, p in enumerate(cut))
    return pd.DataFrame(rows, columns=list(PASSAGES))


def embed_frame(batch: pd.DataFrame, embedder: Embedder) -> pd.DataFrame:
    """(sha, text) rows -> (sha, vector) rows, vectors as float32 lists (what Parquet stores)."""
    if batch.empty:
        return pd.DataFrame(columns=list(VECTORS))
    matrix = np.asarray(embedder.encode(batch["text"].tolist()), dtype=np.float32)
    return pd.DataFrame({"sha": batch["sha"].to_numpy(), "vector": list(matrix)})


def cut_passages(store: Store, settings: EmbedSettings) -> int:
    """(Re)cut passages for documents whose text changed since they were last cut."""
    rows = store.query(
        "SELECT d.id, d.title, d.text, d.text_sha FROM documents d WHERE d.state = ?"
        " AND d.text_sha IS NOT (SELECT p.text_sha FROM passages p WHERE p.doc_id = d.id AND p.idx = 0)",
        (DocState.EXTRACTED,),
    )
    for start in range(0, len(rows), BATCH):
        chunk = [dict(r) for r in rows[start : start + BATCH]]
        batch = pd.DataFrame(chunk, columns=["id", "title", "text", "text_sha"])
        cut = passage_frame(batch, settings)
        with store.transaction():
            passage_rows.replace(store, batch["id"], cut.itertuples(index=False, name=None))
    return len(rows)


def missing_texts(store: Store, model: str, texts: dict[str, str]) -> dict[str, str]:
    """The subset of sha -> text with no cached vector for `model`."""
    cached = store.vectors(model, texts)
    return {sha: text for sha, text in texts.items() if sha not in cached}


def passage_texts_without_vectors(store: Store, model: str) -> dict[str, str]:
    rows = store.query(
        "SELECT p.sha, p.text FROM passages p JOIN documents d ON d.id = p.doc_id"
        " WHERE d.state = ? AND NOT EXISTS"
        " (SELECT 1 FROM vectors v WHERE v.model = ? AND v.sha = p.sha)",
        (DocState.EXTRACTED, model),
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
        batch = pd.DataFrame(items[start : start + BATCH], columns=["sha", "text"])
        out = embed_frame(batch, embedder)
        with store.transaction():
            store.put_vectors(embedder.name, zip(out["sha"], out["vector"], strict=True))
        if progress:
            progress(len(batch))
    return len(items)


def load_corpus(store: Store, model: str) -> Corpus:
    """Every extracted document that has all its passage vectors for `model`."""
    docs = pd.DataFrame(
        [
            dict(r)
            for r in store.query(
                "SELECT d.id, d.title, d.url, d.source_id, COALESCE(s.title, s.location) AS source_title,"
                " d.published, d.words, d.text, d.kind FROM documents d JOIN sources s ON s.id = d.source_id"
                " WHERE d.state = ? ORDER BY d.id",
                (DocState.EXTRACTED,),
            )
        ],
        columns=list(DOC_COLUMNS),
    )
    parts = pd.DataFrame(
        [dict(r) for r in store.query("SELECT doc_id, idx, text, sha FROM passages")],
        columns=["doc_id", "idx", "text", "sha"],
    )
    found = store.vectors(model, set(parts["sha"]))
    return corpus_frame(docs, parts, found)


@dataclass(frozen=True, slots=True)
class Corpus:
    """Extracted documents with their passage matrix; every matrix keeps its ids."""

    docs: pd.DataFrame  # DOC_COLUMNS from rank.py, one row per document
    passage_texts: list[str]
    passage_vectors: np.ndarray  # (n_passages, dim)
    passage_doc: np.ndarray  # (n_passages,) row in `docs`
    doc_vectors: np.ndarray  # (n_docs, dim) normalised mean of each document's passages


def doc_means(matrix: np.ndarray, owner: np.ndarray, n_docs: int) -> np.ndarray:
    if not len(matrix):
        return np.zeros((n_docs, 0), dtype=np.float32)
    sums = np.zeros((n_docs, matrix.shape[1]), dtype=np.float32)
    np.add.at(sums, owner, matrix)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return sums / np.where(norms == 0, 1, norms)


def corpus_frame(docs: pd.DataFrame, passages: pd.DataFrame, vectors: Mapping[str, np.ndarray]) -> Corpus:
    """Documents, their passages (doc_id, idx, text, sha) and vectors by sha -> the rank stage's corpus.

    A document counts only with every passage embedded: after a run killed mid-batch, scoring it on
    some of its passages would silently rank it lower than it deserves.
    """
    docs = docs.sort_values("id", kind="stable").reset_index(drop=True)
    parts = passages[passages["doc_id"].isin(set(docs["id"]))].sort_values(["doc_id", "idx"], kind="stable")
    have = parts["sha"].map(lambda s: s in vectors)
    incomplete = set(parts.loc[~have, "doc_id"])
    with_passages = set(parts["doc_id"])
    keep = docs["id"].isin(with_passages - incomplete)
    docs = docs[keep].reset_index(drop=True)
    parts = parts[parts["doc_id"].isin(set(docs["id"]))]
    position = {doc_id: i for i, doc_id in enumerate(docs["id"])}
    shas = parts["sha"].tolist()
    matrix = np.stack([vectors[s] for s in shas]).astype(np.float32) if shas else np.zeros((0, 0), np.float32)
    owner = np.array([position[d] for d in parts["doc_id"]], dtype=np.int64)
    return Corpus(docs, parts["text"].tolist(), matrix, owner, doc_means(matrix, owner, len(docs)))
