"""The in-process engine (the default) and how a run picks its engine by name.

The local engine runs every heavy stage in this process and its worker pools; the Ray engine
(pipeline/engine_ray.py) implements the same interface (`context.Engine`) over Ray Data and is
imported only when asked for, so the local engine never imports Ray.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from contextlib import AbstractContextManager

import pandas as pd

from pipeline import ingest, notes_context, pages, profile, rank_frames, vectors
from pipeline.config import Config
from pipeline.context import Context, Engine, rank_inputs
from pipeline.db import documents
from pipeline.errors import ConfigError
from pipeline.rank import Suggestion

log = logging.getLogger(__name__)

ENGINES = ("local", "ray")


class LocalEngine:
    """Every stage in this process: pages by a thread pool, extraction by worker processes."""

    name = "local"

    def session(self, config: Config, address: str | None) -> AbstractContextManager[object]:
        return contextlib.nullcontext()

    def fetch_pages(self, ctx: Context) -> Counter[str]:
        total = documents.count_waiting_for_page(ctx.store)
        tick, done = ctx.progress("fetch pages", total)
        settings = ctx.config.fetch
        counts = pages.fetch_documents(
            ctx.store,
            ctx.archive,
            ctx.fetcher(),
            ctx.stamp,
            tick,
            workers=settings.page_workers,
            budget=ctx.page_budget,
        )
        done()
        return counts

    def extract(self, ctx: Context) -> Counter[str]:
        reclaimed = ingest.reclaim_dataset_documents(ctx.store)
        if reclaimed:
            log.info("%d documents extracted by the Ray engine are extracted again here", reclaimed)
        total = documents.count_waiting_for_extraction(ctx.store)
        tick, done = ctx.progress("extract", total)
        counts = ingest.extract_documents(ctx.store, ctx.archive, ctx.stamp, tick)
        done()
        return counts

    def embed(self, ctx: Context) -> Counter[str]:
        cut = vectors.cut_passages(ctx.store, ctx.config.embed)
        texts = vectors.passage_texts_without_vectors(ctx.store, ctx.model)
        texts.update(vectors.missing_texts(ctx.store, ctx.model, notes_context.query_texts(ctx.store)))
        embedded = 0
        if texts:
            embedder = ctx.checked_embedder()
            tick, done = ctx.progress("embed", len(texts))
            embedded = vectors.embed_texts(ctx.store, embedder, texts, tick)
            done()
        return Counter({"passaged": cut, "embedded": embedded})

    def rank_all(self, ctx: Context) -> list[Suggestion]:
        """Suggestions for every contact of an open interview (pure ranking over the store's data)."""
        corpus = vectors.load_corpus(ctx.store, ctx.model)
        contacts = profile.load_contacts(ctx.store)
        if corpus.docs.empty or not contacts:
            return []
        inputs = rank_inputs(ctx, corpus, contacts)
        contact_ids = pd.DataFrame({"contact_id": [c.id for c in contacts]})
        return rank_frames.suggestions_from_frame(rank_frames.rank_frame(contact_ids, inputs))


LOCAL = LocalEngine()


def select(name: str) -> Engine:
    """The engine called `name`: "local", or "ray" (imports Ray, which the local engine never does)."""
    if name == "local":
        return LOCAL
    if name == "ray":
        from pipeline.engine_ray import RayEngine

        return RayEngine()
    raise ConfigError(f"--engine: {name!r} is not {' or '.join(ENGINES)}")
