"""Embedding throughput: the local engine's embed path against the Ray engine with N workers.

Both embed the same passages with the nightly backend (`embed.backend`, OpenVINO int8 by
default). The local figure is `vectors.BATCH`-sized `vectors.embed_frame` calls on one loaded
model, as the local embed stage makes them; each Ray figure is `engine_ray.embed_passages` on a
local cluster, the embed stage's own pipeline, timed end to end (actor start and model load
included, since a nightly run pays them too) and without that start-up, measured by a tiny run.

Run from the repository root (scale_bench.py calls it with its synthetic corpus's texts):
  .venv/bin/python benchmarks/ray_embed.py --passages 3072 --workers 1,2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from pipeline import engine_ray, vectors  # noqa: E402 -- needs ROOT on sys.path first
from pipeline.config import load  # noqa: E402
from pipeline.embed import load_embedder  # noqa: E402


def sample_texts(n: int) -> list[str]:
    """Passages cut from the sample workspace's archive texts, repeated with a counter until `n`
    (distinct texts, realistic lengths), for a run without the synthetic corpus."""
    words = (ROOT / "README.md").read_text("utf-8").split()
    out = []
    for i in range(n):
        start = (i * 97) % max(1, len(words) - 180)
        out.append(f"{i} " + " ".join(words[start : start + 120 + (i % 60)]))
    return out


def embed_throughput(texts: list[str], workers: list[int], num_cpus: int | None = None) -> list[dict[str, Any]]:
    """Passages per second: the local engine, then the Ray engine with each worker count."""
    import ray

    config = load(ROOT / "data" / "sample" / "gifts.toml")
    frame = pd.DataFrame({"sha": [vectors.text_sha(t) for t in texts], "text": texts})
    results: list[dict[str, Any]] = []

    started = time.perf_counter()
    embedder = load_embedder(config.embed.model, config.paths.models, backend=config.embed.backend)
    load_s = time.perf_counter() - started
    ordered = frame.assign(n=frame["text"].str.len()).sort_values("n", kind="stable")
    started = time.perf_counter()
    for start in range(0, len(ordered), vectors.BATCH):
        vectors.embed_frame(ordered.iloc[start : start + vectors.BATCH], embedder)
    seconds = time.perf_counter() - started
    results.append({"engine": "local", "workers": 1, "passages": len(texts), "seconds": round(seconds, 2),
                    "passages_per_s": round(len(texts) / seconds, 1), "model_load_s": round(load_s, 2)})  # fmt: skip
    del embedder

    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.WARNING)
    ray.data.range(4).materialize()  # Ray Data's first execution sets itself up: not an engine cost
    try:
        for n in workers:
            ray_config = dataclasses.replace(config, ray=dataclasses.replace(config.ray, workers=n))
            # A tiny run first: actor start and model load, which the full run pays once too.
            startup = _timed_ray_embed(ray_config, frame.iloc[: 8 * n])
            seconds = _timed_ray_embed(ray_config, frame)
            # None: too small a run to tell start-up from work.
            work = round(len(texts) / (seconds - startup), 1) if seconds > 1.5 * startup else None
            results.append({"engine": "ray", "workers": n, "passages": len(texts), "seconds": round(seconds, 2),
                            "passages_per_s": round(len(texts) / seconds, 1), "startup_s": round(startup, 2),
                            "passages_per_s_after_startup": work})  # fmt: skip
    finally:
        ray.shutdown()
    return results


def _timed_ray_embed(config: Any, frame: pd.DataFrame) -> float:
    started = time.perf_counter()
    out = engine_ray.embed_passages(config, frame, embedder_name(config), None)
    seconds = time.perf_counter() - started
    assert out is not None and len(out) == len(frame)  # noqa: S101 -- a benchmark that lost rows is void
    return seconds


def embedder_name(config: Any) -> str:
    from pipeline.embed import model_key

    return model_key(config.embed.model, config.paths.models, config.embed.backend)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=3072)
    parser.add_argument("--workers", default="1,2", help="comma-separated Ray worker counts")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray cluster (default: all)")
    args = parser.parse_args()
    rows = embed_throughput(sample_texts(args.passages), [int(w) for w in args.workers.split(",")], args.num_cpus)
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
