"""Runs stages against a workspace: the lock, the run record, timings, and the summary.

Library entry point: `run(config, stages, now=...)`. The clock is a parameter so tests and
notebooks can replay any day; only the CLI reads the wall clock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from pipeline import drafts, feedback, frames, history, ingest, pages, profile, report, vectors
from pipeline.archive import Archive
from pipeline.config import Config
from pipeline.embed import Embedder, load_embedder, model_key
from pipeline.errors import ConfigError, GiftsError
from pipeline.fetch import Fetcher
from pipeline.interviews import Contact
from pipeline.rank import Suggestion, doc_priors, retrieval_settings
from pipeline.retrieval import HybridIndex
from pipeline.sources import configured_sources
from pipeline.store import Store, WorkspaceLock

log = logging.getLogger(__name__)

STAGES = ("fetch", "parse", "extract", "profile", "embed", "rank", "report")
SUMMARY_KEYS = (
    "fetched", "not_modified", "archive_hits", "parsed", "new_documents", "extracted", "extract_failed",
    "too_large", "blocked", "embedded", "profiled", "suggestions", "failed",
)  # fmt: skip

# A factory that returns a progress callback for a stage and its total, and a closer.
ProgressFactory = Callable[[str, int], tuple[Callable[[int], None], Callable[[], None]]]


def _no_progress(_stage: str, _total: int) -> tuple[Callable[[int], None], Callable[[], None]]:
    return (lambda _n: None), (lambda: None)


@dataclass
class RunResult:
    run_id: int
    status: str
    counts: dict[str, int]
    timings: dict[str, float]
    report_dir: Path | None = None
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {key: int(self.counts.get(key, 0)) for key in SUMMARY_KEYS}
        out.update({k: int(v) for k, v in self.counts.items() if k not in out})
        out["run_id"] = self.run_id
        out["status"] = self.status
        out["timings_s"] = {k: round(v, 3) for k, v in self.timings.items()}
        out["report"] = str(self.report_dir) if self.report_dir else None
        return out


@dataclass
class Context:
    config: Config
    store: Store
    archive: Archive
    now: dt.datetime
    progress: ProgressFactory
    transport: httpx.BaseTransport | None
    embedder_factory: Callable[[], Embedder] | None
    engine: str = "local"  # local | ray: where fetch (pages), extract, embed and rank run
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

    def fetcher(self) -> Fetcher | None:
        if self.config.fetch.offline:
            return None
        if self._fetcher is None:
            self._fetcher = Fetcher(self.config.fetch, transport=self.transport)
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


def _fetch(ctx: Context) -> Counter[str]:
    ingest.sync_sources(ctx.store, configured_sources(ctx.config))
    total = int(ctx.store.scalar("SELECT COUNT(*) FROM sources WHERE kind = 'feed'") or 0)
    tick, done = ctx.progress("fetch feeds", total)
    counts = ingest.fetch_feeds(ctx.store, ctx.archive, ctx.fetcher(), ctx.stamp, tick)
    done()
    # Once per run (here, not in _fetch_pages, which the parse stage calls again).
    if not ctx.config.fetch.offline:
        counts["retried"] += pages.retry_transient_failures(ctx.store)
    counts.update(_fetch_pages(ctx))
    return counts


def _fetch_pages(ctx: Context) -> Counter[str]:
    if not ctx.config.fetch.fetch_articles:
        return ingest.use_feed_text(ctx.store)
    if ctx.engine == "ray":
        from pipeline import engine_ray

        return engine_ray.fetch_pages(ctx)
    total = ingest.pending_count(ctx.store, "state = 'pending' AND raw_sha IS NULL AND url IS NOT NULL")
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


def _parse(ctx: Context) -> Counter[str]:
    ingest.sync_sources(ctx.store, configured_sources(ctx.config))
    settings = ctx.config.fetch
    counts = ingest.parse_sources(
        ctx.store, ctx.archive, ctx.stamp, settings.max_entries_per_feed, max_bytes=settings.max_bytes
    )
    # Pages of entries found just now are fetched in the same run, so one run is a full night.
    # update(), not +: a quarantined feed moves this run's source count from one state to another.
    counts.update(_fetch_pages(ctx))
    return counts


def _extract(ctx: Context) -> Counter[str]:
    if ctx.engine == "ray":
        from pipeline import engine_ray

        return engine_ray.extract(ctx)
    reclaimed = ingest.reclaim_dataset_documents(ctx.store)
    if reclaimed:
        log.info("%d documents extracted by the Ray engine are extracted again here", reclaimed)
    total = ingest.pending_count(ctx.store, "state = 'pending' AND raw_sha IS NOT NULL")
    tick, done = ctx.progress("extract", total)
    counts = ingest.extract_documents(ctx.store, ctx.archive, ctx.stamp, tick)
    done()
    return counts


def _profile(ctx: Context) -> Counter[str]:
    def embedder() -> Embedder:
        model = ctx.embedder()
        if model.name != ctx.model:
            raise GiftsError(f"embedder {model.name} does not match the manifest's {ctx.model}")
        return model

    # Inferring interests needs the model, loaded only when an interview file changed.
    return profile.profile_interviews(
        ctx.store, ctx.config.paths.interviews, ctx.config.interests, embedder, candidate=ctx.config.drafts.signature
    )


def _embed(ctx: Context) -> Counter[str]:
    if ctx.engine == "ray":
        from pipeline import engine_ray

        return engine_ray.embed(ctx)
    cut = vectors.cut_passages(ctx.store, ctx.config.embed)
    texts = vectors.passage_texts_without_vectors(ctx.store, ctx.model)
    interests = {vectors.text_sha(r["text"]): r["text"] for r in ctx.store.query("SELECT text FROM interests")}
    texts.update(vectors.missing_texts(ctx.store, ctx.model, interests))
    embedded = 0
    if texts:
        embedder = ctx.embedder()
        if embedder.name != ctx.model:
            raise GiftsError(f"embedder {embedder.name} does not match the manifest's {ctx.model}")
        tick, done = ctx.progress("embed", len(texts))
        embedded = vectors.embed_texts(ctx.store, embedder, texts, tick)
        done()
    return Counter({"passaged": cut, "embedded": embedded})


def exclusions(ctx: Context) -> history.Exclusions:
    """Per contact: documents already sent, skipped or refused (by document, source or topic), and
    documents sent to a colleague at the same company within `history.colleague_window_days`."""
    doc_source = {r["id"]: r["source_id"] for r in ctx.store.query("SELECT id, source_id FROM documents")}
    company_of = {r["id"]: r["company"] for r in ctx.store.query("SELECT id, company FROM contacts")}
    return history.exclusions(
        history.load_actions(ctx.store), doc_source, company_of, ctx.today, ctx.config.history.colleague_window_days
    )


def _feedback_model(ctx: Context) -> feedback.FeedbackModel | None:
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


def _file_sha(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _rank_fingerprint(ctx: Context) -> str:
    digest = hashlib.sha256()
    parts: Iterable[Any] = (
        ctx.model,
        ctx.today.isoformat(),
        repr(ctx.config.rank),
        repr(ctx.config.history),
        repr(ctx.config.feedback),
        _file_sha(ctx.config.paths.models / feedback.MODEL_FILE),
        ctx.store.query("SELECT id, text_sha FROM documents WHERE state = 'extracted' ORDER BY id"),
        ctx.store.query("SELECT * FROM interests ORDER BY id"),
        ctx.store.query("SELECT id, status FROM interviews ORDER BY id"),
        ctx.store.scalar("SELECT MAX(id) FROM actions"),
    )
    for part in parts:
        digest.update(
            json.dumps(part if not isinstance(part, list) else [tuple(r) for r in part], default=str).encode()
        )
    return digest.hexdigest()


def _rank(ctx: Context) -> Counter[str]:
    fingerprint = _rank_fingerprint(ctx)
    active = int(ctx.store.scalar("SELECT COUNT(*) FROM suggestions WHERE active = 1") or 0)
    if ctx.store.get_meta("rank_fingerprint") == fingerprint:
        return Counter({"suggestions": active, "rank_skipped": 1})
    suggestions = rank_all(ctx)
    run_id = int(ctx.store.scalar("SELECT MAX(id) FROM runs") or 0)
    with ctx.store.transaction():
        ctx.store.db.execute("UPDATE suggestions SET active = 0")
        for s in suggestions:
            ctx.store.upsert(
                "suggestions",
                {
                    "id": s.id, "contact_id": s.contact_id, "doc_id": s.doc_id, "run_id": run_id, "active": 1,
                    "rank": s.rank, "score": s.score, "parts": json.dumps(s.parts), "interest_id": s.interest_id,
                    "matched_interest": s.matched_interest, "best_passage": s.best_passage,
                    "also": json.dumps(list(s.also)),
                },
            )  # fmt: skip
        ctx.store.set_meta("rank_fingerprint", fingerprint)
    return Counter({"suggestions": len(suggestions)})


def rank_inputs(ctx: Context, corpus: vectors.Corpus, contacts: list[Contact]) -> frames.RankInputs:
    """Everything the rank stage needs besides the contacts, built once per run by either engine."""
    index = HybridIndex(
        corpus.docs["id"].tolist(),
        (corpus.docs["title"].fillna("") + "\n" + corpus.docs["text"].fillna("")).tolist(),
        corpus.passage_vectors,
        corpus.passage_doc,
        settings=retrieval_settings(ctx.config.rank),
    )
    wanted = {i.id: vectors.text_sha(i.text) for c in contacts for i in c.interests}
    cached = ctx.store.vectors(ctx.model, wanted.values())
    missing = [i for i, sha in wanted.items() if sha not in cached]
    if missing:
        raise GiftsError(f"{len(missing)} interests have no vectors yet: run `gifts embed` first")
    excluded = exclusions(ctx)
    model = _feedback_model(ctx)
    settings = ctx.config.rank
    facts: dict[str, tuple[int, str, str]] = {}
    if model is not None:
        # The re-ranker chooses from a wider pool than the top k, or it could only reorder it.
        settings = dataclasses.replace(settings, top_k=settings.top_k * ctx.config.feedback.pool)
        facts = {
            r["id"]: (int(r["words"] or 0), r["kind"] or "", r["source_id"] or "")
            for r in ctx.store.query("SELECT id, words, kind, source_id FROM documents WHERE state = 'extracted'")
        }
    return frames.RankInputs(
        contacts={c.id: c for c in contacts},
        interest_vectors={i: cached[sha] for i, sha in wanted.items()},
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


def rank_all(ctx: Context) -> list[Suggestion]:
    """Suggestions for every contact of an open interview (pure ranking over the store's data)."""
    if ctx.engine == "ray":
        from pipeline import engine_ray

        return engine_ray.rank_all(ctx)
    corpus = vectors.load_corpus(ctx.store, ctx.model)
    contacts = profile.load_contacts(ctx.store)
    if corpus.docs.empty or not contacts:
        return []
    inputs = rank_inputs(ctx, corpus, contacts)
    contact_ids = pd.DataFrame({"contact_id": [c.id for c in contacts]})
    return frames.suggestions_from_frame(frames.rank_frame(contact_ids, inputs))


def _report(ctx: Context) -> Counter[str]:
    drafts.install_templates(ctx.config.paths.templates)  # the user's editable copies, never overwritten
    ctx.report_dir = report.write_report(ctx.store, ctx.config, ctx.now, ctx.timings)
    return Counter()


STAGE_FUNCTIONS: dict[str, Callable[[Context], Counter[str]]] = {
    "fetch": _fetch,
    "parse": _parse,
    "extract": _extract,
    "profile": _profile,
    "embed": _embed,
    "rank": _rank,
    "report": _report,
}


def _check_inputs(config: Config, stages: tuple[str, ...]) -> None:
    """Validate the user's OPML and interview files before the store is touched, so a bad one
    stops the run with its one-line error and nothing written."""
    if {"fetch", "parse"} & set(stages):
        configured_sources(config)
    if "profile" in stages and config.paths.interviews.is_dir():
        from pipeline.interviews import read_interviews

        read_interviews(config.paths.interviews)


def run(
    config: Config,
    stages: Iterable[str] = STAGES,
    *,
    now: dt.datetime,
    progress: ProgressFactory = _no_progress,
    transport: httpx.BaseTransport | None = None,
    embedder_factory: Callable[[], Embedder] | None = None,
    engine: str = "local",
    address: str | None = None,
) -> RunResult:
    """Run `stages` in order under the workspace lock and record the run in the store.

    Args:
        now: the run's clock (timezone-aware); decides dates, freshness and the report folder.
        transport: an httpx transport for tests; None uses the network.
        embedder_factory: a replacement embedder for tests; None loads the verified model.
        engine: "local" (the default, never imports Ray) or "ray" (pipeline/engine_ray.py).
        address: the Ray cluster to use (else `ray.address`, else a local one for this run).
    Raises:
        LockedError: when another run holds the workspace.
    """
    stages = tuple(stages)
    _check_inputs(config, stages)
    with ExitStack() as stack:
        stack.enter_context(WorkspaceLock(config.paths.interim))
        if engine == "ray":
            from pipeline import engine_ray

            stack.enter_context(engine_ray.session(config, address))
        elif engine != "local":
            raise ConfigError(f"--engine: {engine!r} is not local or ray")
        store = stack.enter_context(Store(config.paths.store))
        ctx = Context(config, store, Archive(config.paths.raw), now, progress, transport, embedder_factory, engine)
        stack.callback(ctx.close)
        run_id = store.start_run(ctx.stamp)
        counts: Counter[str] = Counter()
        timings = ctx.timings
        status = "failed"
        try:
            for stage in stages:
                started = time.perf_counter()
                counts.update(STAGE_FUNCTIONS[stage](ctx))
                timings[stage] = time.perf_counter() - started
            # `failed` counts every item that did not make it: sources and documents alike.
            failed = (
                counts["sources_failed"]
                + counts["sources_quarantined"]
                + counts["extract_failed"]
                + counts["too_large"]
                + counts["blocked"]
            )
            counts["failed"] = failed
            status = "partial" if failed else "ok"
        finally:
            finished = (now + dt.timedelta(seconds=sum(timings.values()))).isoformat(timespec="seconds")
            store.finish_run(run_id, finished, status, dict(counts), timings)
        return RunResult(run_id, status, dict(counts), timings, ctx.report_dir)
