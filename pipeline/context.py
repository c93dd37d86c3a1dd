"""The run context every stage gets, the engine interface the heavy stages run on, and the rank inputs.

`Context` holds one run's configuration, store, archive, clock, lazily loaded model and fetcher.
`Engine` is what an engine (pipeline/engines.py: in-process; pipeline/engine_ray.py: Ray Data)
implements: the runner picks one per run and the stages call it, never asking which it is. The rank
inputs (index, interest vectors, exclusions, feedback model) are built here, once per run, by
whichever engine ranks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx
import numpy as np

from pipeline import feedback, history, notes_context, pages, rank_frames, vectors
from pipeline.archive import Archive
from pipeline.config import Config
from pipeline.db.states import DocState
from pipeline.embed import Embedder, load_embedder, model_key
from pipeline.errors import GiftsError
from pipeline.fetch import Fetcher
from pipeline.interviews import Contact
from pipeline.rank import Suggestion, doc_priors
from pipeline.retrieval import HybridIndex
from pipeline.store import Store

log = logging.getLogger(__name__)

# A factory that returns a progress callback for a stage and its total, and a closer.
ProgressFactory = Callable[[str, int], tuple[Callable[[int], None], Callable[[], None]]]


def no_progress(_stage: str, _total: int) -> tuple[Callable[[int], None], Callable[[], None]]:
    return (lambda _n: None), (lambda: None)


class Engine(Protocol):
    """Where the heavy stages run. Each method does one stage's work for the run in `ctx`."""

    name: str

    def session(self, config: Config, address: str | None) -> AbstractContextManager[object]:
        """Held for the whole run (a Ray cluster connection; nothing for the local engine)."""
        ...

    def fetch_pages(self, ctx: Context) -> Counter[str]: ...

    def extract(self, ctx: Context) -> Counter[str]: ...

    def embed(self, ctx: Context) -> Counter[str]: ...

    def rank_all(self, ctx: Context) -> list[Suggestion]: ...


@dataclass
class Context:
    config: Config
    store: Store
    archive: Archive
    now: dt.datetime
    progress: ProgressFactory
    transport: httpx.BaseTransport | None
    embedder_factory: Callable[[], Embedder] | None
    engine: Engine | None = None  # where pages, extraction, embedding and ranking run (None: local)
    _embedder: Embedder | None = None
    _fetcher: Fetcher | None = None
    _page_budget: pages.PageBudget | None = None
    report_dir: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)  # stages finished so far, for the report

    @property
    def stamp(self) -> str:
        return self.now.isoformat(timespec="seconds")

    @property
    def today(self) -> dt.date:
        return self.now.date()

    @property
    def model(self) -> str:
        if self.config.embed.model_path is not None and self.embedder_factory is None:
            # A model of the user's own (gifts adapt) is keyed by its folder and weights, which
            # only loading it verifies; the cost is one model load per run, for those who opt in.
            return self.embedder().name
        return model_key(self.config.embed.model, self.config.paths.models, self.config.embed.backend)

    def embedder(self) -> Embedder:
        """Loaded on first need only, so a run with nothing new never imports torch."""
        if self._embedder is None:
            if self.embedder_factory is not None:
                self._embedder = self.embedder_factory()
            else:
                settings = self.config.embed
                self._embedder = load_embedder(
                    settings.model,
                    self.config.paths.models,
                    settings.model_path,
                    settings.batch_size,
                    backend=settings.backend,
                )
        return self._embedder

    def checked_embedder(self) -> Embedder:
        """The model, refused unless it is the one the manifest (and so every cached vector) names."""
        model = self.embedder()
        if model.name != self.model:
            raise GiftsError(f"embedder {model.name} does not match the manifest's {self.model}")
        return model

    def fetcher(self) -> Fetcher | None:
        if self.config.fetch.offline:
            return None
        if self._fetcher is None:
            self._fetcher = Fetcher(self.config.fetch, transport=self.transport)
            search = self.config.search
            if search.enabled:  # each search service's host is asked at most once per min_interval_s
                for service in search.services:
                    self._fetcher.hosts.pace(getattr(search, f"{service}_url"), search.min_interval_s)
        return self._fetcher

    @property
    def page_budget(self) -> pages.PageBudget:
        """One budget for the whole run: the parse stage fetches pages again after the fetch stage."""
        if self._page_budget is None:
            settings = self.config.fetch
            self._page_budget = pages.PageBudget(run_s=settings.run_budget_s, source_s=settings.source_budget_s)
        return self._page_budget

    def close(self) -> None:
        if self._fetcher is not None:
            self._fetcher.close()


def exclusions(ctx: Context) -> history.Exclusions:
    """Per contact: documents already sent, skipped or refused (by document, source or topic), and
    documents sent to a colleague at the same company within `history.colleague_window_days`."""
    doc_source = {r["id"]: r["source_id"] for r in ctx.store.query("SELECT id, source_id FROM documents")}
    company_of = {r["id"]: r["company"] for r in ctx.store.query("SELECT id, company FROM contacts")}
    return history.exclusions(
        history.load_actions(ctx.store), doc_source, company_of, ctx.today, ctx.config.history.colleague_window_days
    )


def feedback_model(ctx: Context) -> feedback.FeedbackModel | None:
    """The re-ranker to apply, (re)trained when the number of decisions changed; None keeps the base ranking."""
    settings = ctx.config.feedback
    if not settings.enabled:
        return None
    examples = feedback.examples_from_actions(
        dict(r) for r in ctx.store.query("SELECT action, at, features FROM actions")
    )
    if len(examples) < settings.min_decisions:
        return None
    model = feedback.load(ctx.config.paths.models)
    if model is None or model.size != len(examples):
        model = feedback.train(examples, settings.holdout, ctx.now)
        if model is None:
            return None
        feedback.save(model, ctx.config.paths.models)
        log.info("feedback model trained on %d decisions: AUC %.3f vs base %.3f", model.size, model.metric,
                 model.base_metric)  # fmt: skip
    return model if model.used else None


def in_context(interest: np.ndarray, notes: np.ndarray | None, weight: float) -> np.ndarray:
    """A listed interest's query vector read with what the notes say about the person.

    The normalised blend (1 - weight) * interest + weight * notes: cosine against it ranks an article
    on the person's concern within the field above one merely on the field. An inferred interest is
    already a phrase of those notes, so it is used as it is (as is an interest without notes).
    """
    if notes is None or weight <= 0:
        return interest
    blend = (1.0 - weight) * interest + weight * notes
    norm = float(np.linalg.norm(blend))
    return (blend / norm).astype(np.float32) if norm > 0 else interest


def rank_inputs(ctx: Context, corpus: vectors.Corpus, contacts: list[Contact]) -> rank_frames.RankInputs:
    """Everything the rank stage needs besides the contacts, built once per run by either engine."""
    index = HybridIndex(
        corpus.docs["id"].tolist(),
        (corpus.docs["title"].fillna("") + "\n" + corpus.docs["text"].fillna("")).tolist(),
        corpus.passage_vectors,
        corpus.passage_doc,
        settings=ctx.config.rank.retrieval,
    )
    weight = ctx.config.rank.notes_weight
    wanted = {i.id: vectors.text_sha(i.text) for c in contacts for i in c.interests}
    about = (
        {c: vectors.text_sha(t) for c, t in notes_context.notes_about(ctx.store, [c.id for c in contacts]).items()}
        if weight > 0
        else {}
    )
    cached = ctx.store.vectors(ctx.model, {*wanted.values(), *about.values()})
    missing = [i for i, sha in [*wanted.items(), *about.items()] if sha not in cached]
    if missing:
        raise GiftsError(f"{len(missing)} interests or notes have no vectors yet: run `gifts embed` first")
    notes = {c: cached[sha] for c, sha in about.items()}
    excluded = exclusions(ctx)
    model = feedback_model(ctx)
    settings = ctx.config.rank
    facts: dict[str, tuple[int, str, str]] = {}
    if model is not None:
        # The re-ranker chooses from a wider pool than the top k, or it could only reorder it.
        settings = dataclasses.replace(settings, top_k=settings.top_k * ctx.config.feedback.pool)
        facts = {
            r["id"]: (int(r["words"] or 0), r["kind"] or "", r["source_id"] or "")
            for r in ctx.store.query(
                "SELECT id, words, kind, source_id FROM documents WHERE state = ?", (DocState.EXTRACTED,)
            )
        }
    return rank_frames.RankInputs(
        contacts={c.id: c for c in contacts},
        interest_vectors={
            i.id: in_context(cached[wanted[i.id]], notes.get(c.id) if i.kind == "said" else None, weight)
            for c in contacts
            for i in c.interests
        },
        index=index,
        corpus=corpus,
        excluded_docs=excluded.docs,
        dropped_interests=excluded.interests,
        settings=settings,
        today=ctx.today,
        priors=doc_priors(corpus.docs, settings, ctx.today),
        feedback_model=model,
        top_k=ctx.config.rank.top_k,
        facts=facts,
    )
