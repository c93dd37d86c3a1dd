"""Runs stages against a workspace: the lock, the run record, timings, and the summary.

Library entry point: `run(config, stages, now=...)`. The clock is a parameter so tests and
notebooks can replay any day; only the CLI reads the wall clock.
"""

from __future__ import annotations

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

from pipeline import checks, drafts, engines, feedback, ingest, pages, profile, report
from pipeline.archive import Archive
from pipeline.config import Config
from pipeline.context import Context, Engine, ProgressFactory, no_progress
from pipeline.db import suggestions as suggestion_rows
from pipeline.db.states import DocState, RunStatus, SourceKind, SourceState
from pipeline.embed import Embedder
from pipeline.engines import LOCAL
from pipeline.rank import Suggestion
from pipeline.sources import configured_sources
from pipeline.store import Store, WorkspaceLock

log = logging.getLogger(__name__)

STAGES = ("fetch", "parse", "extract", "profile", "embed", "rank", "report")
SUMMARY_KEYS = (
    "fetched", "not_modified", "archive_hits", "parsed", "new_documents", "extracted", "extract_failed",
    "too_large", "blocked", "embedded", "profiled", "suggestions", "failed",
)  # fmt: skip


@dataclass
class RunResult:
    run_id: int
    status: str
    counts: dict[str, int]
    timings: dict[str, float]
    report_dir: Path | None = None
    errors: list[str] = field(default_factory=list)
    # Problems that did not stop the run, one line each naming the file, line and key (pipeline.checks).
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {key: int(self.counts.get(key, 0)) for key in SUMMARY_KEYS}
        out.update({k: int(v) for k, v in self.counts.items() if k not in out})
        out["run_id"] = self.run_id
        out["status"] = self.status
        out["timings_s"] = {k: round(v, 3) for k, v in self.timings.items()}
        out["report"] = str(self.report_dir) if self.report_dir else None
        out["warnings"] = list(self.warnings)
        return out


def _fetch(ctx: Context) -> Counter[str]:
    ingest.sync_sources(ctx.store, configured_sources(ctx.config))
    total = int(ctx.store.scalar("SELECT COUNT(*) FROM sources WHERE kind = ?", (SourceKind.FEED,)) or 0)
    tick, done = ctx.progress("fetch feeds", total)
    counts = ingest.fetch_feeds(
        ctx.store, ctx.archive, ctx.fetcher(), ctx.stamp, tick, search_every_days=ctx.config.search.every_days
    )
    done()
    # Once per run (here, not in _fetch_pages, which the parse stage calls again).
    if not ctx.config.fetch.offline:
        counts["retried"] += pages.retry_transient_failures(ctx.store)
    counts.update(_fetch_pages(ctx))
    return counts


def _fetch_pages(ctx: Context) -> Counter[str]:
    if not ctx.config.fetch.fetch_articles:
        return ingest.use_feed_text(ctx.store)
    return _engine(ctx).fetch_pages(ctx)


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
    return _engine(ctx).extract(ctx)


def _profile(ctx: Context) -> Counter[str]:
    # Inferring interests needs the model, loaded only when an interview file changed.
    return profile.profile_interviews(
        ctx.store,
        ctx.config.paths.interviews,
        ctx.config.interests,
        ctx.checked_embedder,
        candidate=ctx.config.drafts.signature,
    )


def _embed(ctx: Context) -> Counter[str]:
    return _engine(ctx).embed(ctx)


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
        ctx.store.query("SELECT id, text_sha FROM documents WHERE state = ? ORDER BY id", (DocState.EXTRACTED,)),
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
    if ctx.store.get_meta(suggestion_rows.RANK_FINGERPRINT) == fingerprint:
        return Counter({"suggestions": active, "rank_skipped": 1})
    suggestions = rank_all(ctx)
    run_id = int(ctx.store.scalar("SELECT MAX(id) FROM runs") or 0)
    with ctx.store.transaction():
        suggestion_rows.deactivate_all(ctx.store)
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
        ctx.store.set_meta(suggestion_rows.RANK_FINGERPRINT, fingerprint)
    return Counter({"suggestions": len(suggestions)})


def _engine(ctx: Context) -> Engine:
    return ctx.engine or LOCAL


def rank_all(ctx: Context) -> list[Suggestion]:
    """Suggestions for every contact of an open interview (pure ranking over the store's data)."""
    return _engine(ctx).rank_all(ctx)


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
    progress: ProgressFactory = no_progress,
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
        chosen = engines.select(engine)
        stack.enter_context(chosen.session(config, address))
        store = stack.enter_context(Store(config.paths.store))
        ctx = Context(config, store, Archive(config.paths.raw), now, progress, transport, embedder_factory, chosen)
        stack.callback(ctx.close)
        run_id = store.start_run(ctx.stamp)
        # Before the stages, so tonight's report shows tonight's warnings.
        warnings = checks.collect_warnings(config, now.date())
        checks.record(store, warnings)
        for warning in warnings:
            log.info("warning: %s", warning)  # for the log file; the CLI prints them with the summary
        counts: Counter[str] = Counter()
        timings = ctx.timings
        status = RunStatus.FAILED
        try:
            for stage in stages:
                started = time.perf_counter()
                counts.update(STAGE_FUNCTIONS[stage](ctx))
                timings[stage] = time.perf_counter() - started
            # `failed` counts every item that did not make it: sources and documents alike.
            failed = (
                counts[f"sources_{SourceState.FAILED}"]
                + counts[f"sources_{SourceState.QUARANTINED}"]
                + counts[DocState.EXTRACT_FAILED]
                + counts[DocState.TOO_LARGE]
                + counts[DocState.BLOCKED]
            )
            counts["failed"] = failed
            status = RunStatus.PARTIAL if failed else RunStatus.OK
            # The opt-in morning digest: a mail problem is recorded and logged, never the run's status.
            if "report" in stages and config.notify.enabled:
                from pipeline import notify

                started = time.perf_counter()
                counts.update(notify.after_run(store, config, now))
                timings["notify"] = time.perf_counter() - started
        finally:
            finished = (now + dt.timedelta(seconds=sum(timings.values()))).isoformat(timespec="seconds")
            store.finish_run(run_id, finished, status, dict(counts), timings)
        return RunResult(run_id, status, dict(counts), timings, ctx.report_dir, warnings=warnings)
