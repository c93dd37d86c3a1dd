"""Rank stage (pure): for each contact, score documents over each interest and pick a diverse top k.

A contact's score for a document is the best over its interests taken one at a time, never a
blend of them, so a person with two unrelated interests gets documents for each, not documents
that sit halfway between. A list holds no filler (every score clears an absolute floor and a share
of its interest's best), holds a share of its interest's distinctive words, tells each story once
(pipeline/stories.py), and is in the order of the score it shows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

import numpy as np
import pandas as pd

from pipeline import stories
from pipeline.config import RankSettings
from pipeline.interviews import Contact
from pipeline.retrieval import HybridIndex, QueryScores

DOC_COLUMNS = ("id", "title", "url", "source_id", "source_title", "published", "words", "text")
NEAR_DUPLICATE = 0.92  # cosine of mean document vectors above which two documents are one text, whatever their dates
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
    also: tuple[str, ...] = ()  # other documents telling the same story (other outlets), best first


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


def _allowed(docs: pd.DataFrame, settings: RankSettings) -> np.ndarray:
    """The hard filters that are the same for every contact: stubs, excluded sources and terms."""
    mask = np.asarray(docs["words"].fillna(0).to_numpy() >= settings.min_words, dtype=bool)
    if settings.exclude_sources:
        blocked = docs["source_id"].isin(settings.exclude_sources) | docs["source_title"].isin(settings.exclude_sources)
        mask &= ~blocked.to_numpy()
    for term in settings.exclude_terms:
        hay = docs["title"].fillna("") + " " + docs["text"].fillna("")
        mask &= ~hay.str.contains(term, case=False, regex=False).to_numpy()
    return np.asarray(mask, dtype=bool)


@dataclass(frozen=True, slots=True)
class DocPriors:
    """What ranking needs of each document that no contact changes: computed once per run, not per contact.

    Arrays are aligned with the rows of the documents frame they were computed from.
    """

    fresh: np.ndarray  # freshness in (0, 1]
    quality: np.ndarray  # readability prior in [0, 1]
    allowed: np.ndarray  # passes the contact-independent hard filters
    rows: Mapping[str, tuple[int, ...]]  # document id -> its rows
    days: np.ndarray  # publication day numbers, NaN when undated (stories.day_numbers)
    words: np.ndarray  # words of text: of two equal scores, the more complete article goes first
    titles: tuple[str, ...]  # headlines, for telling stories apart

    def excluded_rows(self, excluded: set[str]) -> np.ndarray:
        """Rows of the documents in `excluded` (a contact's history), ascending."""
        found = [row for doc_id in excluded for row in self.rows.get(doc_id, ())]
        return np.unique(np.asarray(found, dtype=np.int64))


def doc_priors(docs: pd.DataFrame, settings: RankSettings, today: dt.date) -> DocPriors:
    """Freshness, quality and the shared hard filters of every document in `docs`, for one run."""
    rows: dict[str, list[int]] = {}
    for row, doc_id in enumerate(docs["id"]):
        rows.setdefault(doc_id, []).append(row)
    return DocPriors(
        fresh=np.array([freshness(p, today, settings.half_life_days) for p in docs["published"]], dtype=np.float32),
        quality=readability(docs["words"].fillna(0).to_numpy()),
        allowed=_allowed(docs, settings),
        rows={doc_id: tuple(found) for doc_id, found in rows.items()},
        days=stories.day_numbers(docs["published"].tolist()),
        words=np.asarray(docs["words"].fillna(0).to_numpy(), dtype=np.float64),
        titles=tuple(str(t) if isinstance(t, str) else "" for t in docs["title"]),
    )


def _select(
    order: Sequence[int],
    scores: np.ndarray,
    interest_of: np.ndarray,
    doc_vectors: np.ndarray,
    k: int,
    must_cover: set[int] | None = None,
    same_story: Callable[[int, np.ndarray], np.ndarray] | None = None,
    words: np.ndarray | None = None,
    margin: float = 0.0,
) -> list[tuple[int, list[int]]]:
    """Greedy MMR that first gives every interest its best document, and tells each story once.

    Returns (document, the others of its story) pairs, in the order picked. `order` ranks the
    candidates best first; of one story's documents matching the same interest, the longest (`words`)
    of those scoring within `margin` (a share) of the best speaks for it (of equal length, the first in
    `order`), the rest become its "also covered by". Near-duplicate texts are one story whatever their
    dates.

    Args:
        must_cover: limits the coverage pass to some interests (said ones: an inferred interest earns
            a place on its score alone); None covers every interest.
        same_story: (document, pool rows) -> which of them tell its story; None: near-duplicates only.
    """
    chosen: list[tuple[int, list[int]]] = []
    pool = list(order)
    position = {doc: n for n, doc in enumerate(order)}
    covered: set[int] = set()
    # Each pool document's highest similarity to the chosen ones, updated once per pick (the same
    # dot product the story check needs) rather than recomputed against all of them per scan.
    closest: dict[int, float] = {}
    while pool and len(chosen) < k:
        best_i, best_value = -1, -np.inf
        uncovered = {int(interest_of[d]) for d in pool} - covered
        if must_cover is not None:
            uncovered &= must_cover
        for at, doc in enumerate(pool):
            if uncovered and int(interest_of[doc]) not in uncovered:
                continue
            value = scores[doc] - MMR_LAMBDA * closest.get(doc, 0.0)
            if value > best_value:
                best_i, best_value = at, value
        if best_i < 0:
            break
        doc = pool.pop(best_i)
        rest = np.asarray(pool, dtype=np.int64)
        similarity = doc_vectors[rest] @ doc_vectors[doc] if len(rest) else np.zeros(0, dtype=np.float32)
        same = similarity >= NEAR_DUPLICATE
        if same_story is not None and len(rest):
            same |= same_story(doc, rest)
        story = [doc, *(int(d) for d in rest[same])]
        # The most complete of the story's close-scoring articles on the same interest speaks for it
        # (coverage holds): a half-length copy that scores a little higher does not.
        lead = _lead([d for d in story if interest_of[d] == interest_of[doc]], scores, position, words, margin)
        covered.add(int(interest_of[lead]))
        chosen.append((lead, sorted((d for d in story if d != lead), key=position.__getitem__)))
        pool = []
        for d, sim, merged in zip(rest.tolist(), similarity.tolist(), same.tolist(), strict=True):
            if not merged:
                pool.append(d)
                closest[d] = max(closest[d], sim) if d in closest else sim
    return chosen


def _lead(
    members: Sequence[int], scores: np.ndarray, position: Mapping[int, int], words: np.ndarray | None, margin: float
) -> int:
    """Which of one story's members stands for it: of those within `margin` of the best score, the longest."""
    best = min(members, key=position.__getitem__)
    if words is None:
        return best
    close = [d for d in members if scores[d] >= (1.0 - margin) * scores[best]]
    return max(close, key=lambda d: (words[d], -position[d]))


def _candidates(scores: Sequence[QueryScores]) -> np.ndarray | None:
    """The union of every query's scored documents, ascending; None when one of them scored all."""
    scored = [s.docs for s in scores]
    if any(docs is None for docs in scored):
        return None
    return reduce(np.union1d, [docs for docs in scored if docs is not None], np.zeros(0, dtype=np.int64))


def score_interests(
    contacts: Sequence[Contact], interest_vectors: Mapping[str, np.ndarray], index: HybridIndex
) -> list[list[QueryScores]]:
    """Every interest of a block of contacts scored in one index call; one list per contact, in order."""
    interests = [i for contact in contacts for i in contact.interests]
    scored = index.score_many([i.text for i in interests], [interest_vectors[i.id] for i in interests])
    out, at = [], 0
    for contact in contacts:
        out.append(scored[at : at + len(contact.interests)])
        at += len(contact.interests)
    return out


def rank_contacts(
    contacts: Sequence[Contact],
    interest_vectors: Mapping[str, np.ndarray],
    index: HybridIndex,
    docs: pd.DataFrame,
    passage_texts: Sequence[str],
    doc_vectors: np.ndarray,
    excluded: Mapping[str, set[str]],
    settings: RankSettings,
    today: dt.date,
    *,
    priors: DocPriors | None = None,
    block: int = 64,
) -> list[list[Suggestion]]:
    """`rank_contact` for many contacts, their interests scored a block at a time; one list per contact.

    Args:
        excluded: contact id -> the document ids that contact must not get.
        block: contacts whose interests share one approximate search. Brute force gains nothing
            from blocks and would hold every document's scores for each interest of one, so it
            scores one contact at a time.
    """
    if priors is None and len(docs):
        priors = doc_priors(docs, settings, today)
    step = max(1, block) if index.ann is not None else 1
    out: list[list[Suggestion]] = []
    for start in range(0, len(contacts), step):
        chunk = contacts[start : start + step]
        for contact, scores in zip(chunk, score_interests(chunk, interest_vectors, index), strict=True):
            out.append(
                rank_contact(
                    contact,
                    interest_vectors,
                    index,
                    docs,
                    passage_texts,
                    doc_vectors,
                    excluded.get(contact.id, set()),
                    settings,
                    today,
                    priors=priors,
                    scores=scores,
                )
            )
    return out


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
    *,
    priors: DocPriors | None = None,
    scores: Sequence[QueryScores] | None = None,
) -> list[Suggestion]:
    """Top suggestions for one contact, best first; empty when nothing clears `min_score`.

    Args:
        docs: one row per document in `index.doc_ids` order, with DOC_COLUMNS.
        passage_texts: aligned with the index's passage matrix, for the explanation.
        doc_vectors: (n_docs, dim) normalised mean passage vectors, for diversity.
        excluded: document ids this contact must not get (sent, skipped, never).
        priors: `doc_priors(docs, settings, today)`, computed once when ranking many contacts.
        scores: the index's scores for each of `contact.interests`, in order, when a batch already
            has them (`score_interests`); by default they are computed here.
    """
    n = len(docs)
    if n == 0 or not contact.interests:
        return []
    if priors is None:
        priors = doc_priors(docs, settings, today)
    if scores is None:
        scores = index.score_many(
            [i.text for i in contact.interests], [interest_vectors[i.id] for i in contact.interests]
        )
    # Above the approximate threshold each interest scored only its candidates: rank their union
    # (`cols`, ascending rows) instead of every document. None: every document was scored.
    cols = _candidates(scores)
    parts = [s.full(n) if cols is None else s.over(cols) for s in scores]
    # Listed interests first, so that argmax (the first maximum) gives a tie to a listed interest.
    per_interest = sorted(zip(contact.interests, parts, strict=True), key=lambda pair: pair[0].kind == "inferred")
    inferred = np.array([interest.kind == "inferred" for interest, _ in per_interest])
    fused = np.stack([s.fused * interest.weight for interest, s in per_interest])
    which = fused.argmax(axis=0)
    columns = np.arange(fused.shape[1])
    dense = np.stack([s.dense for _, s in per_interest])[which, columns]
    lexical = np.stack([s.lexical for _, s in per_interest])[which, columns]
    best_rows = np.stack([s.best_passage for _, s in per_interest])[which, columns]
    rows = np.arange(n) if cols is None else cols
    fresh, quality, mask = priors.fresh[rows], priors.quality[rows], priors.allowed[rows]
    blocked = priors.excluded_rows(excluded)
    if cols is None:
        mask[blocked] = False
    else:
        mask &= ~np.isin(cols, blocked)
    base = fused[which, columns]
    # Documents that were not candidates have a fused score of -inf; a zero weight would make NaN
    # of them, which is harmless (they are masked out below) but noisy.
    with np.errstate(invalid="ignore"):
        score = combine(base, fresh, quality, settings)
    # A semantic threshold first: BM25 is scaled per query, so its top document always scores 1
    # even when it is only a weak match.
    mask &= dense >= settings.min_score
    mask &= _no_filler(score, which, inferred, mask, settings)
    mask &= _covers(index, [interest.text for interest, _ in per_interest], which, rows, mask, settings.min_coverage)
    keep = np.flatnonzero(mask)
    # Best score first; of equal scores a listed interest's, then the longer article, then document
    # order (exactly as sorting every document and then filtering).
    order = keep[np.lexsort((keep, -priors.words[rows[keep]], inferred[which[keep]], -score[keep]))].tolist()
    said = {n for n, is_inferred in enumerate(inferred) if not is_inferred}
    vectors = doc_vectors if cols is None else doc_vectors[cols]
    titles = priors.titles
    rule = stories.StoryRule(
        cosine=settings.story_cosine, title_overlap=settings.story_title_overlap, days=settings.story_days
    )

    def same_story(local: int, others: np.ndarray) -> np.ndarray:
        return stories.same_story(int(rows[local]), rows[others], doc_vectors, priors.days, titles, rule)

    picked = _select(
        order, score, which, vectors, settings.top_k, said, same_story, priors.words[rows], settings.story_margin
    )
    # The list is in the order of the score it shows; coverage decided what is in it, not where.
    placed = {doc: n for n, doc in enumerate(order)}
    picked.sort(key=lambda pick: placed[pick[0]])
    out = []
    for rank, (local, mates) in enumerate(picked, start=1):
        interest = per_interest[int(which[local])][0]
        doc = int(rows[local])
        doc_id = str(docs["id"].iloc[doc])
        out.append(
            Suggestion(
                id=suggestion_id(contact.id, doc_id),
                contact_id=contact.id,
                doc_id=doc_id,
                rank=rank,
                score=round(float(score[local]), 4),
                interest_id=interest.id,
                matched_interest=interest.text,
                snippet=interest.snippet,
                best_passage=passage_texts[int(best_rows[local])] if best_rows[local] >= 0 else "",
                parts={
                    "dense": round(float(dense[local]), 4),
                    "lexical": round(float(lexical[local]), 4),
                    "fused": round(float(base[local]), 4),
                    "freshness": round(float(fresh[local]), 4),
                    "quality": round(float(quality[local]), 4),
                    "interest_weight": float(interest.weight),
                    "inferred": 1.0 if interest.kind == "inferred" else 0.0,
                },
                also=tuple(str(docs["id"].iloc[int(rows[m])]) for m in mates),
            )
        )
    return out


def _no_filler(
    score: np.ndarray, which: np.ndarray, inferred: np.ndarray, mask: np.ndarray, settings: RankSettings
) -> np.ndarray:
    """Which documents clear the floors on the score the report shows (README: how they were measured).

    An absolute floor, higher for an inferred interest (never lower than a listed one's), and a share
    of the best score for the same interest, so one good match is not padded with weak ones while a
    second interest with a good match of its own keeps it.
    """
    floors = np.where(inferred, max(settings.inferred_floor, settings.score_floor), settings.score_floor)
    with np.errstate(invalid="ignore"):
        ok = mask & (score >= floors[which])
    out = ok.copy()
    for interest in np.unique(which[ok]):
        on = ok & (which == interest)
        out[on] = score[on] >= settings.relative_floor * float(score[on].max())
    return np.asarray(out, dtype=bool)


def _covers(
    index: HybridIndex, texts: Sequence[str], which: np.ndarray, rows: np.ndarray, mask: np.ndarray, minimum: float
) -> np.ndarray:
    """Which documents hold at least `minimum` of their matched interest's IDF-weighted content words.

    An interest is a short phrase whose every distinctive word carries part of what it means (the
    "multidrug" of "multidrug-resistant tuberculosis"): a neighbouring topic that lacks the words
    that carry most of the weight is not on it, however close its vectors. README: how it was measured.
    """
    out = np.asarray(mask, dtype=bool).copy()
    if minimum <= 0:
        return out
    for interest in np.unique(which[out]):
        on = np.flatnonzero(out & (which == interest))
        out[on] = index.lexical.coverage(texts[int(interest)], rows[on]) >= minimum
    return out
