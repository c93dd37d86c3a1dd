"""Adapt all-MiniLM-L6-v2 to the SciFact corpus without labels (title -> opening of the abstract).

Uses only corpus.jsonl (no queries, no judgments), the way a nightly corpus would be used.
Run: .venv/bin/python benchmarks/adapt_scifact.py [--epochs 1] [--out models/minilm-scifact]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipeline.adapt import adapt, title_body_pairs
from pipeline.embed import PROJECT_MODELS, load_manifest, locate_model
from pipeline.evaluate import load_beir

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "eval" / "scifact")
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "minilm-scifact")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=128)
    args = parser.parse_args()
    data = load_beir(args.data)
    pairs = title_body_pairs(data.titles, data.texts)
    base = locate_model("all-MiniLM-L6-v2", load_manifest(PROJECT_MODELS), None)
    result = adapt(
        base, pairs, args.out, epochs=args.epochs, batch_size=args.batch_size, max_seq_length=args.max_seq_length
    )
    print(json.dumps({"pairs": result.pairs, "steps": result.steps, "seconds": round(result.seconds, 1),
                      "final_loss": round(result.final_loss, 4), "folder": str(result.folder)}))  # fmt: skip


if __name__ == "__main__":
    main()
