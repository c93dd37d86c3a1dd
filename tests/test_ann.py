"""The approximate index (real faiss, small clustered data) and HybridIndex's candidate path above the threshold."""

from __future__ import annotations

import datetime as dt
import pickle
import sys

import numpy as np
import pandas as pd
import pytest

from pipeline.ann import MISSING_FAISS, AnnIndex
from pipeline.config import RankSettings, RetrievalSettings
from pipeline.errors import ConfigError
from pipeline.interviews import Contact, Interest
from pipeline.rank import DOC_COLUMNS, rank_contacts
from pipeline.retrieval import HybridIndex

DIM = 48
TOPICS = 30
DOCS = 1500
TODAY = dt.date(2026, 11, 26)
WORDS = [f"{a}{b}" for a in ("kal", "mor", "tes", "vup", "zin", "rad") for b in ("ax", "el", "ot", "um", "yr")]


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


class Toy:
    """Documents around topic centroids, 1-3 passages each, texts drawn from each topic's words."""

    def __init__(self, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self.centroids = _unit(rng.standard_normal((TOPICS, DIM)))
        self.topic = rng.integers(0, TOPICS, DOCS)
        centre = _unit(self.centroids[self.topic] + 0.6 * rng.standard_normal((DOCS, DIM)) / np.sqrt(DIM))
        self.owner = np.repeat(np.arange(DOCS), rng.integers(1, 4, DOCS))
        self.passages = _unit(centre[self.owner] + 0.5 * rng.standard_normal((len(self.owner), DIM)) / np.sqrt(DIM))
        self.ids = [f"doc-{i:04d}" for i in range(DOCS)]
        self.texts = [" ".join(rng.choice(self._words(t), 12)) for t in self.topic]
        self.rng = rng

    def _words(self, topic: int) -> list[str]:
        return [WORDS[(topic + k) % len(WORDS)] for k in range(3)]

    def query(self, topic: int) -> tuple[str, np.ndarray]:
        vector = _unit(self.centroids[topic] + 0.5 * self.rng.standard_normal(DIM) / np.sqrt(DIM))
        return " ".join(self._words(topic)[:2]), vector

    def index(self, **settings: int) -> HybridIndex:
        return HybridIndex(self.ids, self.texts, self.passages, self.owner, settings=RetrievalSettings(**settings))


@pytest.fixture(scope="module")
def toy() -> Toy:
    return Toy()


@pytest.fixture(scope="module")
def exact(toy: Toy) -> HybridIndex:
    return toy.index()


@pytest.fixture(scope="module")
def approximate(toy: Toy) -> HybridIndex:
    return toy.index(ann_threshold=10)


def _recall_at_10(toy: Toy, exact: HybridIndex, ann: AnnIndex) -> float:
    queries = np.stack([toy.query(t % TOPICS)[1] for t in range(60)])
    found = []
    for vector, hits in zip(queries, ann.search(queries, 100), strict=True):
        truth = np.argsort(-exact.dense(vector)[0], kind="stable")[:10]
        found.append(len(set(truth.tolist()) & set(hits.docs[:10].tolist())) / 10)
    return float(np.mean(found))


def test_recall_at_10_against_brute_force_at_the_default_nprobe(toy: Toy, exact: HybridIndex) -> None:
    ann = AnnIndex(toy.passages, toy.owner, nprobe=RankSettings().retrieval.ann_nprobe)
    assert ann.nlist > 16  # enough lists that scanning a few of them is a real approximation
    assert _recall_at_10(toy, exact, ann) >= 0.95
    ann.nprobe = 1
    assert _recall_at_10(toy, exact, ann) < 0.95  # one list alone misses neighbours: the measure can fail


def test_hits_are_documents_by_their_best_retrieved_passage(toy: Toy, exact: HybridIndex) -> None:
    ann = AnnIndex(toy.passages, toy.owner, nprobe=10_000)  # every list scanned: exact
    _, vector = toy.query(3)
    hits = ann.search(vector, len(toy.owner))[0]
    best, where = exact.dense(vector)
    assert len(hits.docs) == len(set(hits.docs.tolist())) == DOCS
    assert np.all(np.diff(hits.dense) <= 1e-6)  # best first
    np.testing.assert_allclose(hits.dense, best[hits.docs], atol=1e-5)
    assert hits.passage.tolist() == where[hits.docs].tolist()


def test_the_index_survives_pickling(toy: Toy, approximate: HybridIndex) -> None:
    # A process pool or the Ray engine ships the index to its workers this way.
    ann = AnnIndex(toy.passages, toy.owner, nprobe=4)
    copy = pickle.loads(pickle.dumps(ann))  # noqa: S301 (bytes this test just wrote)
    queries = np.stack([toy.query(t)[1] for t in range(5)])
    assert copy.nprobe == 4 and len(copy) == len(toy.owner)
    for a, b in zip(ann.search(queries, 20), copy.search(queries, 20), strict=True):
        assert a.docs.tolist() == b.docs.tolist()
    hybrid = pickle.loads(pickle.dumps(approximate))  # noqa: S301 (bytes this test just wrote)
    assert hybrid.ann is not None
    text, vector = toy.query(4)
    assert hybrid.search(text, vector, k=5) == approximate.search(text, vector, k=5)


def test_candidate_path_gives_brute_force_top_five(toy: Toy, exact: HybridIndex, approximate: HybridIndex) -> None:
    assert exact.ann is None and approximate.ann is not None
    for topic in range(0, TOPICS, 3):
        text, vector = toy.query(topic)
        assert approximate.search(text, vector, k=5) == exact.search(text, vector, k=5)
        scored = approximate.score(text, vector)
        full = exact.score(text, vector)
        assert scored.docs is not None and len(scored.docs) < DOCS
        # Candidates keep exactly their brute-force scores, lexical still scaled by the query's best document.
        np.testing.assert_allclose(scored.dense, full.dense[scored.docs], atol=1e-6)
        np.testing.assert_allclose(scored.lexical, full.lexical[scored.docs], atol=1e-6)
        assert scored.best_passage.tolist() == full.best_passage[scored.docs].tolist()
        assert int(np.argmax(full.lexical)) in set(scored.docs.tolist())
        spread = scored.full(DOCS)
        assert np.isneginf(np.delete(spread.fused, scored.docs)).all()


def test_ranking_contacts_on_candidates_matches_brute_force(
    toy: Toy, exact: HybridIndex, approximate: HybridIndex
) -> None:
    docs = pd.DataFrame(
        {
            "id": toy.ids,
            "title": [f"Title {i}" for i in range(DOCS)],
            "url": "https://example.org/",
            "source_id": "src",
            "source_title": "Source",
            "published": [f"2026-{1 + i % 11:02d}-15" for i in range(DOCS)],
            "words": 400 + np.arange(DOCS) % 300,
            "text": toy.texts,
        },
        columns=list(DOC_COLUMNS),
    )
    sums = np.zeros((DOCS, DIM), dtype=np.float32)
    np.add.at(sums, toy.owner, toy.passages)
    doc_vectors = _unit(sums)
    vectors, contacts = {}, []
    for c in range(12):
        interests = []
        for k, topic in enumerate((c % TOPICS, (c * 7 + 3) % TOPICS)[: 1 + c % 2]):
            text, vectors[f"c{c}-{k}"] = toy.query(topic)
            interests.append(Interest(f"c{c}-{k}", f"c{c}", text, None, "said", 1.0))
        contacts.append(Contact(f"c{c}", "iv", f"Person {c}", None, None, "Acme", tuple(interests)))
    passage_texts = [f"passage {i}" for i in range(len(toy.owner))]
    excluded = {"c0": {toy.ids[0], toy.ids[1]}}
    args = (docs, passage_texts, doc_vectors, excluded, RankSettings(), TODAY)
    brute = rank_contacts(contacts, vectors, exact, *args)
    fast = rank_contacts(contacts, vectors, approximate, *args, block=5)
    assert all(len(s) == 5 for s in brute)
    assert [[s.doc_id for s in x] for x in fast] == [[s.doc_id for s in x] for x in brute]
    assert [[s.parts for s in x] for x in fast] == [[s.parts for s in x] for x in brute]


def test_missing_faiss_is_one_clear_error_above_the_threshold(toy: Toy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)  # makes `import faiss` raise ImportError
    below = toy.index()  # the exact path never imports faiss
    assert below.ann is None
    with pytest.raises(ConfigError) as caught:
        toy.index(ann_threshold=DOCS - 1)
    assert str(caught.value) == MISSING_FAISS
    assert "rank.ann_threshold" in MISSING_FAISS and "faiss-cpu" in MISSING_FAISS
