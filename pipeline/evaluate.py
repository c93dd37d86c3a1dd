"""Evaluation on BEIR-format folders with the same ranking core the nightly run uses.

Queries play interests and corpus documents play articles: documents are cut into passages
exactly as in the embed stage, vectors come from the same cache, and scores from HybridIndex.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import EmbedSettings, RankSettings, RetrievalSettings
from pipeline.embed import Embedder
from pipeline.errors import ConfigError
from pipeline.passages import passages
from pipeline.retrieval import HybridIndex
from pipeline.store import Store
from pipeline.vectors import embed_texts, text_sha


@dataclass(frozen=True, slots=True)
class BeirData:
    """A BEIR folder in memory: documents, the judged queries, and their relevance judgments."""

    name: str
    doc_ids: list[str]
    titles: list[str]
    texts: list[str]
    query_ids: list[str]
    queries: list[str]
    qrels: dict[str, dict[str, int]]


@dataclass(frozen=True, slots=True)
class EvalResult:
    ndcg_at_10: float
    recall_at_100: float
    mrr_at_10: float
    index_s: float
    rank_s: float
    embedded: int
    queries: int
    settings: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "ndcg@10": round(self.ndcg_at_10, 4),
            "recall@100": round(self.recall_at_100, 4),
            "mrr@10": round(self.mrr_at_10, 4),
            "index_s": round(self.index_s, 2),
            "rank_s": round(self.rank_s, 2),
            "embedded": self.embedded,
            "queries": self.queries,
            "settings": self.settings,
        }


def _jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise ConfigError(f"{path}:{number}: not JSON ({exc.args[0]})") from None
                if not isinstance(row, dict) or "_id" not in row:
                    raise ConfigError(f"{path}:{number}: each line needs an object with an _id")
                rows.append(row)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return rows


def load_beir(folder: Path, split: str = "test") -> BeirData:
    """Read corpus.jsonl, queries.jsonl and qrels/<split>.tsv; keeps only judged queries."""
    folder = Path(folder)
    corpus = _jsonl(folder / "corpus.jsonl")
    queries = {str(q["_id"]): str(q.get("text", "")) for q in _jsonl(folder / "queries.jsonl")}
    qrels: dict[str, dict[str, int]] = {}
    qrels_path = folder / "qrels" / f"{split}.tsv"
    try:
        lines = qrels_path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{qrels_path}: cannot read: {exc.strerror}") from None
    for number, line in enumerate(lines, start=1):
        parts = line.split("\t")
        if number == 1 and parts[0] == "query-id":
            continue
        if len(parts) < 3 or not parts[2].strip().lstrip("-").isdigit():
            raise ConfigError(f"{qrels_path}:{number}: expected query-id, corpus-id, score")
        qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    judged = [q for q in queries if q in qrels]
    return BeirData(
        name=folder.name,
        doc_ids=[str(d["_id"]) for d in corpus],
        titles=[str(d.get("title") or "") for d in corpus],
        texts=[str(d.get("text") or "") for d in corpus],
        query_ids=judged,
        queries=[queries[q] for q in judged],
        qrels=qrels,
    )


def ndcg_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    """nDCG with graded gains (BEIR/pytrec_eval convention: gain = relevance, log2 discount)."""
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted((r for r in relevant.values() if r > 0), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int = 100) -> float:
    wanted = {d for d, r in relevant.items() if r > 0}
    return len(wanted & set(ranked[:k])) / len(wanted) if wanted else 0.0


def mrr_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    for i, doc in enumerate(ranked[:k]):
        if relevant.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def default_cache() -> Path:
    """Vectors for evaluations live outside any workspace (BEIR folders may be read-only)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "research-gifts" / "eval.sqlite"


def build_index(
    data: BeirData,
    embedder: Embedder,
    cache: Store,
    embed: EmbedSettings,
    retrieval: RetrievalSettings,
    progress: Callable[[int], None] | None = None,
) -> tuple[HybridIndex, int]:
    """Passages, cached vectors and BM25 for the corpus; returns the index and how many were embedded."""
    passage_texts: list[str] = []
    owner: list[int] = []
    for row, (title, text) in enumerate(zip(data.titles, data.texts, strict=True)):
        cut = passages(title, text, embed.passage_words, embed.passage_overlap, embed.max_passages)
        passage_texts.extend(cut)
        owner.extend([row] * len(cut))
    shas = [text_sha(t) for t in passage_texts]
    cached = cache.vectors(embedder.name, shas)
    missing = {sha: t for sha, t in zip(shas, passage_texts, strict=True) if sha not in cached}
    embedded = embed_texts(cache, embedder, missing, progress) if missing else 0
    if embedded:
        cached = cache.vectors(embedder.name, shas)
    matrix = np.stack([cached[s] for s in shas]) if shas else np.zeros((0, 0), np.float32)
    index = HybridIndex(
        data.doc_ids,
        [f"{t}\n{x}" for t, x in zip(data.titles, data.texts, strict=True)],
        matrix,
        np.asarray(owner, dtype=np.int64),
        settings=retrieval,
    )
    return index, embedded


def query_vectors(queries: Sequence[str], embedder: Embedder, cache: Store) -> np.ndarray:
    shas = [text_sha(q) for q in queries]
    cached = cache.vectors(embedder.name, shas)
    missing = {s: q for s, q in zip(shas, queries, strict=True) if s not in cached}
    if missing:
        embed_texts(cache, embedder, missing)
        cached = cache.vectors(embedder.name, shas)
    return np.stack([cached[s] for s in shas])


def evaluate(
    data: BeirData,
    embedder: Embedder,
    cache: Store,
    embed: EmbedSettings | None = None,
    retrieval: RetrievalSettings | None = None,
    progress: Callable[[int], None] | None = None,
) -> EvalResult:
    """Index the corpus, rank every judged query, and score the rankings."""
    embed = embed or EmbedSettings()
    retrieval = retrieval or RetrievalSettings()
    started = time.perf_counter()
    index, embedded = build_index(data, embedder, cache, embed, retrieval, progress)
    vectors = query_vectors(data.queries, embedder, cache)
    index_s = time.perf_counter() - started
    started = time.perf_counter()
    ndcg, recall, mrr = [], [], []
    for qid, text, vector in zip(data.query_ids, data.queries, vectors, strict=True):
        ranked = index.search(text, vector, k=100)
        relevant = data.qrels[qid]
        ndcg.append(ndcg_at_k(ranked, relevant))
        recall.append(recall_at_k(ranked, relevant))
        mrr.append(mrr_at_k(ranked, relevant))
    rank_s = time.perf_counter() - started
    return EvalResult(
        ndcg_at_10=float(np.mean(ndcg)) if ndcg else 0.0,
        recall_at_100=float(np.mean(recall)) if recall else 0.0,
        mrr_at_10=float(np.mean(mrr)) if mrr else 0.0,
        index_s=index_s,
        rank_s=rank_s,
        embedded=embedded,
        queries=len(ndcg),
        settings={"model": embedder.name, **retrieval.as_dict()},
    )


def nightly_settings() -> RetrievalSettings:
    """The retrieval settings the nightly rank stage uses by default."""
    return RankSettings().retrieval


def run_beir(
    folder: Path,
    *,
    split: str = "test",
    overrides: Mapping[str, Any] | None = None,
    model: str = "all-MiniLM-L6-v2",
    model_path: Path | None = None,
    cache: Path | None = None,
    progress: Callable[[int], None] | None = None,
    backend: str = "torch",
) -> EvalResult:
    """`gifts eval beir`: load, embed (cached), rank and score; overrides of None are ignored."""
    import dataclasses

    from pipeline.embed import load_embedder
    from pipeline.manifest import PROJECT_MODELS

    data = load_beir(folder, split)
    settings = nightly_settings()
    changes = {k: v for k, v in (overrides or {}).items() if v is not None}
    settings = dataclasses.replace(settings, **changes)
    embedder = load_embedder(model, PROJECT_MODELS, model_path, backend=backend)
    cache_path = cache or default_cache()
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    with Store(cache_path) as store:
        return evaluate(data, embedder, store, retrieval=settings, progress=progress)
