"""Adapt the embedding model to a corpus without labels: contrastive pairs cut from its own documents.

Two kinds of pair need no labels. A document's title and its opening say the same thing in different
words; and one sentence of an abstract against the rest of it (the inverse cloze task) looks like a
short claim against the passage that supports it, the shape of a reader's interest against an
article. Training the model to match each pair against the other documents in its batch (in-batch
negatives, as in sentence-transformers' MultipleNegativesRankingLoss) teaches it the corpus's
vocabulary. Averaging the tuned weights with the base ones (weight-space ensembling) keeps what the
base model knew. The result is saved with a `checksums.json` that is verified before every later use.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import Config
from pipeline.errors import InputError, ModelError
from pipeline.manifest import sha256_file

log = logging.getLogger(__name__)

CHECKSUMS = "checksums.json"
PAIR_KINDS = ("title", "ict", "both")

# (query, positive) or (query, positive, hard negative)
Pair = tuple[str, ...]
PairSource = Sequence[Pair] | Callable[[int], Sequence[Pair]]

# A sentence ends at . ! or ? followed by space and a capital, digit or bracket: "e.g. the" stays whole.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")


@dataclass(frozen=True, slots=True)
class AdaptResult:
    folder: Path
    pairs: int
    steps: int
    seconds: float
    final_loss: float


def sentences(text: str) -> list[str]:
    """The sentences of a text, split at sentence ends followed by a capital, digit or bracket."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _title_pair(title: str, text: str, body_words: int) -> Pair | None:
    words = text.split()
    if not title.strip() or len(words) < 20:
        return None
    return (title.strip(), " ".join(words[:body_words]))


def _ict_pair(
    title: str, text: str, rng: random.Random, keep_probability: float, min_words: int, context_words: int
) -> Pair | None:
    parts = sentences(text)
    candidates = [i for i, s in enumerate(parts) if len(s.split()) >= min_words]
    # Draw both numbers for every document so one document's shape never shifts another's draw.
    pick_at, keep_draw = rng.random(), rng.random()
    if len(parts) < 2 or not candidates:
        return None
    pick = candidates[int(pick_at * len(candidates))]
    # Now and then the sentence stays in its context, so exact word overlap still counts for something.
    rest = parts if keep_draw < keep_probability else parts[:pick] + parts[pick + 1 :]
    body = " ".join(" ".join(rest).split()[:context_words])
    # The context reads like the first passage the embed stage cuts: the title leads it.
    return (parts[pick], f"{title.strip()}. {body}" if title.strip() else body)


def title_body_pairs(titles: Sequence[str], texts: Sequence[str], body_words: int = 120) -> list[Pair]:
    """(title, opening words of the body) for every document that has both."""
    pairs = [_title_pair(t, x, body_words) for t, x in zip(titles, texts, strict=True)]
    return [p for p in pairs if p is not None]


def ict_pairs(
    titles: Sequence[str],
    texts: Sequence[str],
    *,
    seed: int = 13,
    keep_probability: float = 0.1,
    min_words: int = 6,
    context_words: int = 180,
) -> list[Pair]:
    """Inverse cloze task: (one sentence of a document, the title and the rest of its text).

    One pair per document with at least two sentences, the sentence drawn at random (`seed`) among
    those of `min_words` words or more; with probability `keep_probability` the sentence is left in.
    """
    rng = random.Random(seed)
    pairs = [
        _ict_pair(t, x, rng, keep_probability, min_words, context_words) for t, x in zip(titles, texts, strict=True)
    ]
    return [p for p in pairs if p is not None]


def mixed_pairs(titles: Sequence[str], texts: Sequence[str], *, seed: int = 13, body_words: int = 120) -> list[Pair]:
    """One pair per document, its title pair or an ICT pair by a coin flip (`seed`).

    One pair per document, never both, so a batch never holds the same document twice (it would be
    its own negative).
    """
    rng = random.Random(seed)
    pairs: list[Pair] = []
    for title, text in zip(titles, texts, strict=True):
        pair = _title_pair(title, text, body_words) if rng.random() < 0.5 else None
        pair = pair or _ict_pair(title, text, rng, 0.1, 6, 180)
        if pair is not None:
            pairs.append(pair)
    return pairs


def build_pairs(
    kind: str, titles: Sequence[str], texts: Sequence[str], *, seed: int = 13, body_words: int = 120
) -> list[Pair]:
    """Pairs of one kind: "title" (title -> opening `body_words` words), "ict" or "both" (see mixed_pairs)."""
    if kind == "title":
        return title_body_pairs(titles, texts, body_words)
    if kind == "ict":
        return ict_pairs(titles, texts, seed=seed)
    if kind == "both":
        return mixed_pairs(titles, texts, seed=seed, body_words=body_words)
    raise InputError(f"pairs: {kind!r} is not one of {', '.join(PAIR_KINDS)}")


def pair_source(
    kind: str, titles: Sequence[str], texts: Sequence[str], *, seed: int = 13, body_words: int = 120
) -> Callable[[int], list[Pair]]:
    """Pairs drawn afresh each epoch (another sentence per document for "ict" and "both")."""
    if kind not in PAIR_KINDS:
        raise InputError(f"pairs: {kind!r} is not one of {', '.join(PAIR_KINDS)}")
    return lambda epoch: build_pairs(kind, titles, texts, seed=seed + epoch, body_words=body_words)


def first_passages(titles: Sequence[str], texts: Sequence[str], words: int = 180) -> list[str]:
    """Each document as the embed stage's first passage reads: the title, then the opening words."""
    out = []
    for title, text in zip(titles, texts, strict=True):
        body = " ".join(text.split()[:words])
        out.append(f"{title.strip()}. {body}" if title.strip() else body)
    return out


def mine_negatives(vectors: np.ndarray, *, skip: int = 30, take: int = 70, block: int = 1024) -> np.ndarray:
    """For each row of L2-normalised `vectors`, the rows ranked skip+1 .. skip+take by cosine (itself excluded).

    The nearest rows are skipped: in a corpus of related documents they are often just as relevant
    as the document itself, and training them apart would teach the model to split true matches.
    Returns an (n, min(take, n - 1 - skip)) array of row numbers, computed `block` rows at a time.
    """
    n = len(vectors)
    width = max(0, min(take, n - 1 - skip))
    out = np.zeros((n, width), dtype=np.int64)
    for start in range(0, n, block):
        sims = vectors[start : start + block] @ vectors.T
        rows = np.arange(len(sims))
        sims[rows, start + rows] = -np.inf
        out[start : start + block] = np.argsort(-sims, axis=1, kind="stable")[:, skip : skip + width]
    return out


def hard_negative_source(
    titles: Sequence[str],
    texts: Sequence[str],
    mined: np.ndarray,
    *,
    docs: Sequence[int] | None = None,
    seed: int = 13,
) -> Callable[[int], list[Pair]]:
    """ICT triples drawn afresh each epoch: (sentence, rest of its document, one mined document).

    `mined[i]` holds the candidate negatives of document i (see mine_negatives); `docs` limits both
    the documents trained on and the negatives drawn (default: all).
    """
    chosen = list(range(len(titles))) if docs is None else list(docs)
    allowed = set(chosen)
    negatives = first_passages(titles, texts)

    def draw(epoch: int) -> list[Pair]:
        rng = random.Random(seed * 7919 + epoch)
        out: list[Pair] = []
        for i in chosen:
            pair = ict_pairs([titles[i]], [texts[i]], seed=rng.randrange(1 << 30))
            choices = [int(j) for j in mined[i] if int(j) in allowed]
            if pair and choices:
                out.append((*pair[0], negatives[rng.choice(choices)]))
        return out

    return draw


def _floating(value: Any) -> bool:
    check = getattr(value, "is_floating_point", None)  # torch tensors
    return bool(check()) if callable(check) else bool(np.issubdtype(np.asarray(value).dtype, np.floating))


def average_weights(base: Mapping[str, Any], tuned: Mapping[str, Any], weight: float) -> dict[str, Any]:
    """(1 - weight) * base + weight * tuned for every floating tensor (weight-space ensembling).

    Works on torch state dicts and on dicts of numpy arrays; integer buffers are taken from `tuned`.
    """
    if not 0.0 <= weight <= 1.0:
        raise InputError(f"average: {weight} is not between 0 and 1")
    if set(base) != set(tuned):
        missing = sorted(set(base) ^ set(tuned))
        raise ModelError(f"cannot average models with different tensors: {', '.join(missing[:3])}")
    out: dict[str, Any] = {}
    for name, value in tuned.items():
        if getattr(value, "shape", None) != getattr(base[name], "shape", None):
            raise ModelError(f"cannot average models: {name} has shapes {base[name].shape} and {value.shape}")
        out[name] = (1.0 - weight) * base[name] + weight * value if _floating(value) else value
    return out


def write_checksums(folder: Path) -> dict[str, str]:
    files = {
        p.relative_to(folder).as_posix(): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != CHECKSUMS
    }
    (folder / CHECKSUMS).write_text(json.dumps(files, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return files


def fit(
    model: Any,
    pairs: PairSource,
    *,
    epochs: int = 1,
    batch_size: int = 32,
    learning_rate: float = 2e-5,
    max_seq_length: int = 128,
    scale: float = 20.0,
    seed: int = 13,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, int, float]:
    """Train a loaded SentenceTransformer in place on `pairs`; returns (pairs per epoch, steps, last loss).

    Symmetric in-batch contrastive loss: each query must pick its own positive among the batch's
    positives (and hard negatives, for triples) and each positive its own query. `pairs` is a list
    used every epoch, or a function of the epoch that draws them afresh. Linear warm-up over the
    first tenth of the steps, then linear decay. Deterministic for a given seed and pairs on the CPU.
    """
    import torch

    torch.manual_seed(seed)
    device = model.device
    epoch_pairs = [list(pairs(e)) if callable(pairs) else list(pairs) for e in range(epochs)]
    rng = random.Random(seed)
    for order in epoch_pairs:
        rng.shuffle(order)
    # Batches never span two epochs: the same document twice in one batch would be its own negative.
    batches = [
        order[i : i + batch_size]
        for order in epoch_pairs
        for i in range(0, len(order), batch_size)
        if len(order[i : i + batch_size]) > 1
    ]
    original_length = model.max_seq_length
    # Shorter sequences make CPU training affordable; titles and openings fit in 128 tokens.
    model.max_seq_length = max_seq_length
    model.train()
    # sentence-transformers 6 renamed tokenize to preprocess; accept both.
    encode_inputs = getattr(model, "preprocess", model.tokenize)

    def embed(texts: list[str]) -> Any:
        features = {k: v.to(device) if hasattr(v, "to") else v for k, v in encode_inputs(texts).items()}
        return torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=-1)

    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    total = max(1, len(batches))
    warmup = max(1, total // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, (total - step) / max(1, total - warmup))
    )
    loss_value = float("nan")
    for batch in batches:
        queries = embed([p[0] for p in batch])
        candidates = embed([p[1] for p in batch] + [p[2] for p in batch if len(p) > 2])
        logits = scale * queries @ candidates.T
        labels = torch.arange(len(batch), device=device)
        loss = (
            torch.nn.functional.cross_entropy(logits, labels)
            + torch.nn.functional.cross_entropy(logits[:, : len(batch)].T, labels)
        ) / 2
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        loss_value = float(loss.detach())
        if progress:
            progress(1)
    model.eval()
    model.max_seq_length = original_length
    return len(epoch_pairs[0]) if epoch_pairs else 0, len(batches), loss_value


def adapt(
    base: Path,
    pairs: PairSource,
    out: Path,
    *,
    epochs: int = 1,
    batch_size: int = 32,
    learning_rate: float = 2e-5,
    max_seq_length: int = 128,
    scale: float = 20.0,
    seed: int = 13,
    average: float = 1.0,
    device: str = "cpu",
    progress: Callable[[int], None] | None = None,
) -> AdaptResult:
    """Fine-tune the model in `base` on `pairs` (see `fit`) and save it to `out` with checksums.

    `average` is the share of the tuned weights in the saved model, the rest being the base's
    (1.0: the tuned model as trained). `device` is "cpu" or "cuda".
    """
    from pipeline.embed import offline_and_quiet

    offline_and_quiet()
    import torch
    from sentence_transformers import SentenceTransformer

    if not 0.0 <= average <= 1.0:
        raise InputError(f"average: {average} is not between 0 and 1")
    model = SentenceTransformer(str(base), device=device, local_files_only=True)
    base_state = {k: v.detach().clone() for k, v in model.state_dict().items()} if average < 1.0 else {}
    started = time.perf_counter()
    count, steps, loss_value = fit(
        model,
        pairs,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        max_seq_length=max_seq_length,
        scale=scale,
        seed=seed,
        progress=progress,
    )
    if average < 1.0:
        with torch.no_grad():
            model.load_state_dict(average_weights(base_state, model.state_dict(), average))
    out.mkdir(parents=True, exist_ok=True)
    model.to("cpu")
    model.save(str(out))
    write_checksums(out)
    seconds = time.perf_counter() - started
    log.info("adapted model saved to %s after %d steps (%.0f s), last loss %.3f", out, steps, seconds, loss_value)
    return AdaptResult(out, count, steps, seconds, loss_value)


def adapt_workspace(config: Config, now: dt.datetime, epochs: int = 1, pairs: str = "title") -> AdaptResult:
    """Adapt the workspace's model to its own extracted documents; saves under the workspace's models/.

    The new folder is not used until `embed.model_path` points at it, so a worse model never
    slips into the nightly run unnoticed; `gifts eval` can compare the two first.
    """
    from pipeline.db.states import DocState
    from pipeline.manifest import load_manifest, locate_model
    from pipeline.store import Store, WorkspaceLock

    if not config.paths.store.exists():
        raise InputError(f"{config.paths.store}: no store yet; run `gifts run` first")
    with WorkspaceLock(config.paths.interim), Store(config.paths.store) as store:
        rows = store.query("SELECT title, text FROM documents WHERE state = ? ORDER BY id", (DocState.EXTRACTED,))
    titles, texts = [r["title"] or "" for r in rows], [r["text"] or "" for r in rows]
    first = build_pairs(pairs, titles, texts)
    if len(first) < 2:
        raise InputError(f"{config.paths.store}: only {len(first)} documents give a {pairs} pair; need at least 2")
    base = locate_model(config.embed.model, load_manifest(config.paths.models), config.embed.model_path)
    out = config.paths.models / f"adapted-{now:%Y%m%d-%H%M}"
    return adapt(base, pair_source(pairs, titles, texts), out, epochs=epochs)
