"""Stories: articles from different outlets on one event count once in a person's list.

Near-identical text is dedupe.py's job (SimHash, at extract time); here the articles share the
event, not the words. Two documents tell one story when they were published within `days` of each
other and either their document vectors are close (`cosine`) or their headlines share most of their
content words (`title_overlap`, with a looser cosine as a guard). The thresholds were measured on
SciFact pairs (`benchmarks/calibrate_rank.py`, table in the README's design notes).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True, slots=True)
class StoryRule:
    """When two documents are one story; see the module docstring and the README for the figures."""

    cosine: float = 0.80  # document-vector cosine at or above which two dated-together documents are one story
    title_overlap: float = 0.4  # headline content-word Jaccard at or above which they are one story ...
    title_cosine: float = 0.6  # ... provided their vectors agree at least this much
    days: int = 3  # publication dates further apart than this are separate stories (undated: not ruled out)


def day_numbers(published: Sequence[object]) -> np.ndarray:
    """Each publication date as a day number (float), NaN when missing or unreadable."""
    out = np.full(len(published), np.nan, dtype=np.float64)
    for row, value in enumerate(published):
        if isinstance(value, str) and value:
            try:
                out[row] = dt.date.fromisoformat(value[:10]).toordinal()
            except ValueError:
                continue
    return out


@lru_cache(maxsize=1)
def _stemming() -> tuple[object, frozenset[str]]:
    import Stemmer
    from bm25s.stopwords import STOPWORDS_EN

    return Stemmer.Stemmer("english"), frozenset(STOPWORDS_EN)


@lru_cache(maxsize=65_536)
def title_words(title: str) -> frozenset[str]:
    """A headline's content words, stemmed as the lexical ranking stems them (stop words dropped)."""
    stemmer, stop = _stemming()
    words = (w.lower() for w in _WORD.findall(title or ""))
    return frozenset(stemmer.stemWord(w) for w in words if w not in stop and len(w) > 1)  # type: ignore[attr-defined]


def title_similarity(a: str, b: str) -> float:
    """Jaccard of two headlines' content words; 0 when either has fewer than three (too little to tell)."""
    left, right = title_words(a), title_words(b)
    if len(left) < 3 or len(right) < 3:
        return 0.0
    return len(left & right) / len(left | right)


def same_story(
    doc: int,
    others: np.ndarray,
    doc_vectors: np.ndarray,
    days: np.ndarray,
    titles: Sequence[str],
    rule: StoryRule,
) -> np.ndarray:
    """Which of `others` (rows) tell the same story as `doc` (a row); a boolean array aligned with them.

    Args:
        doc_vectors: (n, dim) normalised document vectors, rows as `doc` and `others`.
        days: `day_numbers` of the same rows.
        titles: the same rows' headlines.
    """
    others = np.asarray(others, dtype=np.int64)
    if not len(others):
        return np.zeros(0, dtype=bool)
    cosine = doc_vectors[others] @ doc_vectors[doc]
    apart = np.abs(days[others] - days[doc])
    # NaN (either undated) compares False, so an undated article is never kept apart by its date.
    close_in_time = ~(apart > rule.days)
    out = close_in_time & (cosine >= rule.cosine)
    maybe = np.flatnonzero(close_in_time & ~out & (cosine >= rule.title_cosine))
    for at in maybe:
        if title_similarity(titles[doc], titles[int(others[at])]) >= rule.title_overlap:
            out[at] = True
    return np.asarray(out, dtype=bool)


def pair_features(a: int, b: int, doc_vectors: np.ndarray, titles: Sequence[str]) -> tuple[float, float]:
    """(document cosine, headline similarity) of two rows: what the rule looks at besides dates."""
    cosine = float(doc_vectors[a] @ doc_vectors[b])
    return (cosine if math.isfinite(cosine) else 0.0), title_similarity(titles[a], titles[b])
