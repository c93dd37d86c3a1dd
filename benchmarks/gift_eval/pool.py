"""Pool candidate SciFact abstracts for each listed interest of the evaluation interviews, to judge by hand.

The pool is neutral, not the pipeline's ranking: BM25 (bm25s, Snowball stems, English stop words,
default k1/b) over title + abstract, top 15, plus the top 15 by cosine of all-MiniLM-L6-v2 vectors
of title + abstract, merged and deduplicated. It also lists pairs of pooled abstracts whose vectors
are close (cosine >= --pair-cosine), as candidates for the same-story judgment.

Nothing it writes goes into the repository: the pools (with titles and abstracts, to read) go to
--out, a temporary folder by default. Only the judgments, made from reading them, are committed
(benchmarks/gift_eval/judgments.json, or the judgments.json beside the --interviews folder).

Run from the repository root:
  .venv/bin/python benchmarks/gift_eval/pool.py --out /tmp/gift_pool
  .venv/bin/python benchmarks/gift_eval/pool.py --interviews benchmarks/gift_eval_b/interviews --out /tmp/gift_pool_b
  .venv/bin/python benchmarks/gift_eval/pool.py --query "artemisinin resistance in malaria"   # explore
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SCIFACT = ROOT.parent / "shared" / "eval" / "scifact"
INTERVIEWS = Path(__file__).resolve().parent / "interviews"
MODEL = "all-MiniLM-L6-v2"
DEPTH = 15


def load_corpus(folder: Path) -> list[dict[str, str]]:
    """SciFact's abstracts in corpus order: _id, title, text."""
    with (folder / "corpus.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def listed_interests(folder: Path) -> list[dict[str, str]]:
    """(file, person, interest, status) for every listed interest of every interview file."""
    import yaml

    rows = []
    for path in sorted(folder.glob("*.md")):
        front = yaml.safe_load(path.read_text(encoding="utf-8").split("---")[1])
        for person in front["interviewers"]:
            for interest in person.get("interests") or []:
                rows.append(
                    {"file": path.name, "person": person["name"], "interest": interest, "status": front["status"]}
                )
    return rows


class Pooler:
    """BM25 and dense search over the whole corpus, each returning ranked corpus indices."""

    def __init__(self, docs: list[dict[str, str]], cache: Path) -> None:
        import bm25s
        import Stemmer

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self.docs = docs
        texts = [f"{d['title']}\n{d['text']}" for d in docs]
        self.stemmer = Stemmer.Stemmer("english")
        self.bm25 = bm25s.BM25()
        tokens = bm25s.tokenize(texts, stopwords="en", stemmer=self.stemmer, show_progress=False)
        self.bm25.index(tokens, show_progress=False)
        from pipeline.embed import load_embedder

        self.embedder = load_embedder(MODEL, ROOT / "models")
        if cache.is_file():
            self.vectors = np.load(cache)
        else:
            self.vectors = np.asarray(self.embedder.encode(texts), dtype=np.float32)
            np.save(cache, self.vectors)

    def lexical(self, query: str, k: int) -> list[int]:
        import bm25s

        tokens = bm25s.tokenize([query], stopwords="en", stemmer=self.stemmer, show_progress=False)
        ids, _ = self.bm25.retrieve(tokens, k=k, show_progress=False)
        return [int(i) for i in ids[0]]

    def dense(self, query: str, k: int) -> list[int]:
        q = np.asarray(self.embedder.encode([query]), dtype=np.float32)[0]
        return [int(i) for i in np.argsort(-(self.vectors @ q))[:k]]

    def pool(self, query: str, k: int = DEPTH) -> list[tuple[int, str]]:
        """(corpus index, which retrievers found it) merged in BM25-then-dense order, deduplicated."""
        lexical, dense = self.lexical(query, k), self.dense(query, k)
        order = list(dict.fromkeys(lexical + dense))
        return [(i, "+".join(n for n, got in (("bm25", lexical), ("dense", dense)) if i in got)) for i in order]


def describe(doc: dict[str, str], found: str, vector: np.ndarray, query: np.ndarray) -> str:
    words = len(doc["text"].split())
    text = re.sub(r"\s+", " ", doc["text"])
    return (
        f"### {doc['_id']}  [{found}; cosine {float(vector @ query):.2f}; {words} words]\n"
        f"TITLE: {doc['title']}\n{text}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SCIFACT)
    parser.add_argument(
        "--interviews",
        type=Path,
        default=INTERVIEWS,
        help="the interview files to pool for (or an evaluation folder holding interviews/)",
    )
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "gift_pool")
    parser.add_argument("--query", action="append", help="explore: print the pool of this query and stop (repeatable)")
    parser.add_argument("--pair-cosine", type=float, default=0.75)
    args = parser.parse_args()
    if (args.interviews / "interviews").is_dir():  # given the evaluation folder rather than its interviews
        args.interviews = args.interviews / "interviews"
    args.out.mkdir(parents=True, exist_ok=True)
    docs = load_corpus(args.data)
    pooler = Pooler(docs, args.out / "vectors.npy")
    if args.query:
        for query in args.query:
            print(f"== {query}")
            q = np.asarray(pooler.embedder.encode([query]), dtype=np.float32)[0]
            for i, found in pooler.pool(query):
                d = docs[i]
                cosine = float(pooler.vectors[i] @ q)
                print(f"{d['_id']:>10} {found:11s} {cosine:.2f} {len(d['text'].split()):4d}w {d['title'][:110]}")
        return
    summary: list[dict[str, Any]] = []
    for n, row in enumerate(listed_interests(args.interviews)):
        if row["status"] not in ("active", "offer"):
            continue  # a filled or rejected interview must get nothing: nothing to judge
        q = np.asarray(pooler.embedder.encode([row["interest"]]), dtype=np.float32)[0]
        pooled = pooler.pool(row["interest"])
        lines = [f"# {row['person']} ({row['file']}): {row['interest']}\n"]
        lines += [describe(docs[i], found, pooler.vectors[i], q) for i, found in pooled]
        indices = [i for i, _ in pooled]
        sims = pooler.vectors[indices] @ pooler.vectors[indices].T
        pairs = [
            (docs[indices[a]]["_id"], docs[indices[b]]["_id"], round(float(sims[a, b]), 3))
            for a in range(len(indices))
            for b in range(a + 1, len(indices))
            if sims[a, b] >= args.pair_cosine
        ]
        lines.append("## close pairs (same-story candidates)\n" + "\n".join(f"{a} {b} {c}" for a, b, c in pairs))
        path = args.out / f"{n:02d}-{re.sub(r'[^a-z0-9]+', '-', row['interest'].lower())[:40]}.md"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        summary.append({**row, "pool": [docs[i]["_id"] for i in indices], "pairs": pairs, "file_out": path.name})
        print(f"{path.name}: {len(indices)} pooled, {len(pairs)} close pairs", file=sys.stderr)
    (args.out / "pools.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
