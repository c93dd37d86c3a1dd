"""The ranking core shared by the nightly rank stage and `gifts eval`: hybrid passage retrieval.

Dense: the best passage's cosine per document (max, not mean, so one relevant section of a long
white paper counts in full). Lexical: BM25 with English stemming and stop words. The two are
fused after putting them on comparable scales per query; optionally, the query vector is moved
towards the top fused documents (dense pseudo-relevance feedback) and scored again.

Above `ann_threshold` documents only candidates are scored: the documents owning a query's nearest
passages in an approximate index (pipeline/ann.py) and its best BM25 documents, each with exactly
the score brute force would give it; every other document is left out.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.config import RetrievalSettings

if TYPE_CHECKING:
    from pipeline.ann import AnnIndex, DocHits


@dataclass(frozen=True, slots=True)
class QueryScores:
    """Per-document scores for one query.

    The arrays are aligned with the index's `doc_ids` when `docs` is None (brute force), else with
    `docs`: the rows, ascending, of the only documents scored (the candidates of a large corpus).
    """

    fused: np.ndarray
    dense: np.ndarray
    lexical: np.ndarray  # BM25 scaled to [0, 1] by the query's best document
    best_passage: np.ndarray  # row into the passage matrix of each document's best passage
    docs: np.ndarray | None = None

    def full(self, n: int) -> QueryScores:
        """The same scores over all `n` documents; those not scored can never rank (fused -inf, dense -1)."""
        if self.docs is None:
            return self
        return self._spread(np.arange(n), None)

    def over(self, docs: np.ndarray) -> QueryScores:
        """The same scores over `docs` (ascending rows, every scored one among them), e.g. the union of
        several queries' candidates; the others can never rank (fused -inf, dense -1)."""
        rows = np.asarray(docs, dtype=np.int64)
        return self._spread(rows, rows)

    def _spread(self, docs: np.ndarray, label: np.ndarray | None) -> QueryScores:
        if self.docs is None:  # brute force: every document was scored
            return QueryScores(self.fused[docs], self.dense[docs], self.lexical[docs], self.best_passage[docs], label)
        at = np.searchsorted(docs, self.docs)
        fused = np.full(len(docs), -np.inf, dtype=self.fused.dtype)
        dense = np.full(len(docs), -1.0, dtype=np.float32)
        lexical = np.zeros(len(docs), dtype=np.float32)
        best = np.full(len(docs), -1, dtype=np.int64)
        fused[at], dense[at], lexical[at], best[at] = self.fused, self.dense, self.lexical, self.best_passage
        return QueryScores(fused=fused, dense=dense, lexical=lexical, best_passage=best, docs=label)


def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


WORD = re.compile(r"[^\W_]+")  # a word as the report marks it and drafts score it


@functools.cache
def _shared_stemmer() -> Any:
    return _stemmer()


@functools.cache
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def content_stem(word: str) -> str | None:
    """A word's stem as BM25 indexes it (English Snowball), or None for a stop word or a single letter."""
    lowered = word.lower()
    if lowered in _stopwords() or len(lowered) < 2:
        return None
    return str(_shared_stemmer().stemWord(lowered))


def stems(text: str) -> set[str]:
    """The stemmed content words of `text`, as the lexical ranking sees them.

    One definition for the report's highlighting and the drafts' sentence choice, so "what is
    marked is what BM25 matched" holds by construction.
    """
    return {stem for stem in (content_stem(w) for w in WORD.findall(text)) if stem}


class LexicalIndex:
    """BM25 (Lucene variant) over stemmed, stop-worded tokens, via bm25s."""

    def __init__(self, texts: Sequence[str], k1: float = 1.5, b: float = 0.75) -> None:
        import bm25s

        # bm25s sets its own logger to DEBUG when imported; keep it at our level of chatter.
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self._stemmer = _stemmer()
        self._bm25 = bm25s.BM25(k1=k1, b=b)
        self.size = len(texts)
        if texts:
            tokens = bm25s.tokenize(list(texts), stopwords="en", stemmer=self._stemmer, show_progress=False)
            self._bm25.index(tokens, show_progress=False)
            self._vocab: dict[str, int] = tokens.vocab
        else:
            self._vocab = {}

    def __getstate__(self) -> dict[str, Any]:
        # The stemmer is a C object that cannot be pickled; a Ray rank worker makes its own.
        return {k: v for k, v in self.__dict__.items() if k != "_stemmer"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._stemmer = _stemmer()

    def _terms(self, query: str) -> list[str]:
        """The query's stemmed content words that some document contains (stop words dropped)."""
        import bm25s

        tokens = bm25s.tokenize([query], stopwords="en", stemmer=self._stemmer, return_ids=False, show_progress=False)
        return [t for t in tokens[0] if t and t in self._vocab]

    def scores(self, query: str) -> np.ndarray:
        if not self.size:
            return np.zeros(0, dtype=np.float32)
        words = self._terms(query)
        if not words:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(words), dtype=np.float32)

    def coverage(self, query: str, docs: np.ndarray | None = None) -> np.ndarray:
        """Per document (`docs`: rows; None: all), the share of the query's distinct terms it contains,
        each weighted by its BM25 IDF, so a distinctive word ("multidrug") counts for more than a
        common one ("resistance"). Terms no document contains tell none apart and are left out; a
        query left with no term covers every document (1.0)."""
        rows = np.arange(self.size) if docs is None else np.asarray(docs, dtype=np.int64)
        matrix = self._bm25.scores if self.size else {}
        indptr, indices = matrix.get("indptr"), matrix.get("indices")
        held = np.zeros(self.size, dtype=np.float64)
        total = 0.0
        for term in set(self._terms(query)) if self.size else set():
            column = self._vocab[term]
            if indptr is None or indices is None or column + 1 >= len(indptr):
                continue
            found = indices[indptr[column] : indptr[column + 1]]
            if not len(found):
                continue
            idf = math.log(1.0 + (self.size - len(found) + 0.5) / (len(found) + 0.5))  # bm25s's Lucene IDF
            held[found] += idf
            total += idf
        if total <= 0:
            return np.ones(len(rows), dtype=np.float32)
        return np.asarray(held[rows] / total, dtype=np.float32)


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
        self.settings = settings or RetrievalSettings()
        self.lexical = LexicalIndex(doc_texts, self.settings.bm25_k1, self.settings.bm25_b)
        self.ann: AnnIndex | None = None
        if len(self.doc_ids) > self.settings.ann_threshold and len(self.passage_vectors):
            from pipeline.ann import AnnIndex

            self.ann = AnnIndex(self.passage_vectors, self.passage_doc, nprobe=self.settings.ann_nprobe)
            # Passage rows grouped by document (ascending within each), so a candidate's passages
            # are one slice: self._by_doc[self._doc_start[d] : self._doc_start[d + 1]].
            self._by_doc = np.argsort(self.passage_doc, kind="stable")
            self._doc_start = np.searchsorted(self.passage_doc[self._by_doc], np.arange(len(self.doc_ids) + 1))

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
        """Scores for one query: over every document, or over its candidates above `ann_threshold`."""
        if self.ann is not None:
            return self.score_many([query_text], np.atleast_2d(query_vector))[0]
        dense, where = self.dense(query_vector)
        raw = self.lexical.scores(query_text)
        top = float(raw.max()) if raw.size else 0.0
        lexical = raw / top if top > 0 else np.zeros_like(raw)
        fused = self._fuse(dense, lexical)
        if self.settings.prf_docs > 0 and len(fused):
            # Move the query towards the best passages of the top fused documents: they share
            # the query's topic and vocabulary the short query itself lacks.
            moved = self._prf_query(query_vector, fused, where)
            if moved is not None:
                dense, where = self.dense(moved)
                fused = self._fuse(dense, lexical)
        return QueryScores(fused=fused, dense=dense, lexical=lexical, best_passage=where)

    def _prf_query(self, query_vector: np.ndarray, fused: np.ndarray, best_passage: np.ndarray) -> np.ndarray | None:
        """The query moved towards the best passages of its top `prf_docs` fused documents (None: none)."""
        top_docs = np.argsort(-fused, kind="stable")[: self.settings.prf_docs]
        rows = best_passage[top_docs]
        rows = rows[rows >= 0]
        if not len(rows):
            return None
        centroid = self.passage_vectors[rows].mean(axis=0)
        moved = np.asarray(query_vector, dtype=np.float32) + self.settings.prf_weight * centroid
        return np.asarray(moved / max(float(np.linalg.norm(moved)), 1e-12), dtype=np.float32)

    def score_many(
        self, query_texts: Sequence[str], query_vectors: Sequence[np.ndarray] | np.ndarray
    ) -> list[QueryScores]:
        """Scores for a block of queries, aligned with them; one approximate search serves the block."""
        if self.ann is None:
            return [self.score(t, v) for t, v in zip(query_texts, query_vectors, strict=True)]
        if not len(query_texts):
            return []
        block = np.asarray(query_vectors, dtype=np.float32).reshape(len(query_texts), -1)
        hits = self.ann.search(block, self.settings.ann_candidates)
        return [self._score_candidates(self.ann, t, v, h) for t, v, h in zip(query_texts, block, hits, strict=True)]

    def _score_candidates(self, ann: AnnIndex, query_text: str, query_vector: np.ndarray, hits: DocHits) -> QueryScores:
        raw = self.lexical.scores(query_text)
        # The query's best BM25 document is always a candidate, so lexical is scaled as brute force does.
        top = float(raw.max()) if raw.size else 0.0
        lexical_docs = self._top_lexical(raw)
        scores = self._on_candidates(query_vector, np.union1d(hits.docs, lexical_docs), raw, top)
        if self.settings.prf_docs > 0 and len(scores.fused):
            moved = self._prf_query(query_vector, scores.fused, scores.best_passage)
            if moved is not None:
                moved_hits = ann.search(moved, self.settings.ann_candidates)[0]
                scores = self._on_candidates(moved, np.union1d(moved_hits.docs, lexical_docs), raw, top)
        return scores

    def _top_lexical(self, raw: np.ndarray) -> np.ndarray:
        """Rows of the best `ann_candidates` documents by BM25 (only those matching at all)."""
        k = max(1, self.settings.ann_candidates)
        matching = np.flatnonzero(raw > 0)
        if len(matching) > k:
            matching = matching[np.argpartition(-raw[matching], k - 1)[:k]]
        return matching

    def _on_candidates(self, query_vector: np.ndarray, docs: np.ndarray, raw: np.ndarray, top: float) -> QueryScores:
        """Exact scores of the documents `docs` (ascending rows): best passage over all their passages."""
        starts = self._doc_start[docs]
        counts = self._doc_start[docs + 1] - starts
        group = np.repeat(np.arange(len(docs)), counts)
        rows = self._by_doc[np.arange(int(counts.sum())) + np.repeat(starts - np.cumsum(counts) + counts, counts)]
        sims = self.passage_vectors[rows] @ np.asarray(query_vector, dtype=np.float32)
        dense = np.full(len(docs), -1.0, dtype=np.float32)
        where = np.full(len(docs), -1, dtype=np.int64)
        # As in dense(): sorted ascending, the last write per document is its maximum.
        order = np.argsort(sims, kind="stable")
        dense[group[order]] = sims[order]
        where[group[order]] = rows[order]
        lexical = raw[docs] / top if top > 0 else np.zeros(len(docs), dtype=np.float32)
        return QueryScores(
            fused=self._fuse(dense, lexical), dense=dense, lexical=lexical, best_passage=where, docs=docs
        )

    def search(self, query_text: str, query_vector: np.ndarray, k: int = 100) -> list[str]:
        """The ids of the top `k` documents by fused score."""
        scores = self.score(query_text, query_vector)
        top = np.argsort(-scores.fused, kind="stable")[:k]
        if scores.docs is not None:
            top = scores.docs[top]
        return [self.doc_ids[i] for i in top]
