"""The batch functions both engines call: each is a DataFrame in, a DataFrame out, with no store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from conftest import SAMPLE, FakeEmbedder

from pipeline import dedupe, frames
from pipeline.config import EmbedSettings
from pipeline.extract import passages
from pipeline.rank import Suggestion

INBOX = SAMPLE / "inbox"


def _inbox(name: str) -> bytes:
    return (INBOX / name).read_bytes()


def test_extract_frame_handles_html_pdf_text_and_junk() -> None:
    batch = pd.DataFrame(
        [
            ("h", _inbox("accessibility-audits-internal-tools.html"), "html", None, None),
            ("p", _inbox("mentoring-programs-junior-data-engineers.pdf"), "text", "a.pdf", None),  # bytes beat the hint
            ("t", _inbox("on-call-practices-data-teams-notes.txt"), "text", None, None),
            ("j", b"%PDF-1.7 truncated \x00\x01", "pdf", None, "https://example.org/broken.pdf"),
        ],
        columns=list(frames.EXTRACT_IN),
    )
    out = frames.extract_frame(batch).set_index("id")
    assert list(out.reset_index().columns) == list(frames.EXTRACTED)
    assert out.loc[["h", "p", "t"], "state"].tolist() == ["extracted"] * 3
    assert out.loc["p", "kind"] == "pdf"
    assert out.loc["j", "state"] == "extract_failed" and out.loc["j", "reason"]
    assert pd.isna(out.loc["j", "text"]) and pd.isna(out.loc["j", "simhash"])
    text = out.loc["t", "text"]
    assert out.loc["t", "words"] == len(text.split())
    assert out.loc["t", "text_sha"] == frames.text_sha(text)
    assert out.loc["t", "simhash"] == dedupe.simhash(text)
    assert out.loc["t", "title"]  # a local file's title comes from the document itself


def test_passage_frame_cuts_as_the_extract_module_does() -> None:
    settings = EmbedSettings(passage_words=20, passage_overlap=5, max_passages=10)
    text = " ".join(f"word{i}" for i in range(50))
    docs = pd.DataFrame([("d1", "A title", text, frames.text_sha(text)), ("d2", "Empty", "", None)],
                        columns=["id", "title", "text", "text_sha"])  # fmt: skip
    out = frames.passage_frame(docs, settings)
    assert list(out.columns) == list(frames.PASSAGES)
    want = passages("A title", text, 20, 5, 10)
    assert out[out["doc_id"] == "d1"]["text"].tolist() == want
    assert out[out["doc_id"] == "d1"]["idx"].tolist() == list(range(len(want)))
    assert out["sha"].tolist() == [frames.text_sha(t) for t in out["text"]]
    assert out[out["doc_id"] == "d2"]["text"].tolist() == ["Empty"]  # the title alone


def test_embed_frame_keeps_each_sha_with_its_vector() -> None:
    embedder = FakeEmbedder()
    batch = pd.DataFrame({"sha": ["s1", "s2"], "text": ["kafka consumer lag", "battery storage"]})
    out = frames.embed_frame(batch, embedder)
    assert out["sha"].tolist() == ["s1", "s2"]
    np.testing.assert_allclose(np.stack(out["vector"]), embedder.encode(batch["text"].tolist()))
    # What the Ray engine writes to Parquet survives the trip through Arrow.
    back = pa.Table.from_pandas(out).to_pandas()
    np.testing.assert_allclose(np.stack(back["vector"]), np.stack(out["vector"]))
    assert frames.embed_frame(batch.iloc[:0], embedder).empty


def test_corpus_frame_drops_documents_missing_a_vector() -> None:
    docs = pd.DataFrame({"id": ["b", "a", "c"], "title": ["B", "A", "C"], "text": ["b", "a", "c"]})
    parts = pd.DataFrame(
        [("a", 1, "a1", "sa1"), ("a", 0, "a0", "sa0"), ("b", 0, "b0", "sb0"), ("b", 1, "b1", "sb1")],
        columns=["doc_id", "idx", "text", "sha"],
    )
    vecs = {sha: np.eye(3, dtype=np.float32)[i % 3] for i, sha in enumerate(["sa0", "sa1", "sb0"])}
    corpus = frames.corpus_frame(docs, parts, vecs)  # b lacks sb1; c has no passages at all
    assert corpus.docs["id"].tolist() == ["a"]
    assert corpus.passage_texts == ["a0", "a1"]  # in passage order
    assert corpus.passage_doc.tolist() == [0, 0]
    np.testing.assert_allclose(corpus.doc_vectors[0], np.array([1, 1, 0]) / np.sqrt(2), rtol=1e-6)


def test_suggestions_survive_a_frame_round_trip(tmp_path: Path) -> None:
    made = [
        Suggestion("i1", "c1", "d1", 1, 0.81, "int1", "kafka", None, "best", {"dense": 0.7, "lexical": 1.0}),
        Suggestion("i2", "c1", "d2", 2, 0.5, "int1", "kafka", "said it", "p", {"dense": 0.4, "feedback": 0.9}),
    ]
    frame = frames.suggestions_frame(made)
    assert list(frame.columns) == list(frames.SUGGESTIONS)
    assert json.loads(frame["parts"].iloc[1]) == {"dense": 0.4, "feedback": 0.9}
    parquet = tmp_path / "s.parquet"
    frame.to_parquet(parquet)
    assert frames.suggestions_from_frame(pd.read_parquet(parquet)) == made
