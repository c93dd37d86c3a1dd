"""Measure the rank stage's cut-offs on SciFact: one story once, no filler, the inferred-interest bar.

Reads `../shared/eval/scifact` (claims play interests, abstracts play articles) through the nightly
ranking core and the `gifts eval` vector cache, and prints three tables (README, design notes):

1. stories: how often the same-story rule merges different stories (pairs of abstracts the same claim
   does not share, both among its ten best) and splits one (pairs of abstracts judged for the same claim);
2. filler: the score the report shows (for an article published today) of each claim's top five,
   relevant against not, and what an absolute floor and a floor relative to the best would keep;
3. inferred: the same with each claim cut to the noun phrase a notes reader would infer (spaCy noun
   chunks, the one closest to the claim), scored at the inferred weight, against the listed floor;
4. coverage: what the lists keep when a document must also contain a share of its interest's
   IDF-weighted terms, for the full claims and for those noun phrases as listed interests.

Run: .venv/bin/python benchmarks/calibrate_rank.py [--data ../shared/eval/scifact] [--json out.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import EmbedSettings, InterestSettings, RankSettings
from pipeline.embed import PROJECT_MODELS, load_embedder
from pipeline.evaluate import BeirData, build_index, default_cache, load_beir, nightly_settings, query_vectors
from pipeline.passages import passages
from pipeline.rank import combine, readability
from pipeline.retrieval import HybridIndex
from pipeline.store import Store
from pipeline.stories import StoryRule, pair_features
from pipeline.vectors import doc_means

ROOT = Path(__file__).resolve().parent.parent
TOP = 5


def shown_scores(index: HybridIndex, text: str, vector: np.ndarray, quality: np.ndarray, weight: float) -> Any:
    """(shown score, dense) per document for one query, as the report shows it for a fresh article."""
    scores = index.score(text, vector)
    settings = RankSettings()
    return combine(scores.fused * weight, 1.0, quality, settings), scores.dense


def top_lists(
    data: BeirData, index: HybridIndex, texts: Sequence[str], vectors: np.ndarray, weight: float
) -> list[tuple[str, list[float], list[bool]]]:
    """Per query: (id, the top five's shown scores, whether each is judged relevant), as the list would hold."""
    quality = readability(np.array([len(t.split()) for t in data.texts]))
    floor = RankSettings().min_score
    out = []
    for qid, text, vector in zip(data.query_ids, texts, vectors, strict=True):
        shown, dense = shown_scores(index, text, vector, quality, weight)
        shown = np.where(dense >= floor, shown, -np.inf)
        top = [int(i) for i in np.argsort(-shown, kind="stable")[:TOP] if np.isfinite(shown[i])]
        relevant = data.qrels[qid]
        out.append((qid, [float(shown[i]) for i in top], [relevant.get(data.doc_ids[i], 0) > 0 for i in top]))
    return out


def cut(lists: Sequence[tuple[str, list[float], list[bool]]], floor: float, relative: float) -> dict[str, float]:
    """What a list keeps with an absolute floor and a floor relative to its best score."""
    kept = kept_relevant = relevant_before = served = served_before = empty = 0
    for _qid, scores, relevant in lists:
        best = scores[0] if scores else 0.0
        keep = [s >= floor and s >= relative * best for s in scores]
        kept += sum(keep)
        kept_relevant += sum(k and r for k, r in zip(keep, relevant, strict=True))
        relevant_before += sum(relevant)
        served_before += any(relevant)
        served += any(k and r for k, r in zip(keep, relevant, strict=True))
        empty += not any(keep)
    n = max(len(lists), 1)
    return {
        "floor": floor,
        "relative": relative,
        "items": kept,
        "relevant_kept": kept_relevant / max(relevant_before, 1),
        "served": served / max(served_before, 1),
        "precision": kept_relevant / max(kept, 1),
        "mean_length": kept / n,
        "empty": empty / n,
    }


COVERAGES = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def covered_lists(
    data: BeirData, index: HybridIndex, texts: Sequence[str], vectors: np.ndarray
) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """Per query: (id, shown scores, interest coverage, relevance) of the documents that clear the
    semantic threshold and the calibrated floors (absolute and relative), as the rank stage keeps them."""
    quality = readability(np.array([len(t.split()) for t in data.texts]))
    settings = RankSettings()
    out = []
    for qid, text, vector in zip(data.query_ids, texts, vectors, strict=True):
        shown, dense = shown_scores(index, text, vector, quality, 1.0)
        ok = np.flatnonzero((dense >= settings.min_score) & (shown >= settings.score_floor))
        if len(ok):
            ok = ok[shown[ok] >= settings.relative_floor * float(shown[ok].max())]
        ok = ok[np.argsort(-shown[ok], kind="stable")]
        relevant = np.array([data.qrels[qid].get(data.doc_ids[i], 0) > 0 for i in ok], dtype=bool)
        out.append((qid, shown[ok], index.lexical.coverage(text, ok), relevant))
    return out


def coverage_cut(lists: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]], minimum: float) -> dict[str, float]:
    """What the five slots hold when a document must also contain `minimum` of its interest's IDF-weighted
    terms (a pure cut of the floors' survivors; the slots are filled from below as the rank stage does)."""
    held = held_relevant = base_relevant = served = served_before = empty = 0
    for _qid, _shown, coverage, relevant in lists:
        keep = np.flatnonzero(coverage >= minimum)[:TOP]
        held += len(keep)
        held_relevant += int(relevant[keep].sum())
        base_relevant += int(relevant[:TOP].sum())
        served += bool(relevant[keep].any())
        served_before += bool(relevant[:TOP].any())
        empty += not len(keep)
    n = max(len(lists), 1)
    return {
        "min_coverage": minimum,
        "items": held,
        "relevant_kept": held_relevant / max(base_relevant, 1),
        "served": served / max(served_before, 1),
        "precision": held_relevant / max(held, 1),
        "mean_length": held / n,
        "empty": empty / n,
    }


def story_pairs(
    data: BeirData, index: HybridIndex, vectors: np.ndarray
) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    """(same-story pairs, different-story pairs) of corpus rows, the relevant abstract first in the latter.

    Same: two abstracts judged relevant to one claim (the same finding from two teams). Different: a
    claim's relevant abstract and another of its ten best-scored abstracts not judged for it (same
    topic, another finding: the pairs a merge rule could confuse).
    """
    row = {doc_id: i for i, doc_id in enumerate(data.doc_ids)}
    same: set[tuple[int, int]] = set()
    different: set[tuple[int, int]] = set()
    for qid, text, vector in zip(data.query_ids, data.queries, vectors, strict=True):
        relevant = sorted(row[d] for d, r in data.qrels[qid].items() if r > 0 and d in row)
        same.update(itertools.combinations(relevant, 2))
        top = np.argsort(-index.score(text, vector).fused, kind="stable")[:10]
        different.update((r, int(d)) for r in relevant for d in top if int(d) not in relevant)
    return same, {p for p in different if (min(p), max(p)) not in same}


Features = dict[tuple[int, int], tuple[float, float]]


def rate_table(same: Features, different: Features) -> dict[str, Any]:
    """Merge rate (different stories merged) and split rate (one story left apart) at several thresholds."""

    def rates(merge: Any) -> dict[str, float]:
        merged = sum(bool(merge(*f)) for f in different.values())
        split = sum(not merge(*f) for f in same.values())
        return {"merge_rate": merged / max(len(different), 1), "split_rate": split / max(len(same), 1)}

    rule = StoryRule()
    return {
        "pairs": {"same": len(same), "different": len(different)},
        "cosine_quantiles_10_50_90": {
            name: np.quantile([f[0] for f in pairs.values()], [0.1, 0.5, 0.9]).round(3).tolist()
            for name, pairs in (("same", same), ("different", different))
        },
        "by_cosine": [{"cosine": t, **rates(lambda c, _s, t=t: c >= t)} for t in (0.70, 0.75, 0.80, 0.85, 0.90)],
        "by_title_overlap": [
            {"title_overlap": t, **rates(lambda c, s, t=t: c >= rule.title_cosine and s >= t)}
            for t in (0.3, 0.4, 0.5, 0.6)
        ],
        "rule": rates(lambda c, s: c >= rule.cosine or (c >= rule.title_cosine and s >= rule.title_overlap)),
    }


def halves_features(
    data: BeirData, same: set[tuple[int, int]], different: set[tuple[int, int]], embedder: Any, cache: Store
) -> tuple[Features, Features]:
    """Two "outlets" per pair, built so they share an event but not a sentence.

    Outlet A: the abstract's title over its first half (by sentences). Outlet B: a claim judged for
    an abstract as its headline, over that abstract's second half. Same story: A and B of one abstract.
    Different: A of a claim's relevant abstract, B of an abstract among its ten best that another
    claim is judged for (so it has a claim for a headline).
    """
    from pipeline.language import sentences_many

    claim_of: dict[int, str] = {}
    row = {doc_id: i for i, doc_id in enumerate(data.doc_ids)}
    for qid, text in zip(data.query_ids, data.queries, strict=True):
        for doc_id, r in data.qrels[qid].items():
            if r > 0 and doc_id in row:
                claim_of.setdefault(row[doc_id], text)
    different = {(a, b) for a, b in different if b in claim_of}
    rows = sorted({a for a, _ in different} | set(claim_of))
    split = dict(zip(rows, sentences_many([data.texts[r] for r in rows]), strict=True))

    def outlet(r: int, part: int) -> tuple[str, str]:
        sents = split[r]
        half = max(1, len(sents) // 2)
        body = " ".join(sents[:half] if part == 0 else sents[half:]) or data.texts[r]
        return (data.titles[r], body) if part == 0 else (claim_of[r], body)

    wanted = {(r, 0) for r in rows} | {(r, 1) for r in claim_of}
    texts = {key: outlet(*key) for key in wanted}
    keys = sorted(texts)
    cut = [passages(t, b, 180, 40, 24) for t, b in (texts[k] for k in keys)]
    flat = [p for ps in cut for p in ps]
    matrix = query_vectors(flat, embedder, cache)
    owner = np.repeat(np.arange(len(keys)), [len(ps) for ps in cut])
    means = doc_means(matrix, owner, len(keys))
    at = {k: i for i, k in enumerate(keys)}
    heads = [texts[k][0] for k in keys]

    def features(a: tuple[int, int], b: tuple[int, int]) -> tuple[float, float]:
        return pair_features(at[a], at[b], means, heads)

    return (
        {(r, r): features((r, 0), (r, 1)) for r in claim_of},
        {(a, b): features((a, 0), (b, 1)) for a, b in different},
    )


def noun_phrases(claims: Sequence[str], vectors: np.ndarray, embedder: Any) -> list[str | None]:
    """Per claim, the 2-6 word noun chunk closest to it (None: it has none), as an inferred interest would be."""
    from pipeline.language import pipeline

    nlp = pipeline()  # the verified en_core_web_sm the profile stage uses
    chosen: list[str | None] = []
    for doc, vector in zip(nlp.pipe(claims), vectors, strict=True):
        phrases = []
        for chunk in doc.noun_chunks:
            tokens = [t for t in chunk if t.pos_ not in ("DET", "PRON") and not t.is_punct]
            if 2 <= len(tokens) <= 6:
                phrases.append(" ".join(t.text for t in tokens))
        if not phrases:
            chosen.append(None)
            continue
        encoded = np.asarray(embedder.encode(phrases), dtype=np.float32)
        chosen.append(phrases[int(np.argmax(encoded @ vector))])
    return chosen


def choose(
    stories: dict[str, Any],
    grid: list[dict[str, float]],
    bars: list[dict[str, Any]],
    coverage: dict[str, list[dict[str, float]]],
) -> dict[str, float]:
    """The settings the figures pick, by rules fixed before looking at them (README, design notes).

    - story cosine: the lowest that merges at most 2% of different-story pairs in both pair sets;
      headline overlap: the lowest that merges at most 0.5% of them;
    - list floors: the most precise (absolute, relative) cut that keeps at least 95% of the relevant
      documents the five slots held;
    - inferred floor: the lowest floor, at least the listed one, at which inferred suggestions are
      as precise as they get (within 0.01 of the best precision over floors keeping 100 or more);
    - interest coverage: the most precise on the noun phrases (listed, as short interests are written)
      of those that keep at least 95% of the relevant documents the lists held without it, for both the
      phrases and the full claims (of equal precision, the lowest).
    """
    sets = list(stories.values())
    cosine = min(
        row["cosine"] for row in sets[0]["by_cosine"]
        if all(next(r for r in s["by_cosine"] if r["cosine"] == row["cosine"])["merge_rate"] <= 0.02 for s in sets)
    )  # fmt: skip
    overlap = min(
        row["title_overlap"] for row in sets[0]["by_title_overlap"]
        if all(
            next(r for r in s["by_title_overlap"] if r["title_overlap"] == row["title_overlap"])["merge_rate"] <= 0.005
            for s in sets
        )
    )  # fmt: skip
    listed = max((row for row in grid if row["relevant_kept"] >= 0.95), key=lambda row: row["precision"])
    usable = [b for b in bars if b["inferred"]["items"] >= 100 and b["floor"] >= listed["floor"]]
    best = max(b["inferred"]["precision"] for b in usable)
    inferred = min(b["floor"] for b in usable if b["inferred"]["precision"] >= best - 0.01)
    # Interest coverage: the most precise on the interest-like phrases of those keeping at least 95% of
    # the relevant documents the lists held without it, for the phrases and the full claims alike.
    safe = [
        c for c in coverage["phrases"]
        if c["relevant_kept"] >= 0.95
        and next(r for r in coverage["claims"] if r["min_coverage"] == c["min_coverage"])["relevant_kept"] >= 0.95
    ]  # fmt: skip
    top = max(c["precision"] for c in safe)
    min_coverage = min(c["min_coverage"] for c in safe if c["precision"] >= top)
    return {
        "min_coverage": min_coverage,
        "story_cosine": cosine,
        "story_title_overlap": overlap,
        "score_floor": listed["floor"],
        "relative_floor": listed["relative"],
        "inferred_floor": inferred,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "eval" / "scifact")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args()
    data = load_beir(args.data)
    embedder = load_embedder("all-MiniLM-L6-v2", PROJECT_MODELS, backend=EmbedSettings().backend)
    with Store(default_cache()) as cache:
        index, _ = build_index(data, embedder, cache, EmbedSettings(), nightly_settings())
        claims = query_vectors(data.queries, embedder, cache)
        phrases = noun_phrases(data.queries, claims, embedder)
        have = [i for i, p in enumerate(phrases) if p]
        phrase_vectors = query_vectors([str(phrases[i]) for i in have], embedder, cache)
        doc_vectors = doc_means(index.passage_vectors, index.passage_doc, len(data.doc_ids))

        same, different = story_pairs(data, index, claims)
        halves_same, halves_different = halves_features(data, same, different, embedder, cache)
    unordered = {(min(p), max(p)) for p in different}
    stories = {
        "co_relevant": rate_table(
            {p: pair_features(*p, doc_vectors, data.titles) for p in same},
            {p: pair_features(*p, doc_vectors, data.titles) for p in unordered},
        ),
        "halves": rate_table(halves_same, halves_different),
    }

    listed = top_lists(data, index, data.queries, claims, 1.0)
    floors = (0.0, 0.40, 0.45, 0.475, 0.50, 0.525, 0.55, 0.60)
    grid = [cut(listed, f, r) for f in floors for r in (0.0, 0.7, 0.75, 0.8, 0.85, 0.9)]
    scores = {
        label: np.quantile([s for _q, ss, rr in listed for s, r in zip(ss, rr, strict=True) if r == want],
                           [0.1, 0.25, 0.5, 0.75, 0.9]).round(3).tolist()
        for label, want in (("relevant", True), ("not_relevant", False))
    }  # fmt: skip
    subset = BeirData(
        data.name, data.doc_ids, data.titles, data.texts,
        [data.query_ids[i] for i in have], [str(phrases[i]) for i in have], data.qrels,
    )  # fmt: skip
    weight = InterestSettings().inferred_weight
    inferred = top_lists(subset, index, subset.queries, phrase_vectors, weight)
    listed_same = [x for x in listed if x[0] in set(subset.query_ids)]
    bars = [
        {"floor": f, "listed": cut(listed_same, f, 0.0), "inferred": cut(inferred, f, 0.0)}
        for f in (0.0, 0.40, 0.425, 0.45, 0.475, 0.50, 0.525, 0.55, 0.575, 0.60)
    ]
    phrase_data = BeirData(
        data.name, data.doc_ids, data.titles, data.texts,
        subset.query_ids, subset.queries, data.qrels,
    )  # fmt: skip
    with_coverage = {
        "claims": covered_lists(data, index, data.queries, claims),
        "phrases": covered_lists(phrase_data, index, subset.queries, phrase_vectors),
    }
    coverage = {name: [coverage_cut(lists, c) for c in COVERAGES] for name, lists in with_coverage.items()}
    out = {
        "chosen": choose(stories, grid, bars, coverage),
        "coverage": coverage,
        "stories": stories,
        "filler": {"score_quantiles_10_25_50_75_90": scores, "grid": grid},
        "inferred": {"queries": len(have), "examples": [str(phrases[i]) for i in have[:8]], "bars": bars},
    }
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
