"""Embed stage: passages are cut once per text, vectors are cached by (model, sha), and the corpus keeps its ids."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import FakeEmbedder

from pipeline.config import EmbedSettings
from pipeline.passages import passages
from pipeline.store import Store
from pipeline.vectors import (
    PASSAGES,
    corpus_frame,
    cut_passages,
    embed_frame,
    embed_texts,
    load_corpus,
    missing_texts,
    passage_frame,
    passage_texts_without_vectors,
    text_sha,
)

SETTINGS = EmbedSettings(passage_words=20, passage_overlap=5, max_passages=10)
MODEL = "fake@000000000000"

TEXTS = {
    # ids chosen so that SQL ordering by id differs from insertion order
    "d-kafka": " ".join(f"kafka consumer lag partition rebalance word{i}" for i in range(10)),  # 60 words
    "b-battery": " ".join(f"battery degradation cycling storage{i}" for i in range(5)),  # 20 words
    "c-privacy": "patient privacy de-identification of clinical notes under HIPAA",
    "a-pending": "not extracted yet, must never be cut",
}


def _add_document(store: Store, doc_id: str, text: str, state: str = "extracted") -> None:
    store.upsert(
        "documents",
        {
            "id": doc_id,
            "source_id": "src",
            "url": f"https://example.org/{doc_id}",
            "title": f"Title of {doc_id}",
            "state": state,
            "text": text,
            "text_sha": text_sha(text),
            "words": len(text.split()),
            "first_seen": "2026-11-26",
            "published": "2026-11-20",
        },
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "gifts.sqlite") as store:
        with store.transaction():
            store.upsert("sources", {"id": "src", "kind": "feed", "location": "https://example.org/feed"})
            for doc_id, text in TEXTS.items():
                _add_document(store, doc_id, text, "pending" if doc_id == "a-pending" else "extracted")
        yield store


def _passage_count(store: Store) -> dict[str, int]:
    rows = store.query("SELECT doc_id, COUNT(*) AS n FROM passages GROUP BY doc_id ORDER BY doc_id")
    return {r["doc_id"]: r["n"] for r in rows}


def test_cut_passages_is_idempotent(store: Store) -> None:
    assert cut_passages(store, SETTINGS) == 3
    counts = _passage_count(store)
    assert counts == {"b-battery": 1, "c-privacy": 1, "d-kafka": 4}  # 60 words, step 15
    assert cut_passages(store, SETTINGS) == 0
    assert _passage_count(store) == counts


def test_changed_text_is_recut_alone(store: Store) -> None:
    cut_passages(store, SETTINGS)
    with store.transaction():
        _add_document(store, "c-privacy", "A new text about GDPR and cross-border sharing of health data.")
    assert cut_passages(store, SETTINGS) == 1
    (row,) = store.query("SELECT text FROM passages WHERE doc_id = 'c-privacy'")
    assert "cross-border" in row["text"]
    assert cut_passages(store, SETTINGS) == 0


def test_passages_carry_their_own_sha(store: Store) -> None:
    cut_passages(store, SETTINGS)
    for row in store.query("SELECT text, sha, text_sha, doc_id FROM passages"):
        assert row["sha"] == text_sha(row["text"])
        assert row["text_sha"] == text_sha(TEXTS[row["doc_id"]])


def test_embed_texts_caches_by_model_and_sha(store: Store) -> None:
    cut_passages(store, SETTINGS)
    embedder = FakeEmbedder(name=MODEL)
    todo = passage_texts_without_vectors(store, MODEL)
    assert len(todo) == 6
    assert embed_texts(store, embedder, todo) == 6
    assert embedder.calls == 1

    assert passage_texts_without_vectors(store, MODEL) == {}
    assert missing_texts(store, MODEL, todo) == {}
    assert embed_texts(store, embedder, {}) == 0
    assert embedder.calls == 1  # nothing left to embed, so the model is not called again

    # Another model has its own cache rows.
    assert passage_texts_without_vectors(store, "other@111111111111") == todo
    new = {text_sha("an interest"): "an interest"}
    assert missing_texts(store, MODEL, {**todo, **new}) == new


def test_embed_texts_stores_the_embedders_vectors(store: Store) -> None:
    embedder = FakeEmbedder(name=MODEL)
    texts = {text_sha(t): t for t in ("kafka lag", "battery storage")}
    progress: list[int] = []
    embed_texts(store, embedder, texts, progress.append)
    assert progress == [2]
    cached = store.vectors(MODEL, texts)
    for sha, text in texts.items():
        np.testing.assert_array_equal(cached[sha], embedder.encode([text])[0])


def test_load_corpus_keeps_rows_aligned_with_ids(store: Store) -> None:
    cut_passages(store, SETTINGS)
    embedder = FakeEmbedder(name=MODEL)
    embed_texts(store, embedder, passage_texts_without_vectors(store, MODEL))
    corpus = load_corpus(store, MODEL)

    assert corpus.docs["id"].tolist() == ["b-battery", "c-privacy", "d-kafka"]
    assert corpus.docs.loc[2, "source_title"] == "https://example.org/feed"
    assert corpus.passage_vectors.shape == (6, embedder.dim)
    assert len(corpus.passage_texts) == len(corpus.passage_doc) == 6
    owners = [corpus.docs["id"].iloc[i] for i in corpus.passage_doc]
    assert owners == ["b-battery", "c-privacy", "d-kafka", "d-kafka", "d-kafka", "d-kafka"]
    stored = {(r["doc_id"], r["text"]) for r in store.query("SELECT doc_id, text FROM passages")}
    for owner, text, vector in zip(owners, corpus.passage_texts, corpus.passage_vectors, strict=True):
        assert (owner, text) in stored
        np.testing.assert_allclose(vector, embedder.encode([text])[0])

    assert corpus.doc_vectors.shape == (3, embedder.dim)
    kafka = corpus.passage_vectors[corpus.passage_doc == 2].sum(axis=0)
    np.testing.assert_allclose(corpus.doc_vectors[2], kafka / np.linalg.norm(kafka), rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(corpus.doc_vectors, axis=1), 1.0, rtol=1e-5)


def test_load_corpus_skips_documents_without_vectors(store: Store) -> None:
    cut_passages(store, SETTINGS)
    embedder = FakeEmbedder(name=MODEL)
    todo = passage_texts_without_vectors(store, MODEL)
    battery = {sha for (sha,) in store.query("SELECT sha FROM passages WHERE doc_id = 'b-battery'")}
    embed_texts(store, embedder, {sha: t for sha, t in todo.items() if sha not in battery})
    corpus = load_corpus(store, MODEL)
    assert corpus.docs["id"].tolist() == ["c-privacy", "d-kafka"]
    assert corpus.passage_doc.tolist() == [0, 1, 1, 1, 1]


def test_load_corpus_of_an_empty_store(tmp_path: Path) -> None:
    with Store(tmp_path / "empty.sqlite") as store:
        corpus = load_corpus(store, MODEL)
    assert corpus.docs.empty
    assert corpus.passage_vectors.shape[0] == 0
    assert corpus.passage_doc.shape == (0,)


def test_load_corpus_drops_documents_with_only_some_passage_vectors(store: Store) -> None:
    cut_passages(store, SETTINGS)
    todo = passage_texts_without_vectors(store, MODEL)
    (first_kafka,) = store.query("SELECT sha FROM passages WHERE doc_id = 'd-kafka' AND idx = 0")
    embed_texts(store, FakeEmbedder(name=MODEL), {sha: t for sha, t in todo.items() if sha != first_kafka["sha"]})
    corpus = load_corpus(store, MODEL)
    assert corpus.docs["id"].tolist() == ["b-battery", "c-privacy"]


# -- the frame functions both engines call: a DataFrame in, a DataFrame out, with no store ----------


def test_passage_frame_cuts_as_the_passages_module_does() -> None:
    settings = EmbedSettings(passage_words=20, passage_overlap=5, max_passages=10)
    text = " ".join(f"word{i}" for i in range(50))
    docs = pd.DataFrame([("d1", "A title", text, text_sha(text)), ("d2", "Empty", "", None)],
                        columns=["id", "title", "text", "text_sha"])  # fmt: skip
    out = passage_frame(docs, settings)
    assert list(out.columns) == list(PASSAGES)
    want = passages("A title", text, 20, 5, 10)
    assert out[out["doc_id"] == "d1"]["text"].tolist() == want
    assert out[out["doc_id"] == "d1"]["idx"].tolist() == list(range(len(want)))
    assert out["sha"].tolist() == [text_sha(t) for t in out["text"]]
    assert out[out["doc_id"] == "d2"]["text"].tolist() == ["Empty"]  # the title alone


def test_embed_frame_keeps_each_sha_with_its_vector() -> None:
    embedder = FakeEmbedder()
    batch = pd.DataFrame({"sha": ["s1", "s2"], "text": ["kafka consumer lag", "battery storage"]})
    out = embed_frame(batch, embedder)
    assert out["sha"].tolist() == ["s1", "s2"]
    np.testing.assert_allclose(np.stack(out["vector"]), embedder.encode(batch["text"].tolist()))
    # What the Ray engine writes to Parquet survives the trip through Arrow.
    back = pa.Table.from_pandas(out).to_pandas()
    np.testing.assert_allclose(np.stack(back["vector"]), np.stack(out["vector"]))
    assert embed_frame(batch.iloc[:0], embedder).empty


def test_corpus_frame_drops_documents_missing_a_vector() -> None:
    docs = pd.DataFrame({"id": ["b", "a", "c"], "title": ["B", "A", "C"], "text": ["b", "a", "c"]})
    parts = pd.DataFrame(
        [("a", 1, "a1", "sa1"), ("a", 0, "a0", "sa0"), ("b", 0, "b0", "sb0"), ("b", 1, "b1", "sb1")],
        columns=["doc_id", "idx", "text", "sha"],
    )
    vecs = {sha: np.eye(3, dtype=np.float32)[i % 3] for i, sha in enumerate(["sa0", "sa1", "sb0"])}
    corpus = corpus_frame(docs, parts, vecs)  # b lacks sb1; c has no passages at all
    assert corpus.docs["id"].tolist() == ["a"]
    assert corpus.passage_texts == ["a0", "a1"]  # in passage order
    assert corpus.passage_doc.tolist() == [0, 0]
    np.testing.assert_allclose(corpus.doc_vectors[0], np.array([1, 1, 0]) / np.sqrt(2), rtol=1e-6)
