"""The rank stage as both engines run it: a frame of contact ids in, a frame of suggestions out.

The local engine ranks every contact in one call; the Ray engine maps the same `rank_frame` over
blocks of contacts, sharing one `RankInputs` (index, corpus, vectors) with every rank worker.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline import feedback
from pipeline.config import RankSettings
from pipeline.interviews import Contact
from pipeline.rank import DocPriors, Suggestion, rank_contacts
from pipeline.retrieval import HybridIndex
from pipeline.vectors import Corpus

# Columns of the suggestions frame, in order: the Ray engine's rank workers return exactly these.
SUGGESTIONS = (
    "id", "contact_id", "doc_id", "rank", "score", "interest_id", "matched_interest", "snippet", "best_passage",
    "parts", "also",
)  # fmt: skip


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
