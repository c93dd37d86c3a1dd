"""How well each available score separates useful from not useful in the judged pools of the gift sets.

`gift_quality.py` scores the lists the pipeline makes; this script asks the question behind them: is
there a score, built from what ships here (all-MiniLM-L6-v2 vectors, BM25, the notes), whose top
documents are useful often enough for lists at issue 13's 85%? For every judged interest of each
evaluation set it ranks that interest's judged pool (the abstracts read by hand, pooled by BM25 and by
MiniLM) by each score and reports the mean per-interest ROC AUC of useful against not, and the share
useful among the top 1, 3 and 5 (P@k). A list of five per interest can be no more precise than P@5 of
the score that orders it, whatever floors cut it.

Scores (the pipeline's own functions, on the workspace `gift_quality.py --keep` built):
  shown        the retrieval score the rank stage fuses (0.7 dense + 0.3 BM25), query read with the notes
  dense        MiniLM best-passage cosine of the query read with the notes (rank.notes_weight 0.5)
  interest     the same cosine for the interest alone
  bm25         BM25 of the interest, scaled by the query's best document
  coverage>=T  `shown`, where the interest-coverage share is under T the document sinks to the bottom
  learned      a logistic regression over dense, interest, bm25, coverage and the gap to the pool's
               best dense, fitted on the other sets' pools and scored on this one (leave one set out)

Run from the repository root, on workspaces kept by gift_quality.py (each takes ~5 minutes to build):
  .venv/bin/python benchmarks/gift_quality.py --keep /tmp/gift_ws
  .venv/bin/python benchmarks/gift_quality.py --eval benchmarks/gift_eval_b --keep /tmp/gift_ws_b
  .venv/bin/python benchmarks/gift_pools.py benchmarks/gift_eval=/tmp/gift_ws benchmarks/gift_eval_b=/tmp/gift_ws_b
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import notes_context, vectors  # noqa: E402
from pipeline.config import load  # noqa: E402
from pipeline.context import in_context  # noqa: E402
from pipeline.embed import load_embedder  # noqa: E402
from pipeline.retrieval import HybridIndex  # noqa: E402
from pipeline.store import Store  # noqa: E402

_ARTICLE = re.compile(r"https://abstracts-\d+\.example/articles/(\d+)$")  # an original, not a syndicated copy
FEATURES = ("dense", "interest", "bm25", "coverage", "gap")
COVERAGE_GATES = (0.5, 0.7)


@dataclass(frozen=True, slots=True)
class Judged:
    """One judged abstract of one interest's pool, with its scores."""

    group: str  # "set|person|interest"
    useful: bool
    shown: float
    dense: float
    interest: float
    bm25: float
    coverage: float


def judged_rows(eval_dir: Path, workspace: Path, notes_weight: float = 0.5) -> list[Judged]:
    """Every judged (interest, abstract) of `eval_dir` scored on the kept `workspace`."""
    config = load(workspace / "gifts.toml")
    store = Store(config.paths.store)
    embedder = load_embedder(
        config.embed.model, config.paths.models, config.embed.model_path, backend=config.embed.backend
    )
    corpus = vectors.load_corpus(store, embedder.name)
    docs = corpus.docs
    row_of = {m.group(1): n for n, url in enumerate(docs["url"]) if (m := _ARTICLE.match(str(url or "")))}
    index = HybridIndex(
        docs["id"].tolist(),
        (docs["title"].fillna("") + "\n" + docs["text"].fillna("")).tolist(),
        corpus.passage_vectors,
        corpus.passage_doc,
        settings=config.rank.retrieval,
    )
    contacts = {r["name"]: r["id"] for r in store.query("SELECT id, name FROM contacts")}
    about = notes_context.notes_about(store)
    judgments = json.loads((eval_dir / "judgments.json").read_text(encoding="utf-8"))
    out = []
    for item in judgments["interests"]:
        text, contact = item["interest"], contacts[item["person"]]
        alone = embedder.encode([text])[0]
        notes = embedder.encode([about[contact]])[0] if contact in about else None
        read = index.score(text, in_context(alone, notes, notes_weight))
        plain = index.score(text, alone)
        rows = [(j, row_of[j["doc"]]) for j in item["judgments"] if j["doc"] in row_of]
        cover = index.lexical.coverage(text, np.array([n for _, n in rows], dtype=np.int64))
        group = f"{eval_dir.name}|{item['person']}|{text}"
        for (j, n), c in zip(rows, cover, strict=True):
            out.append(
                Judged(
                    group, bool(j["useful"]), float(read.fused[n]), float(read.dense[n]), float(plain.dense[n]),
                    float(read.lexical[n]), float(c),
                )
            )  # fmt: skip
    store.close()
    return out


def features(rows: Sequence[Judged]) -> np.ndarray:
    """FEATURES per row; `gap` is the row's dense score less the best dense score in its pool."""
    best: dict[str, float] = {}
    for r in rows:
        best[r.group] = max(best.get(r.group, -1.0), r.dense)
    return np.array([[r.dense, r.interest, r.bm25, r.coverage, r.dense - best[r.group]] for r in rows])


def auc(positive: np.ndarray, negative: np.ndarray) -> float | None:
    if not len(positive) or not len(negative):
        return None
    wins = (positive[:, None] > negative[None, :]).sum() + 0.5 * (positive[:, None] == negative[None, :]).sum()
    return float(wins) / (len(positive) * len(negative))


def figures(rows: Sequence[Judged], score: np.ndarray) -> dict[str, float]:
    """Mean per-interest AUC and P@1/3/5 of ranking each interest's pool by `score`."""
    groups = np.array([r.group for r in rows])
    useful = np.array([r.useful for r in rows])
    aucs, at = [], {1: [], 3: [], 5: []}  # type: ignore[var-annotated]
    for g in dict.fromkeys(groups):
        mine = groups == g
        s, y = score[mine], useful[mine]
        a = auc(s[y], s[~y])
        if a is not None:
            aucs.append(a)
        order = np.argsort(-s, kind="stable")
        for k in at:
            at[k].append(float(y[order[:k]].mean()))
    return {"auc": float(np.mean(aucs)), **{f"p@{k}": float(np.mean(v)) for k, v in at.items()}}


def learned(train: Sequence[Judged], test: Sequence[Judged]) -> np.ndarray:
    """Scores of `test` by a logistic regression fitted on `train` (features standardised on train)."""
    from sklearn.linear_model import LogisticRegression

    x, y = features(train), np.array([r.useful for r in train])
    mean, spread = x.mean(axis=0), x.std(axis=0) + 1e-9
    model = LogisticRegression(max_iter=1000).fit((x - mean) / spread, y)
    return np.asarray(model.decision_function((features(test) - mean) / spread))


def scorers() -> dict[str, Callable[[Sequence[Judged]], np.ndarray]]:
    out: dict[str, Callable[[Sequence[Judged]], np.ndarray]] = {
        "shown": lambda rows: np.array([r.shown for r in rows]),
        "dense": lambda rows: np.array([r.dense for r in rows]),
        "interest": lambda rows: np.array([r.interest for r in rows]),
        "bm25": lambda rows: np.array([r.bm25 for r in rows]),
    }
    for gate in COVERAGE_GATES:
        out[f"coverage>={gate}"] = _gated(gate)
    return out


def _gated(gate: float) -> Callable[[Sequence[Judged]], np.ndarray]:
    """`shown`, with a document under the coverage share `gate` sunk below every other."""
    return lambda rows: np.array([r.shown - 10.0 * (r.coverage < gate) for r in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sets", nargs="+", help="EVAL_DIR=KEPT_WORKSPACE, one per evaluation set")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()
    by_set: dict[str, list[Judged]] = {}
    for pair in args.sets:
        eval_dir, _, workspace = pair.partition("=")
        if not workspace or not (Path(workspace) / "gifts.toml").is_file():
            parser.error(f"{pair}: expected EVAL_DIR=WORKSPACE, a workspace gift_quality.py --keep built")
        by_set[Path(eval_dir).name] = judged_rows(Path(eval_dir), Path(workspace))
    result: dict[str, dict[str, dict[str, float]]] = {}
    for name, rows in by_set.items():
        result[name] = {label: figures(rows, score(rows)) for label, score in scorers().items()}
        others = [r for other, rs in by_set.items() if other != name for r in rs]
        if others:
            result[name]["learned"] = figures(rows, learned(others, rows))
    if args.json:
        print(json.dumps(result, indent=1))
        return
    for name, table in result.items():
        pools = len({r.group for r in by_set[name]})
        print(f"{name}: {len(by_set[name])} judged abstracts in {pools} pools")
        print(f"  {'score':14s} {'AUC':>6s} {'P@1':>6s} {'P@3':>6s} {'P@5':>6s}")
        for label, f in table.items():
            print(f"  {label:14s} {f['auc']:6.3f} {f['p@1']:6.2f} {f['p@3']:6.2f} {f['p@5']:6.2f}")


if __name__ == "__main__":
    main()
