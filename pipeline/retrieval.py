"""The ranking core shared by the nightly rank stage and `gifts eval`: hybrid passage retrieval.

Dense: the best passage's cosine per document (max, not mean, so one relevant section of a long
white paper counts in full). Lexical: BM25 with English stemming and stop words. The two are
fused after putting them on comparable scales per query; optionally, the query vector is moved
towards the top fused documents (dense pseudo-relevance feedback) and scored again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class RetrievalSettings:
    """How dense and lexical scores are combined (defaults are what the nightly run uses)."""

    dense_weight: float = 0.7
    lexical_weight: float = 0.3
    fusion: str = "weighted"  # weighted | rrf | dense | lexical
    rrf_k: int = 60
    prf_docs: int = 0  # dense pseudo-relevance feedback: how many top documents (0: off)
    prf_weight: float = 0.5

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class QueryScores:
    """Per-document scores for one query; arrays are aligned with the index's `doc_ids`."""

    fused: np.ndarray
    dense: np.ndarray
    lexical: np.ndarray  # BM25 scaled to [0, 1] by the query's best document
    best_passage: np.ndarray  # row into the passage matrix of each document's best passage


def _stemmer() -> object:
    import Stemmer

    return Stemmer.Stemmer("english")


class LexicalIndex:
    """BM25 (Lucene variant) over stemmed, stop-worded tokens, via bm25s."""

    def __init__(self, texts: Sequence[str]) -> None:
        import bm25s

        # bm25s sets its own logger to DEBUG when imported; keep it at our level of chatter.
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self._stemmer = _stemmer()
        self._bm25 = bm25s.BM25()
        self.size = len(texts)
        if texts:
            tokens = bm25s.tokenize(list(texts), stopwords="en", stemmer=self._stemmer, show_progress=False)
            self._bm25.index(tokens, show_progress=False)
            self._vocab: dict[str, int] = tokens.vocab
        else:
            self._vocab = {}

    def scores(self, query: str) -> np.ndarray:
        import bm25s

        if not self.size:
            return np.zeros(0, dtype=np.float32)
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=self._stemmer, return_ids=False, show_progress=False)
        words = [t for t in tokens[0] if t in self._vocab]
        if not words:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(words), dtype=np.float32)


def _rrf(scores: np.ndarray, k: int) -> np.ndarray:
    ranks = np.empty(len(scores), dtype=np.float32)
    ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1, dtype=np.float32)
    return np.asarray(1.0 / (k + ranks), dtype=np.float32)


class HybridIndex:
    """Documents with their passage vectors and a BM25 index, scored per query."""

    def __init__(
        self,
        doc_ids: Sequence[str],
        doc_texts: Sequence[str],
        passage_vectors: np.ndarray,
        passage_doc: np.ndarray,
        *,
        settings: RetrievalSettings | None = None,
    ) -> None:
        """
        Args:
            doc_ids: one id per document; every array below is aligned with it.
            doc_texts: what BM25 indexes (title and text).
            passage_vectors: (n_passages, dim) L2-normalised rows.
            passage_doc: (n_passages,) index into `doc_ids` of each passage's document.
        """
        self.doc_ids = list(doc_ids)
        self.passage_vectors = np.asarray(passage_vectors, dtype=np.float32)
        self.passage_doc = np.asarray(passage_doc, dtype=np.int64)
        self.lexical = LexicalIndex(doc_texts)
        self.settings = settings or RetrievalSettings()

    def dense(self, query_vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(best cosine per document, row of that best passage)."""
        n = len(self.doc_ids)
        best = np.full(n, -1.0, dtype=np.float32)
        where = np.full(n, -1, dtype=np.int64)
        if not len(self.passage_vectors):
            return best, where
        sims = self.passage_vectors @ np.asarray(query_vector, dtype=np.float32)
        # Sort ascending so the last write per document is its maximum.
        order = np.argsort(sims, kind="stable")
        best[self.passage_doc[order]] = sims[order]
        where[self.passage_doc[order]] = order
        return best, where

    def _fuse(self, dense: np.ndarray, lexical: np.ndarray) -> np.ndarray:
        s = self.settings
        if s.fusion == "dense":
            return dense.copy()
        if s.fusion == "lexical":
            return lexical.copy()
        if s.fusion == "rrf":
            return np.asarray(_rrf(dense, s.rrf_k) + _rrf(lexical, s.rrf_k))
        return np.asarray(s.dense_weight * dense + s.lexical_weight * lexical)

    def score(self, query_text: str, query_vector: np.ndarray) -> QueryScores:
        dense, where = self.dense(query_vector)
        raw = self.lexical.scores(query_text)
        top = float(raw.max()) if raw.size else 0.0
        lexical = raw / top if top > 0 else np.zeros_like(raw)
        fused = self._fuse(dense, lexical)
        if self.settings.prf_docs > 0 and len(fused):
            # Move the query towards the best passages of the top fused documents: they share
            # the query's topic and vocabulary the short query itself lacks.
            top_docs = np.argsort(-fused, kind="stable")[: self.settings.prf_docs]
            rows = where[top_docs]
            rows = rows[rows >= 0]
            if len(rows):
                centroid = self.passage_vectors[rows].mean(axis=0)
                moved = np.asarray(query_vector, dtype=np.float32) + self.settings.prf_weight * centroid
                moved /= max(float(np.linalg.norm(moved)), 1e-12)
                dense, where = self.dense(moved)
                fused = self._fuse(dense, lexical)
        return QueryScores(fused=fused, dense=dense, lexical=lexical, best_passage=where)

    def search(self, query_text: str, query_vector: np.ndarray, k: int = 100) -> list[str]:
        """The ids of the top `k` documents by fused score."""
        fused = self.score(query_text, query_vector).fused
        top = np.argsort(-fused, kind="stable")[:k]
        return [self.doc_ids[i] for i in top]
