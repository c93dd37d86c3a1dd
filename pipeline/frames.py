"""The batch contract both engines share: pure stage functions, a pandas DataFrame in, a DataFrame out.

The local engine calls these on batches it reads from the SQLite store; the Ray engine
(`engine_ray.py`) maps the very same functions over Ray Data blocks it reads from Parquet. Keeping
the work here, and the reading and writing in the engines, is what makes the two engines give
the same suggestions for the same inputs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline import dedupe, feedback
from pipeline.config import EmbedSettings, RankSettings
from pipeline.embed import Embedder
from pipeline.extract import Extracted, extract, passages, sniff_kind
from pipeline.interviews import Contact
from pipeline.rank import DocPriors, Suggestion, rank_contacts
from pipeline.retrieval import HybridIndex

# Columns of each frame, in order: an engine that writes a frame to Parquet writes exactly these.
EXTRACT_IN = ("id", "body", "kind", "title", "url")
EXTRACTED = ("id", "state", "reason", "title", "text", "text_sha", "words", "kind", "simhash")
PASSAGES = ("doc_id", "idx", "text", "sha", "text_sha")
VECTORS = ("sha", "vector")
SUGGESTIONS = (
    "id", "contact_id", "doc_id", "rank", "score", "interest_id", "matched_interest", "snippet", "best_passage",
    "parts", "also",
)  # fmt: skip


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def extracted_fields(result: Extracted, kind: str, title: str | None, url: str | None) -> dict[str, Any]:
    """What a document row becomes after extraction (the store's columns, minus bookkeeping)."""
    text = result.text
    if result.title and (url is None or not title):
        title = result.title  # local files have only a file name; the document knows better
    return {
        "state": result.state,
        "reason": result.reason,
        "title": title,
        "text": text or None,
        "text_sha": text_sha(text) if text else None,
        "words": len(text.split()),
        "kind": kind,
    }


def extract_frame(batch: pd.DataFrame) -> pd.DataFrame:
    """EXTRACT_IN rows (raw bodies) -> EXTRACTED rows, extracting in this process."""
    kinds, results = {}, {}
    for record in batch.to_dict("records"):
        body = bytes(record["body"] or b"")
        kinds[record["id"]] = sniff_kind(body[:4096], "", record["kind"] or "text")
        results[record["id"]] = extract(body, kinds[record["id"]])
    return extracted_frame(batch.assign(kind=batch["id"].map(kinds)), results)


def extracted_frame(batch: pd.DataFrame, results: Mapping[str, Extracted]) -> pd.DataFrame:
    """(id, kind, title, url) rows and each one's extraction result -> EXTRACTED rows.

    Bad input yields a state and a reason, never an exception: `results` holds one for every id.
    """
    rows = []
    for record in batch.to_dict("records"):
        fields = extracted_fields(results[record["id"]], record["kind"], record["title"], record["url"])
        fields["simhash"] = dedupe.simhash(fields["text"]) if fields["text"] else None
        rows.append({"id": record["id"], **fields})
    return pd.DataFrame(rows, columns=list(EXTRACTED))


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


@dataclass(frozen=True)
class RankInputs:
    """Everything the rank stage needs besides the contacts themselves; built once per run and,
    with the Ray engine, shared with every rank worker through the object store."""

    contacts: Mapping[str, Contact]
    interest_vectors: Mapping[str, np.ndarray]
    index: HybridIndex
    corpus: Corpus
    excluded_docs: Mapping[str, set[str]]
    dropped_interests: Mapping[str, set[str]]
    settings: RankSettings
    today: dt.date
    priors: DocPriors
    feedback_model: feedback.FeedbackModel | None = None
    top_k: int = 5  # the list length kept after a feedback re-rank (settings.top_k is then the wider pool)
    facts: Mapping[str, tuple[int, str, str]] = dataclasses.field(default_factory=dict)  # words, kind, source


def rerank(
    model: feedback.FeedbackModel,
    ranked: list[Suggestion],
    facts: Mapping[str, tuple[int, str, str]],
    top_k: int,
    kinds: Mapping[str, str],
) -> list[Suggestion]:
    """The feedback model's order over a contact's wider candidate pool, cut back to `top_k`."""
    rows = [
        feedback.features(
            {**s.parts, "score": s.score}, words=facts[s.doc_id][0], doc_kind=facts[s.doc_id][1],
            source_id=facts[s.doc_id][2], interest_kind=kinds.get(s.interest_id, "said"),
        )
        for s in ranked
    ]  # fmt: skip
    probability = model.predict(rows)
    order = feedback.rerank_order(model, rows)[:top_k]
    return [
        dataclasses.replace(
            ranked[i],
            rank=n,
            parts={**ranked[i].parts, "base_rank": ranked[i].rank, "feedback": round(float(probability[i]), 4)},
        )
        for n, i in enumerate(order, start=1)
    ]


def rank_frame(batch: pd.DataFrame, inputs: RankInputs) -> pd.DataFrame:
    """(contact_id) rows -> SUGGESTIONS rows for those contacts, best first per contact."""
    corpus = inputs.corpus
    contacts = []
    for contact_id in batch["contact_id"]:
        contact = inputs.contacts[contact_id]
        dropped = inputs.dropped_interests.get(contact.id, set())
        if dropped:  # `never` for a topic: that interest no longer exists for this contact
            contact = dataclasses.replace(contact, interests=tuple(i for i in contact.interests if i.id not in dropped))
        contacts.append(contact)
    ranked = rank_contacts(
        contacts, inputs.interest_vectors, inputs.index, corpus.docs, corpus.passage_texts, corpus.doc_vectors,
        inputs.excluded_docs, inputs.settings, inputs.today, priors=inputs.priors,
    )  # fmt: skip
    out: list[Suggestion] = []
    for contact, suggestions in zip(contacts, ranked, strict=True):
        if inputs.feedback_model is not None:
            kinds = {i.id: i.kind for i in contact.interests}
            suggestions = rerank(inputs.feedback_model, suggestions, inputs.facts, inputs.top_k, kinds)
        out.extend(suggestions)
    return suggestions_frame(out)


def suggestions_frame(suggestions: list[Suggestion]) -> pd.DataFrame:
    # Score parts as JSON text: their keys vary (a feedback re-rank adds some), which Arrow would
    # turn into one struct padded with nulls. The same story's other documents likewise.
    rows = [
        {**dataclasses.asdict(s), "parts": json.dumps(s.parts, sort_keys=True), "also": json.dumps(list(s.also))}
        for s in suggestions
    ]
    return pd.DataFrame(rows, columns=list(SUGGESTIONS))


def text_or_none(value: Any) -> str | None:
    """A missing text as None: through Arrow and pandas 3 a None in a text column comes back as NaN."""
    return value if isinstance(value, str) else None


def suggestions_from_frame(frame: pd.DataFrame) -> list[Suggestion]:
    return [
        Suggestion(
            id=r["id"], contact_id=r["contact_id"], doc_id=r["doc_id"], rank=int(r["rank"]), score=float(r["score"]),
            interest_id=r["interest_id"], matched_interest=r["matched_interest"], snippet=text_or_none(r["snippet"]),
            best_passage=r["best_passage"], parts=json.loads(r["parts"]),
            also=tuple(json.loads(text_or_none(r.get("also")) or "[]")),
        )
        for r in frame.to_dict("records")
    ]  # fmt: skip
