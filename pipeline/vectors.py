"""Embed stage: cut extracted documents into passages and embed what the vector cache lacks.

Vectors are keyed by (model, SHA-256 of the passage text), so unchanged text is never embedded
twice, and a second model simply gets its own cache rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pandas as pd

from pipeline.config import EmbedSettings
from pipeline.db import passages
from pipeline.db.states import DocState
from pipeline.embed import Embedder
from pipeline.frames import Corpus, corpus_frame, doc_means, embed_frame, passage_frame, text_sha
from pipeline.store import Store

__all__ = ["Corpus", "cut_passages", "doc_means", "embed_texts", "load_corpus", "text_sha"]

log = logging.getLogger(__name__)

# Passages per encode call and per commit. Large enough that the fast backends keep every core
# busy between calls (measured: 64 -> 256 took OpenVINO int8 from ~64 to ~76 passages/s), small
# enough that a killed run loses little work.
BATCH = 256
CORPUS_COLUMNS = ("id", "title", "url", "source_id", "source_title", "published", "words", "text", "kind")


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
            passages.replace(store, batch["id"], cut.itertuples(index=False, name=None))
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
        columns=list(CORPUS_COLUMNS),
    )
    parts = pd.DataFrame(
        [dict(r) for r in store.query("SELECT doc_id, idx, text, sha FROM passages")],
        columns=["doc_id", "idx", "text", "sha"],
    )
    found = store.vectors(model, set(parts["sha"]))
    return corpus_frame(docs, parts, found)
