"""Adapt the embedding model to a corpus without labels: titles and bodies as contrastive pairs.

A document's title and its opening passage say the same thing in different words; training the
model to match them (in-batch negatives, as in sentence-transformers' MultipleNegativesRankingLoss)
teaches it the corpus's vocabulary. It runs on the CPU in minutes for a few thousand documents.
The result is saved with a `checksums.json` that is verified before every later use.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import Config
from pipeline.embed import sha256_file
from pipeline.errors import InputError

log = logging.getLogger(__name__)

CHECKSUMS = "checksums.json"


@dataclass(frozen=True, slots=True)
class AdaptResult:
    folder: Path
    pairs: int
    steps: int
    seconds: float
    final_loss: float


def title_body_pairs(titles: Sequence[str], texts: Sequence[str], body_words: int = 120) -> list[tuple[str, str]]:
    """(title, opening words of the body) for every document that has both."""
    pairs = []
    for title, text in zip(titles, texts, strict=True):
        words = text.split()
        if title.strip() and len(words) >= 20:
            pairs.append((title.strip(), " ".join(words[:body_words])))
    return pairs


def write_checksums(folder: Path) -> dict[str, str]:
    files = {
        p.relative_to(folder).as_posix(): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != CHECKSUMS
    }
    (folder / CHECKSUMS).write_text(json.dumps(files, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return files


def adapt(
    base: Path,
    pairs: Sequence[tuple[str, str]],
    out: Path,
    *,
    epochs: int = 1,
    batch_size: int = 32,
    learning_rate: float = 2e-5,
    max_seq_length: int = 128,
    scale: float = 20.0,
    seed: int = 13,
    progress: Callable[[int], None] | None = None,
) -> AdaptResult:
    """Fine-tune the model in `base` on `pairs` and save it to `out` with checksums.

    Symmetric in-batch contrastive loss: each title must pick its own body among the batch's
    bodies and vice versa. Deterministic for a given seed and pair order.
    """
    from pipeline.embed import offline_and_quiet

    offline_and_quiet()
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(seed)
    order = list(pairs)
    random.Random(seed).shuffle(order)
    model = SentenceTransformer(str(base), device="cpu", local_files_only=True)
    original_length = model.max_seq_length
    # Shorter sequences make CPU training affordable; titles and openings fit in 128 tokens.
    model.max_seq_length = max_seq_length
    model.train()
    # sentence-transformers 6 renamed tokenize to preprocess; accept both.
    encode_inputs = getattr(model, "preprocess", model.tokenize)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    batches = [
        order[i : i + batch_size] for i in range(0, len(order), batch_size) if len(order[i : i + batch_size]) > 1
    ]
    total = max(1, len(batches) * epochs)
    warmup = max(1, total // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, (total - step) / max(1, total - warmup))
    )
    started = time.perf_counter()
    loss_value = float("nan")
    steps = 0
    for _ in range(epochs):
        for batch in batches:
            left = encode_inputs([a for a, _ in batch])
            right = encode_inputs([b for _, b in batch])
            a = torch.nn.functional.normalize(model(left)["sentence_embedding"], dim=-1)
            b = torch.nn.functional.normalize(model(right)["sentence_embedding"], dim=-1)
            logits = scale * a @ b.T
            labels = torch.arange(len(batch))
            loss = (
                torch.nn.functional.cross_entropy(logits, labels) + torch.nn.functional.cross_entropy(logits.T, labels)
            ) / 2
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            loss_value = float(loss.detach())
            steps += 1
            if progress:
                progress(1)
    model.eval()
    model.max_seq_length = original_length
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out))
    write_checksums(out)
    seconds = time.perf_counter() - started
    log.info("adapted model saved to %s after %d steps (%.0f s), last loss %.3f", out, steps, seconds, loss_value)
    return AdaptResult(out, len(order), steps, seconds, loss_value)


def adapt_workspace(config: Config, now: dt.datetime, epochs: int = 1) -> AdaptResult:
    """Adapt the workspace's model to its own extracted documents; saves under the workspace's models/.

    The new folder is not used until `embed.model_path` points at it, so a worse model never
    slips into the nightly run unnoticed; `gifts eval` can compare the two first.
    """
    from pipeline.embed import load_manifest, locate_model
    from pipeline.store import Store, WorkspaceLock

    if not config.paths.store.exists():
        raise InputError(f"{config.paths.store}: no store yet; run `gifts run` first")
    with WorkspaceLock(config.paths.interim), Store(config.paths.store) as store:
        rows = store.query("SELECT title, text FROM documents WHERE state = 'extracted' ORDER BY id")
    pairs = title_body_pairs([r["title"] or "" for r in rows], [r["text"] or "" for r in rows])
    if len(pairs) < 2:
        raise InputError(f"{config.paths.store}: only {len(pairs)} documents with a title and a body; need at least 2")
    base = locate_model(config.embed.model, load_manifest(config.paths.models), config.embed.model_path)
    out = config.paths.models / f"adapted-{now:%Y%m%d-%H%M}"
    return adapt(base, pairs, out, epochs=epochs)
