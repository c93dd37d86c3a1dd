"""Adapt all-MiniLM-L6-v2 to the SciFact corpus without labels (pairs cut from its own documents).

Uses only corpus.jsonl (no queries, no judgments), the way a nightly corpus would be used.
Run: .venv/bin/python benchmarks/adapt_scifact.py [--pairs title] [--epochs 1] [--out models/minilm-scifact]

The recipe the GPU comparison picked by its label-free criterion (benchmarks/adapt_gpu.py), which took
35 s on an H100 and would take hours on a 2-core CPU:
  .venv/bin/python benchmarks/adapt_scifact.py --pairs ict-hard --epochs 3 --batch-size 64 \\
      --max-seq-length 256 --average 0.5 --device cuda --out models/minilm-scifact-ict-hard-avg
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.adapt import (
    PAIR_KINDS,
    adapt,
    first_passages,
    hard_negative_source,
    mine_negatives,
    pair_source,
)
from pipeline.embed import PROJECT_MODELS, load_manifest, locate_model, offline_and_quiet
from pipeline.evaluate import load_beir

ROOT = Path(__file__).resolve().parent.parent


def hard_pairs(base: Path, titles: list[str], texts: list[str], device: str, seed: int) -> Any:
    """ICT triples whose negatives the base model ranks 31st to 100th among the corpus's documents."""
    offline_and_quiet()
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(base), device=device, local_files_only=True)
    vectors = model.encode(first_passages(titles, texts), batch_size=128, normalize_embeddings=True)
    return hard_negative_source(titles, texts, mine_negatives(np.asarray(vectors, dtype=np.float32)), seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "eval" / "scifact")
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "minilm-scifact")
    parser.add_argument("--pairs", choices=[*PAIR_KINDS, "ict-hard"], default="title")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-5)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--body-words", type=int, default=120, help="words of the body in a title pair")
    parser.add_argument("--average", type=float, default=1.0, help="share of the tuned weights (rest: the base's)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    data = load_beir(args.data)
    base = locate_model("all-MiniLM-L6-v2", load_manifest(PROJECT_MODELS), None)
    if args.pairs == "ict-hard":
        pairs = hard_pairs(base, data.titles, data.texts, args.device, args.seed)
    else:
        pairs = pair_source(args.pairs, data.titles, data.texts, seed=args.seed, body_words=args.body_words)
    result = adapt(
        base,
        pairs,
        args.out,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        max_seq_length=args.max_seq_length,
        seed=args.seed,
        average=args.average,
        device=args.device,
    )
    print(json.dumps({"pairs": result.pairs, "steps": result.steps, "seconds": round(result.seconds, 1),
                      "final_loss": round(result.final_loss, 4), "folder": str(result.folder)}))  # fmt: skip


if __name__ == "__main__":
    main()
