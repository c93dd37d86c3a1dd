"""`gifts` commands that measure and adapt the model: adapt, eval beir."""

from __future__ import annotations

import json
from pathlib import Path

import click

from pipeline.cli_common import Settings, fail, json_option, now
from pipeline.errors import GiftsError


@click.command()
@click.option("--epochs", type=int, default=1, show_default=True, help="Passes over the documents.")
@click.pass_obj
def adapt(settings: Settings, epochs: int) -> None:
    """Adapt the embedding model to your own documents, without labels (title vs. body pairs).

    Saves a new model folder with its checksums under the workspace's models/ and prints the
    line that makes the nightly run use it. Takes minutes on a CPU for a few thousand documents.

    Example: gifts adapt --epochs 1
    """
    from pipeline.adapt import adapt_workspace

    try:
        config = settings.load()
        result = adapt_workspace(config, now(), epochs=epochs)
    except GiftsError as exc:
        fail(exc)
    relative = result.folder.relative_to(config.root) if result.folder.is_relative_to(config.root) else result.folder
    click.echo(f"adapted on {result.pairs} documents in {result.steps} steps ({result.seconds:.0f}s): {result.folder}")
    click.echo(f'to use it, set in {config.path.name}: [embed] model_path = "{relative}"')


@click.group(name="eval")
def eval_group() -> None:
    """Measure the ranking core on a standard benchmark.

    Example: gifts eval beir ../shared/eval/scifact --json
    """


@eval_group.command(name="beir")
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--split", default="test", show_default=True, help="Which qrels/<split>.tsv to score.")
@click.option(
    "--fusion",
    type=click.Choice(["weighted", "rrf", "dense", "lexical"]),
    default=None,
    help="Override the fusion (default: the nightly ranking's).",
)
@click.option("--dense-weight", type=float, default=None, help="Weight of the passage cosine.")
@click.option("--lexical-weight", type=float, default=None, help="Weight of scaled BM25.")
@click.option("--prf-docs", type=int, default=None, help="Dense pseudo-relevance feedback documents (0: off).")
@click.option("--bm25-k1", type=float, default=None, help="BM25 term saturation (default 1.5).")
@click.option("--bm25-b", type=float, default=None, help="BM25 length normalisation (default 0.75).")
@click.option("--model-path", type=click.Path(path_type=Path), default=None, help="Another verified model folder.")
@click.option("--cache", type=click.Path(path_type=Path), default=None, help="Vector cache (default ~/.cache).")
@click.option(
    "--backend",
    type=click.Choice(["torch", "openvino", "openvino-int8"]),
    default="openvino-int8",  # the nightly default (EmbedSettings.backend); a test keeps them equal
    show_default=True,
    help="Embedding backend (vectors are cached per backend).",
)
@json_option
def eval_beir(
    folder: Path,
    split: str,
    fusion: str | None,
    dense_weight: float | None,
    lexical_weight: float | None,
    prf_docs: int | None,
    bm25_k1: float | None,
    bm25_b: float | None,
    model_path: Path | None,
    cache: Path | None,
    backend: str,
    as_json: bool,
) -> None:
    """Rank a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv) with the nightly ranking core.

    Queries play interests and corpus documents play articles. Prints nDCG@10, Recall@100,
    MRR@10, the time to index and the time to rank. Vectors are cached, so a second run of the
    same corpus and model embeds nothing.

    Example: gifts eval beir ../shared/eval/scifact --json
    """
    from pipeline.evaluate import run_beir

    overrides = {
        "fusion": fusion,
        "dense_weight": dense_weight,
        "lexical_weight": lexical_weight,
        "prf_docs": prf_docs,
        "bm25_k1": bm25_k1,
        "bm25_b": bm25_b,
    }
    try:
        result = run_beir(folder, split=split, overrides=overrides, model_path=model_path, cache=cache, backend=backend)
    except GiftsError as exc:
        fail(exc)
    figures = result.as_json()
    if as_json:
        click.echo(json.dumps(figures, sort_keys=True))
        return
    click.echo(
        f"nDCG@10 {figures['ndcg@10']:.4f}  Recall@100 {figures['recall@100']:.4f}  MRR@10 {figures['mrr@10']:.4f}"
    )
    click.echo(f"index {figures['index_s']:.1f}s (embedded {figures['embedded']})  rank {figures['rank_s']:.1f}s")


COMMANDS = (adapt, eval_group)
