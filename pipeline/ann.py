"""Approximate dense retrieval for large corpora: a faiss IVF index over the passage vectors.

HybridIndex uses it above `rank.ann_threshold` documents, where scoring every passage for every
interest would dominate the run; below that ranking stays exact. faiss is imported only here, and
only when an index is built or loaded, so the CLI and small workspaces never pay for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.errors import ConfigError

MISSING_FAISS = "install research-gifts[ray] (or faiss-cpu) for corpora above rank.ann_threshold"
SEED = 1234
# faiss's k-means warns below 39 training points per list. Training on 40 per list (about 100k of
# 400k passages at 200k documents) rather than the whole matrix keeps the build near a minute on
# two cores; scanning nprobe = 32 lists makes up for slightly rougher centroids.
TRAIN_PER_LIST = 40
MIN_PER_LIST = 39


def _faiss() -> Any:
    try:
        import faiss
    except ImportError:
        raise ConfigError(MISSING_FAISS) from None
    return faiss


def nlist_for(n: int) -> int:
    """Inverted lists for `n` vectors: about 4 sqrt(n), but never fewer than 39 training points each."""
    return max(1, min(int(4 * math.sqrt(n)), n // MIN_PER_LIST))


@dataclass(frozen=True, slots=True)
class DocHits:
    """One query's dense candidates: documents, best first, by their best retrieved passage."""

    docs: np.ndarray  # (m,) rows into the index's documents
    dense: np.ndarray  # (m,) cosine of that best retrieved passage
    passage: np.ndarray  # (m,) its row in the passage matrix


class AnnIndex:
    """IVF (inner product) over L2-normalised passage vectors, searched per batch of queries."""

    def __init__(
        self,
        vectors: np.ndarray,
        passage_doc: np.ndarray,
        *,
        nprobe: int = 32,
        nlist: int | None = None,
        seed: int = SEED,
    ) -> None:
        """
        Args:
            vectors: (n_passages, dim) L2-normalised rows.
            passage_doc: (n_passages,) the document row of each passage.
            nprobe: lists scanned per query: more is slower and closer to exact.
            nlist: inverted lists (default: `nlist_for(n_passages)`).
            seed: k-means initialisation and the training sample, so a corpus always gets one index.
        """
        faiss = _faiss()
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        n, dim = matrix.shape
        self.passage_doc = np.asarray(passage_doc, dtype=np.int64)
        self.nlist = nlist or nlist_for(n)
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, self.nlist, faiss.METRIC_INNER_PRODUCT)
        # Spherical k-means: centroids stay on the unit sphere, where the passages and queries live.
        index.cp.spherical = True
        index.cp.seed = seed
        size = min(n, self.nlist * TRAIN_PER_LIST)
        rows = np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False)) if size < n else None
        index.train(matrix if rows is None else matrix[rows])
        index.add(matrix)
        self._index = index
        self.nprobe = nprobe

    @property
    def nprobe(self) -> int:
        return int(self._index.nprobe)

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self._index.nprobe = max(1, min(int(value), self.nlist))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def __getstate__(self) -> dict[str, Any]:
        # faiss objects do not pickle; its own serialisation does (a process pool or Ray ships the index).
        return {
            "index": _faiss().serialize_index(self._index),
            "passage_doc": self.passage_doc,
            "nlist": self.nlist,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._index = _faiss().deserialize_index(state["index"])
        self.passage_doc = state["passage_doc"]
        self.nlist = state["nlist"]

    def search_passages(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(cosines, passage rows), each (n_queries, k), best first; rows are -1 where fewer were found."""
        block = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if not len(self) or not len(block):
            return np.zeros((len(block), 0), np.float32), np.zeros((len(block), 0), np.int64)
        sims, rows = self._index.search(block, max(1, k))
        return np.asarray(sims, dtype=np.float32), np.asarray(rows, dtype=np.int64)

    def search(self, queries: np.ndarray, k: int) -> list[DocHits]:
        """For each query, the documents owning its top `k` passages, by their best passage (max-sim).

        Args:
            queries: (n_queries, dim) L2-normalised vectors, or one vector.
            k: passages retrieved per query; a document with several of them counts once.
        """
        sims, rows = self.search_passages(queries, k)
        return [self._per_doc(s[r >= 0], r[r >= 0]) for s, r in zip(sims, rows, strict=True)]

    def _per_doc(self, sims: np.ndarray, rows: np.ndarray) -> DocHits:
        docs = self.passage_doc[rows]
        # faiss returns passages best first, so each document's first occurrence is its best passage.
        _, first = np.unique(docs, return_index=True)
        first.sort()
        return DocHits(docs=docs[first], dense=sims[first], passage=rows[first])
