"""Label-free adaptation recipes for all-MiniLM-L6-v2 on SciFact, trained and scored on a GPU in minutes.

Three steps, the middle one on any CUDA machine that has torch and sentence-transformers:

  prepare  (here)    .venv/bin/python benchmarks/adapt_gpu.py prepare --folder .gpu
           writes the base model as fp16 safetensors, the corpus, the test queries and judgments, the
           BM25 scores of every query (our own LexicalIndex: the GPU side needs no bm25s) and a held-out
           set of label-free corpus queries into a folder that git ignores (.git/info/exclude).
  run      (GPU)     python3 benchmarks/adapt_gpu.py run --folder .gpu --out "$OUT" --device cuda
           trains every recipe from the base on the corpus minus the held-out documents, scores it
           dense and fused (0.7 * best-passage cosine + 0.3 * BM25 / max, as HybridIndex does) on the
           test queries and on the held-out corpus queries, alone and averaged half-way with the base;
           picks the candidate with the best fused MRR@10 on the held-out corpus queries (no labels),
           retrains that recipe on the whole corpus and writes its weights (fp16, in parts) to --out.
  unpack   (here)    .venv/bin/python benchmarks/adapt_gpu.py unpack --parts DIR --out models/minilm-scifact-X
           rebuilds a sentence-transformers folder (fp32) from the parts, with its checksums.json.

Training uses corpus.jsonl only; queries and judgments are used for scoring alone. One JSON line per
recipe is printed (and appended to --out/results.jsonl).
"""

from __future__ import annotations

import argparse
import copy
import gzip
import hashlib
import json
import random
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the GPU machine runs this from a bare copy of the tree, not installed

from pipeline.adapt import (  # noqa: E402
    average_weights,
    build_pairs,
    first_passages,
    fit,
    hard_negative_source,
    mine_negatives,
    sentences,
)
from pipeline.passages import passages  # noqa: E402

MODEL_FILES = (
    "config.json",
    "config_sentence_transformers.json",
    "modules.json",
    "sentence_bert_config.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "1_Pooling/config.json",
)
PART_BYTES = 15 * 1024 * 1024
# The embed stage's passage cutting (EmbedSettings defaults) and the nightly fusion (RankSettings).
PASSAGE_WORDS, PASSAGE_OVERLAP, MAX_PASSAGES = 180, 40, 24
DENSE_WEIGHT, LEXICAL_WEIGHT = 0.7, 0.3


@dataclass(frozen=True, slots=True)
class Recipe:
    name: str
    pairs: str  # title | ict | both | ict-hard (ICT plus a hard negative mined with the base model)
    epochs: int
    batch_size: int = 64
    learning_rate: float = 2e-5
    max_seq_length: int = 256
    body_words: int = 120


# In the order they are tried; the run stops starting new ones when its time budget is spent.
RECIPES = (
    Recipe("title-1ep", "title", 1, batch_size=32, max_seq_length=128),  # the earlier CPU recipe
    Recipe("ict-3ep", "ict", 3),
    Recipe("title180-3ep", "title", 3, body_words=180),
    Recipe("both-3ep", "both", 3),
    Recipe("ict-10ep", "ict", 10),
    Recipe("ict-hard-3ep", "ict-hard", 3),
    Recipe("ict-1ep-lr1e-5", "ict", 1, learning_rate=1e-5),
    Recipe("ict-3ep-bs128-lr5e-5", "ict", 3, batch_size=128, learning_rate=5e-5),
    Recipe("both-10ep", "both", 10),
    Recipe("ict-5ep-bs256-lr1e-4", "ict", 5, batch_size=256, learning_rate=1e-4),
)
AVERAGE = 0.5  # each recipe is also scored half-way between its weights and the base's


def _write_json_gz(path: Path, data: Any) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        json.dump(data, handle)


def _read_json_gz(path: Path) -> Any:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def _cut(titles: Sequence[str], texts: Sequence[str]) -> tuple[list[str], list[int]]:
    out: list[str] = []
    owner: list[int] = []
    for row, (title, text) in enumerate(zip(titles, texts, strict=True)):
        cut = passages(title, text, PASSAGE_WORDS, PASSAGE_OVERLAP, MAX_PASSAGES)
        out.extend(cut)
        owner.extend([row] * len(cut))
    return out, owner


def _sha(texts: Sequence[str]) -> str:
    return hashlib.sha256("\x1e".join(texts).encode()).hexdigest()


def holdout(titles: Sequence[str], texts: Sequence[str], share: float, seed: int) -> dict[str, Any]:
    """Label-free validation: held-out documents, each with a query cut from itself and then removed.

    Half get their title as the query (the document keeps only its text), half one of their sentences
    (the document keeps its title and the other sentences). None of them is trained on.
    """
    rng = random.Random(seed)
    eligible = [
        i
        for i, (t, x) in enumerate(zip(titles, texts, strict=True))
        if t.strip() and len([s for s in sentences(x) if len(s.split()) >= 6]) >= 1 and len(sentences(x)) >= 2
    ]
    chosen = sorted(rng.sample(eligible, round(share * len(titles))))
    queries, new_titles, new_texts = [], [], []
    for n, i in enumerate(chosen):
        if n % 2 == 0:
            queries.append(titles[i].strip())
            new_titles.append("")
            new_texts.append(texts[i])
        else:
            parts = sentences(texts[i])
            pick = rng.choice([k for k, s in enumerate(parts) if len(s.split()) >= 6])
            queries.append(parts[pick])
            new_titles.append(titles[i])
            new_texts.append(" ".join(parts[:pick] + parts[pick + 1 :]))
    return {"docs": chosen, "queries": queries, "titles": new_titles, "texts": new_texts}


def prepare(args: argparse.Namespace) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    from pipeline.embed import PROJECT_MODELS, load_manifest, locate_model
    from pipeline.evaluate import load_beir
    from pipeline.retrieval import LexicalIndex

    folder: Path = args.folder
    base = locate_model("all-MiniLM-L6-v2", load_manifest(PROJECT_MODELS), None)
    (folder / "base" / "1_Pooling").mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        shutil.copyfile(base / name, folder / "base" / name)
    weights = load_file(str(base / "model.safetensors"))
    # fp32 weights are 87 MiB, over what travels; fp16 halves them and is cast back on arrival.
    save_file({k: v.to(torch.float16) for k, v in weights.items()}, str(folder / "base" / "model.safetensors"))

    data = load_beir(args.data)
    held = holdout(data.titles, data.texts, args.holdout, args.seed)
    test_passages, _ = _cut(data.titles, data.texts)
    _write_json_gz(
        folder / "data.json.gz",
        {
            "doc_ids": data.doc_ids,
            "titles": data.titles,
            "texts": data.texts,
            "passages_sha": _sha(test_passages),
            "query_ids": data.query_ids,
            "queries": data.queries,
            "qrels": {q: data.qrels[q] for q in data.query_ids},
            "holdout": held,
        },
    )
    lexical = LexicalIndex([f"{t}\n{x}" for t, x in zip(data.titles, data.texts, strict=True)])
    test_bm25 = np.stack([lexical.scores(q) for q in data.queries])
    val_titles, val_texts = list(data.titles), list(data.texts)
    for i, t, x in zip(held["docs"], held["titles"], held["texts"], strict=True):
        val_titles[i], val_texts[i] = t, x
    val_lexical = LexicalIndex([f"{t}\n{x}" for t, x in zip(val_titles, val_texts, strict=True)])
    val_bm25 = np.stack([val_lexical.scores(q) for q in held["queries"]])
    np.savez_compressed(folder / "bm25.npz", test=test_bm25.astype(np.float32), val=val_bm25.astype(np.float32))
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(
        json.dumps({"folder": str(folder), "bytes": size, "holdout": len(held["docs"]), "passages": len(test_passages)})
    )


class Scorer:
    """Scores a model like `gifts eval beir` does, from the prepared folder, with torch alone."""

    def __init__(self, folder: Path, limit: int | None) -> None:
        data = _read_json_gz(folder / "data.json.gz")
        bm25 = np.load(folder / "bm25.npz")
        n = limit or len(data["doc_ids"])
        self.doc_ids: list[str] = data["doc_ids"][:n]
        self.titles: list[str] = data["titles"][:n]
        self.texts: list[str] = data["texts"][:n]
        self.passages, owner = _cut(self.titles, self.texts)
        if limit is None and _sha(self.passages) != data["passages_sha"]:
            raise SystemExit("passages differ from the ones cut where the folder was prepared")
        self.owner = np.asarray(owner)
        self.queries: list[str] = data["queries"]
        self.qrels: list[dict[str, int]] = [data["qrels"][q] for q in data["query_ids"]]
        self.test_bm25 = bm25["test"][:, :n]
        held = data["holdout"]
        keep = [k for k, i in enumerate(held["docs"]) if i < n]
        self.held_docs: list[int] = [held["docs"][k] for k in keep]
        self.held_queries: list[str] = [held["queries"][k] for k in keep]
        self.val_bm25 = bm25["val"][keep][:, :n]
        # The validation corpus: the test passages, except the held-out documents' cut again.
        held_set = set(self.held_docs)
        self.val_rows = np.asarray([r for r, d in enumerate(owner) if d not in held_set], dtype=np.int64)
        extra, extra_owner = _cut([held["titles"][k] for k in keep], [held["texts"][k] for k in keep])
        self.val_extra = extra
        self.val_owner = np.concatenate([self.owner[self.val_rows], np.asarray(self.held_docs)[extra_owner]])

    def train_docs(self) -> list[int]:
        held = set(self.held_docs)
        return [i for i in range(len(self.doc_ids)) if i not in held]

    @staticmethod
    def _ranked(dense: np.ndarray, raw: np.ndarray, fused: bool) -> np.ndarray:
        top = raw.max(axis=1, keepdims=True)
        lexical = np.where(top > 0, raw / np.where(top > 0, top, 1), 0).astype(np.float32)
        scores = DENSE_WEIGHT * dense + LEXICAL_WEIGHT * lexical if fused else dense
        return np.argsort(-scores, axis=1, kind="stable")[:, :100]

    @staticmethod
    def _best(q: np.ndarray, p: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
        import torch

        sims = torch.from_numpy(q) @ torch.from_numpy(p).T
        best = torch.full((len(q), n), -1.0)
        best.scatter_reduce_(1, torch.from_numpy(owner).expand(len(q), -1), sims, reduce="amax", include_self=True)
        return best.numpy()

    def score(self, model: Any) -> dict[str, float]:
        from pipeline.evaluate import mrr_at_k, ndcg_at_k, recall_at_k

        def enc(texts: list[str]) -> np.ndarray:
            v = model.encode(texts, batch_size=128, normalize_embeddings=True, convert_to_numpy=True)
            return np.asarray(v, dtype=np.float32)

        p = enc(self.passages)
        n = len(self.doc_ids)
        out: dict[str, float] = {}
        dense = self._best(enc(self.queries), p, self.owner, n)
        for fused in (False, True):
            ranked = self._ranked(dense, self.test_bm25, fused)
            ids = [[self.doc_ids[i] for i in row] for row in ranked]
            tag = "fused" if fused else "dense"
            out[f"{tag}_ndcg@10"] = float(np.mean([ndcg_at_k(r, q) for r, q in zip(ids, self.qrels, strict=True)]))
            out[f"{tag}_recall@100"] = float(np.mean([recall_at_k(r, q) for r, q in zip(ids, self.qrels, strict=True)]))
            out[f"{tag}_mrr@10"] = float(np.mean([mrr_at_k(r, q) for r, q in zip(ids, self.qrels, strict=True)]))
        if self.held_queries:
            vp = np.concatenate([p[self.val_rows], enc(self.val_extra)])
            vdense = self._best(enc(self.held_queries), vp, self.val_owner, n)
            for fused in (False, True):
                ranked = self._ranked(vdense, self.val_bm25, fused)
                rr = [
                    1.0 / (1 + list(row[:10]).index(d)) if d in row[:10] else 0.0
                    for row, d in zip(ranked, self.held_docs, strict=True)
                ]
                out[f"val_{'fused' if fused else 'dense'}_mrr@10"] = float(np.mean(rr))
        return {k: round(v, 4) for k, v in out.items()}


def recipe_pairs(recipe: Recipe, scorer: Scorer, docs: list[int], mined: np.ndarray | None, seed: int) -> Any:
    if recipe.pairs == "ict-hard":
        if mined is None:
            raise SystemExit("ict-hard needs mined negatives")
        return hard_negative_source(scorer.titles, scorer.texts, mined, docs=docs, seed=seed)
    titles = [scorer.titles[i] for i in docs]
    texts = [scorer.texts[i] for i in docs]
    return lambda epoch: build_pairs(recipe.pairs, titles, texts, seed=seed + epoch, body_words=recipe.body_words)


def train(
    model: Any, recipe: Recipe, scorer: Scorer, docs: list[int], mined: np.ndarray | None, seed: int
) -> tuple[int, int, float]:
    """`fit` with one recipe's pairs and hyper-parameters: (pairs per epoch, steps, last loss)."""
    return fit(
        model,
        recipe_pairs(recipe, scorer, docs, mined, seed),
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        learning_rate=recipe.learning_rate,
        max_seq_length=recipe.max_seq_length,
        seed=seed,
    )


def mine(model: Any, scorer: Scorer) -> np.ndarray:
    """Candidate hard negatives for every document, ranked by the base model (see mine_negatives)."""
    firsts = first_passages(scorer.titles, scorer.texts)
    v = np.asarray(model.encode(firsts, batch_size=128, normalize_embeddings=True, convert_to_numpy=True))
    return mine_negatives(v.astype(np.float32), skip=30, take=70)


def save_parts(model: Any, out: Path, meta: dict[str, Any]) -> None:
    import torch
    from safetensors.torch import save

    state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model[0].auto_model.state_dict().items()}
    blob = save(state)
    for old in out.glob("weights.part*"):
        old.unlink()
    for n, start in enumerate(range(0, len(blob), PART_BYTES)):
        (out / f"weights.part{n}").write_bytes(blob[start : start + PART_BYTES])
    meta = {**meta, "sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)}
    (out / "weights.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


def run(args: argparse.Namespace) -> None:
    from pipeline.embed import offline_and_quiet

    offline_and_quiet()
    import torch
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    results = (out / "results.jsonl").open("a", encoding="utf-8")

    def emit(row: dict[str, Any]) -> None:
        row["elapsed_s"] = round(time.perf_counter() - started, 1)
        print(json.dumps(row), flush=True)
        results.write(json.dumps(row) + "\n")
        results.flush()

    scorer = Scorer(args.folder, args.limit)
    model = SentenceTransformer(str(args.folder / "base"), device=args.device, local_files_only=True).float()
    if args.smoke:
        model.max_seq_length = 32
    base_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    emit({"recipe": "base", "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
          **scorer.score(model)})  # fmt: skip

    recipes = [r for r in RECIPES if not args.recipes or r.name in args.recipes]
    if args.smoke:
        recipes = [Recipe(r.name, r.pairs, 1, 8, r.learning_rate, 32, r.body_words) for r in recipes]
    mined = mine(model, scorer) if any(r.pairs == "ict-hard" for r in recipes) else None
    train_docs = scorer.train_docs()
    best: tuple[float, str, Recipe | None, float] = (-1.0, "base", None, 1.0)
    for recipe in recipes:
        if time.perf_counter() - started > args.budget_s:
            emit({"recipe": recipe.name, "skipped": "time budget spent"})
            continue
        model.load_state_dict(base_state)
        torch.backends.cuda.matmul.allow_tf32 = True  # training only; scoring stays plain fp32
        tick = time.perf_counter()
        count, steps, loss = train(model, recipe, scorer, train_docs, mined, args.seed)
        if args.device == "cuda":
            torch.cuda.synchronize()
        train_s = time.perf_counter() - tick
        torch.backends.cuda.matmul.allow_tf32 = False
        figures = scorer.score(model)
        emit({"recipe": recipe.name, "average": 1.0, **asdict(recipe), "pairs_per_epoch": count, "steps": steps,
              "loss": round(loss, 4), "train_s": round(train_s, 1), **figures})  # fmt: skip
        candidates = [(figures, 1.0)]
        tuned = copy.deepcopy(model.state_dict())
        with torch.no_grad():
            model.load_state_dict(average_weights(base_state, tuned, AVERAGE))
        averaged = scorer.score(model)
        emit({"recipe": recipe.name, "average": AVERAGE, **averaged})
        candidates.append((averaged, AVERAGE))
        for figs, weight in candidates:
            # The label-free criterion, fixed before any test figure was seen: fused MRR@10 on the
            # held-out corpus queries.
            if figs.get("val_fused_mrr@10", 0.0) > best[0]:
                best = (figs["val_fused_mrr@10"], recipe.name, recipe, weight)
                # Kept now, in case no time is left to train it again on every document.
                model.load_state_dict(tuned if weight == 1.0 else average_weights(base_state, tuned, weight))
                save_parts(model, out, {"recipe": asdict(recipe), "average": weight, "seed": args.seed,
                                        "docs": "all but the held-out ones"})  # fmt: skip

    criterion, name, chosen, weight = best
    emit({"chosen": name, "average": weight, "val_fused_mrr@10": criterion})
    if chosen is None or time.perf_counter() - started > args.retrain_by_s:
        return
    # The chosen recipe again, now on every document, as `benchmarks/adapt_scifact.py` would run it.
    model.load_state_dict(base_state)
    torch.backends.cuda.matmul.allow_tf32 = True
    tick = time.perf_counter()
    all_docs = list(range(len(scorer.doc_ids)))
    mined_all = mine(model, scorer) if chosen.pairs == "ict-hard" else None
    _, steps, loss = train(model, chosen, scorer, all_docs, mined_all, args.seed)
    train_s = time.perf_counter() - tick
    torch.backends.cuda.matmul.allow_tf32 = False
    if weight < 1.0:
        with torch.no_grad():
            model.load_state_dict(average_weights(base_state, copy.deepcopy(model.state_dict()), weight))
    figures = scorer.score(model)
    figures = {k: v for k, v in figures.items() if not k.startswith("val_")}  # held-out documents were trained on
    emit({"recipe": f"{name}+all-docs", "average": weight, "steps": steps, "loss": round(loss, 4),
          "train_s": round(train_s, 1), **figures})  # fmt: skip
    save_parts(model, out, {"recipe": asdict(chosen), "average": weight, "seed": args.seed, "docs": "all"})


def unpack(args: argparse.Namespace) -> None:
    from safetensors.torch import load
    from sentence_transformers import SentenceTransformer

    from pipeline.adapt import write_checksums
    from pipeline.embed import PROJECT_MODELS, load_manifest, locate_model, offline_and_quiet

    offline_and_quiet()
    meta = json.loads((args.parts / "weights.json").read_text(encoding="utf-8"))
    blob = b"".join(
        (args.parts / f"weights.part{n}").read_bytes() for n in range(len(list(args.parts.glob("weights.part*"))))
    )
    if hashlib.sha256(blob).hexdigest() != meta["sha256"]:
        raise SystemExit(f"{args.parts}: the parts do not add up to the weights that were sent")
    base = locate_model("all-MiniLM-L6-v2", load_manifest(PROJECT_MODELS), None)
    model = SentenceTransformer(str(base), device="cpu", local_files_only=True)
    state = {k: v.float() for k, v in load(blob).items()}
    model[0].auto_model.load_state_dict(state, strict=True)
    model.save(str(args.out))
    (args.out / "adapt.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    write_checksums(args.out)
    print(json.dumps({"folder": str(args.out), "recipe": meta["recipe"]["name"], "average": meta["average"]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "eval" / "scifact")
    p.add_argument("--folder", type=Path, default=ROOT / ".gpu")
    p.add_argument("--holdout", type=float, default=0.1, help="share of documents held out for validation")
    p.add_argument("--seed", type=int, default=20240)
    r = sub.add_parser("run")
    r.add_argument("--folder", type=Path, default=ROOT / ".gpu")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--device", default="cuda")
    r.add_argument("--budget-s", type=float, default=300.0, help="start no new recipe after this many seconds")
    r.add_argument("--retrain-by-s", type=float, default=360.0, help="skip the whole-corpus retrain after this")
    r.add_argument("--recipes", nargs="*", default=None, help="names of recipes to run (default: all)")
    r.add_argument("--seed", type=int, default=13)
    r.add_argument("--limit", type=int, default=None, help="only the first N documents (a smoke test)")
    r.add_argument("--smoke", action="store_true", help="tiny settings: 1 epoch, batch 8, 32 tokens")
    u = sub.add_parser("unpack")
    u.add_argument("--parts", type=Path, required=True)
    u.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    {"prepare": prepare, "run": run, "unpack": unpack}[args.step](args)


if __name__ == "__main__":
    main()
