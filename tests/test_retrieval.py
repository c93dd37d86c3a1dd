"""Hybrid retrieval: best-passage cosine per document, stemmed and stop-worded BM25, and their weighted fusion."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import RetrievalSettings
from pipeline.retrieval import HybridIndex, LexicalIndex


def _unit(*values: float) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


QUERY = _unit(1, 0, 0)

# doc 0 ("long paper"): one very relevant passage among weak ones (mean 0.43, max 0.95).
# doc 1 ("short note"): one moderately relevant passage (mean = max = 0.6).
# doc 2: no passages at all.
PASSAGES = np.stack(
    [
        _unit(0.1, 1, 0),  # row 0, doc 0
        _unit(0.6, 0.8, 0),  # row 1, doc 1
        _unit(0.95, 0, np.sqrt(1 - 0.95**2)),  # row 2, doc 0  <- its best
        _unit(0.25, 0, 1),  # row 3, doc 0
    ]
)
PASSAGE_DOC = np.array([0, 1, 0, 0])
TEXTS = [
    "Monitoring deployed models: we monitored drift in hospitals every night.",
    "Battery degradation and the economics of grid storage.",
    "Tagging policies that survive a reorganisation.",
]


@pytest.fixture(scope="module")
def index() -> HybridIndex:
    return HybridIndex(["long", "short", "empty"], TEXTS, PASSAGES, PASSAGE_DOC)


def test_dense_is_the_best_passage_not_the_mean(index: HybridIndex) -> None:
    best, where = index.dense(QUERY)
    cosines = PASSAGES @ QUERY
    assert best[0] == pytest.approx(cosines[2])
    assert best[1] == pytest.approx(cosines[1])
    mean_long = cosines[[0, 2, 3]].mean()
    assert mean_long < best[1] < best[0]  # a mean would have ranked the short note first
    assert where.tolist() == [2, 1, -1]


def test_dense_marks_documents_without_passages(index: HybridIndex) -> None:
    best, where = index.dense(QUERY)
    assert best[2] == -1.0
    assert where[2] == -1


def test_dense_row_follows_the_query(index: HybridIndex) -> None:
    _, where = index.dense(_unit(0, 0, 1))
    assert where[0] == 3  # the passage pointing along the third axis wins for this query


def test_lexical_stems_query_and_documents() -> None:
    lexical = LexicalIndex(TEXTS)
    scores = lexical.scores("monitoring")
    assert scores[0] > 0
    assert scores[1] == 0 and scores[2] == 0
    assert lexical.scores("degrades")[1] > 0  # degradation / degrades share the stem


def test_lexical_ignores_stop_words() -> None:
    lexical = LexicalIndex(TEXTS)
    assert lexical.scores("the and of that a").tolist() == [0.0, 0.0, 0.0]
    assert lexical.scores("zebra quantum").tolist() == [0.0, 0.0, 0.0]


def test_lexical_prefers_documents_with_more_query_terms() -> None:
    lexical = LexicalIndex(["kafka lag", "kafka consumer lag schema", "grid storage"])
    scores = lexical.scores("kafka consumer lag")
    assert scores[1] > scores[0] > scores[2] == 0


def test_fused_is_the_weighted_sum_with_lexical_scaled_per_query() -> None:
    index = HybridIndex(
        ["long", "short", "empty"],
        TEXTS,
        PASSAGES,
        PASSAGE_DOC,
        settings=RetrievalSettings(dense_weight=0.6, lexical_weight=0.4),
    )
    scores = index.score("monitoring drift", QUERY)
    assert scores.lexical.max() == pytest.approx(1.0)
    assert scores.lexical[0] == pytest.approx(1.0)
    assert scores.lexical[1] == 0.0
    np.testing.assert_allclose(scores.fused, 0.6 * scores.dense + 0.4 * scores.lexical, rtol=1e-6)
    assert scores.fused[0] == pytest.approx(0.6 * 0.95 + 0.4)
    assert scores.best_passage.tolist() == [2, 1, -1]


def test_no_lexical_match_leaves_only_the_dense_part(index: HybridIndex) -> None:
    scores = index.score("zebra", QUERY)
    assert scores.lexical.tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(scores.fused, 0.7 * scores.dense, rtol=1e-6)


def test_empty_corpus_scores_nothing_without_crashing() -> None:
    index = HybridIndex([], [], np.zeros((0, 3), dtype=np.float32), np.zeros(0, dtype=np.int64))
    scores = index.score("kafka", QUERY)
    assert scores.fused.shape == scores.dense.shape == scores.lexical.shape == scores.best_passage.shape == (0,)
    assert LexicalIndex([]).scores("kafka").shape == (0,)


def test_bm25_parameters_reach_the_lexical_index() -> None:
    texts = ["kafka lag", "kafka lag " + " ".join(f"filler{i}" for i in range(40))]
    default = LexicalIndex(texts).scores("kafka")
    flat = LexicalIndex(texts, k1=1.5, b=0.0).scores("kafka")
    assert default[0] > default[1]  # length normalisation favours the short document
    assert flat[0] == flat[1]  # b = 0: no length normalisation at all
