"""Rank stage (pure): for each contact, score documents over each interest and pick a diverse top k.

A contact's score for a document is the best over its interests taken one at a time, never a
blend of them, so a person with two unrelated interests gets documents for each, not documents
that sit halfway between.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config import RankSettings
from pipeline.interviews import Contact
from pipeline.retrieval import HybridIndex

DOC_COLUMNS = ("id", "title", "url", "source_id", "source_title", "published", "words", "text")
NEAR_DUPLICATE = 0.92  # cosine of mean document vectors above which two documents tell one story
MMR_LAMBDA = 0.25
READABLE_WORDS = 400  # about two minutes of reading: below this a page is thin, if not a stub


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One document proposed to one contact, with everything needed to explain it."""

    id: str
    contact_id: str
    doc_id: str
    rank: int
    score: float
    interest_id: str
    matched_interest: str
    snippet: str | None
    best_passage: str
    parts: dict[str, float] = field(default_factory=dict)


def suggestion_id(contact_id: str, doc_id: str) -> str:
    """Stable across runs, so an id in any report can be marked later."""
    return hashlib.sha256(f"{contact_id}|{doc_id}".encode()).hexdigest()[:10]


def freshness(published: object, today: dt.date, half_life_days: float) -> float:
    """1.0 for today, 0.5 after one half-life; undated documents count as one half-life old."""
    if not isinstance(published, str) or not published:
        return 0.5
    try:
        age = (today - dt.date.fromisoformat(published[:10])).days
    except ValueError:
        return 0.5
    return float(math.pow(0.5, max(age, 0) / half_life_days)) if half_life_days > 0 else 1.0


def readability(words: np.ndarray) -> np.ndarray:
    """A quality prior in [0, 1]: full marks from READABLE_WORDS up, less for thin pages."""
    return np.clip(np.asarray(words, dtype=np.float32) / READABLE_WORDS, 0.0, 1.0)


def combine(fused: Any, fresh: Any, quality: Any, settings: RankSettings) -> Any:
    """The final score from its parts (arrays or scalars); the report and notebooks recompute it here.

    Freshness and quality are multiplicative nudges, each able to move the score by at most its
    weight, so relevance always dominates.
    """
    return (
        fused
        * (1.0 - settings.freshness_weight + settings.freshness_weight * fresh)
        * (1.0 - settings.quality_weight + settings.quality_weight * quality)
    )


def eligible(docs: pd.DataFrame, excluded: set[str], settings: RankSettings) -> np.ndarray:
    """Boolean mask of documents that pass the hard filters for one contact."""
    mask = ~docs["id"].isin(excluded).to_numpy()
    mask &= docs["words"].fillna(0).to_numpy() >= settings.min_words
    if settings.exclude_sources:
        blocked = docs["source_id"].isin(settings.exclude_sources) | docs["source_title"].isin(settings.exclude_sources)
        mask &= ~blocked.to_numpy()
    for term in settings.exclude_terms:
        hay = docs["title"].fillna("") + " " + docs["text"].fillna("")
        mask &= ~hay.str.contains(term, case=False, regex=False).to_numpy()
    return np.asarray(mask, dtype=bool)


def _select(
    order: Sequence[int],
    scores: np.ndarray,
    interest_of: np.ndarray,
    doc_vectors: np.ndarray,
    k: int,
    must_cover: set[int] | None = None,
) -> list[int]:
    """Greedy MMR that first gives every interest its best document, and never takes a near-duplicate.

    `must_cover` limits that first pass to some interests (said ones: an inferred interest earns a
    place on its score alone); None covers every interest.
    """
    chosen: list[int] = []
    pool = list(order)
    covered: set[int] = set()
    while pool and len(chosen) < k:
        best_i, best_value = -1, -np.inf
        uncovered = {int(interest_of[d]) for d in pool} - covered
        if must_cover is not None:
            uncovered &= must_cover
        for position, doc in enumerate(pool):
            if uncovered and int(interest_of[doc]) not in uncovered:
                continue
            similarity = max((float(doc_vectors[doc] @ doc_vectors[c]) for c in chosen), default=0.0)
            value = scores[doc] - MMR_LAMBDA * similarity
            if value > best_value:
                best_i, best_value = position, value
        if best_i < 0:
            break
        doc = pool.pop(best_i)
        covered.add(int(interest_of[doc]))
        chosen.append(doc)
        # Drop what now duplicates a chosen story, so a top k never holds one story twice.
        pool = [d for d in pool if float(doc_vectors[d] @ doc_vectors[doc]) < NEAR_DUPLICATE]
    return chosen


def rank_contact(
    contact: Contact,
    interest_vectors: Mapping[str, np.ndarray],
    index: HybridIndex,
    docs: pd.DataFrame,
    passage_texts: Sequence[str],
    doc_vectors: np.ndarray,
    excluded: set[str],
    settings: RankSettings,
    today: dt.date,
) -> list[Suggestion]:
    """Top suggestions for one contact, best first; empty when nothing clears `min_score`.

    Args:
        docs: one row per document in `index.doc_ids` order, with DOC_COLUMNS.
        passage_texts: aligned with the index's passage matrix, for the explanation.
        doc_vectors: (n_docs, dim) normalised mean passage vectors, for diversity.
        excluded: document ids this contact must not get (sent, skipped, never).
    """
    n = len(docs)
    if n == 0 or not contact.interests:
        return []
    mask = eligible(docs, excluded, settings)
    per_interest = []
    for interest in contact.interests:
        vector = interest_vectors[interest.id]
        per_interest.append((interest, index.score(interest.text, vector)))
    fused = np.stack([s.fused * interest.weight for interest, s in per_interest])
    which = fused.argmax(axis=0)
    columns = np.arange(n)
    dense = np.stack([s.dense for _, s in per_interest])[which, columns]
    lexical = np.stack([s.lexical for _, s in per_interest])[which, columns]
    best_rows = np.stack([s.best_passage for _, s in per_interest])[which, columns]
    fresh = np.array([freshness(p, today, settings.half_life_days) for p in docs["published"]], dtype=np.float32)
    quality = readability(docs["words"].fillna(0).to_numpy())
    base = fused[which, columns]
    score = combine(base, fresh, quality, settings)
    # The threshold is on semantic similarity: BM25 is scaled per query, so its top document
    # always scores 1 even when it is only a weak match.
    mask &= dense >= settings.min_score
    order = [int(i) for i in np.argsort(-score, kind="stable") if mask[i]]
    said = {n for n, (interest, _) in enumerate(per_interest) if interest.kind != "inferred"}
    picked = _select(order, score, which, doc_vectors, settings.top_k, said)
    out = []
    for rank, doc in enumerate(picked, start=1):
        interest = per_interest[int(which[doc])][0]
        doc_id = str(docs["id"].iloc[doc])
        out.append(
            Suggestion(
                id=suggestion_id(contact.id, doc_id),
                contact_id=contact.id,
                doc_id=doc_id,
                rank=rank,
                score=round(float(score[doc]), 4),
                interest_id=interest.id,
                matched_interest=interest.text,
                snippet=interest.snippet,
                best_passage=passage_texts[int(best_rows[doc])] if best_rows[doc] >= 0 else "",
                parts={
                    "dense": round(float(dense[doc]), 4),
                    "lexical": round(float(lexical[doc]), 4),
                    "fused": round(float(base[doc]), 4),
                    "freshness": round(float(fresh[doc]), 4),
                    "quality": round(float(quality[doc]), 4),
                    "interest_weight": float(interest.weight),
                    "inferred": 1.0 if interest.kind == "inferred" else 0.0,
                },
            )
        )
    return out
