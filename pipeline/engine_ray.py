"""The Ray engine: the heavy stages (fetch, extract, embed, rank) as Ray Data pipelines.

Every pipeline maps a stage's batch function (`extract.extracted_frame`, `vectors.passage_frame`,
`vectors.embed_frame`, `rank_frames.rank_frame`, `pages.fetch_page_frame`), the very functions the
local engine calls, over pandas batches. Stages hand documents, passages and vectors to each other
as Parquet datasets under `ray.dataset` (a local folder or an object-store URI); the SQLite store
keeps what a run decides (sources, document states, interviews, history, suggestions, runs), so
`gifts status`, `mark` and the report work as with the local engine. Feeds are still polled and
parsed on the driver: their per-feed state (validators, backoff) lives in the store, and one
machine polls tens of thousands of feeds a night.

Imported only by `gifts run --engine ray`: the local engine never imports Ray.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline import dedupe, notes_context, pages, profile, rank_frames, vectors
from pipeline.archive import Archive
from pipeline.config import Config, EmbedSettings, FetchSettings
from pipeline.context import Context, rank_inputs
from pipeline.db import documents
from pipeline.db.states import DocState
from pipeline.errors import ConfigError, GiftsError
from pipeline.extract import Extracted, extracted_frame, sniff_kind
from pipeline.fetch import Fetcher
from pipeline.offline import OFFLINE_ENV, keep_offline
from pipeline.rank import DOC_COLUMNS, Suggestion
from pipeline.workers import ExtractPool, Task

log = logging.getLogger(__name__)

DOCUMENTS, PASSAGES, VECTORS = "documents", "passages", "vectors"


def _ray() -> Any:
    keep_offline()  # before `import ray`: no usage statistics from the cluster it starts
    try:
        import ray
        import ray.data
    except ImportError:
        raise ConfigError('the Ray engine needs Ray: pip install "research-gifts[ray]"') from None
    _quiet_ray_loggers()
    return ray


def _quiet_ray_loggers() -> None:
    """Hand Ray's Python loggers to ours: the run's log file gets them, the terminal only with -vv.

    Ray gives its loggers their own stderr handlers at import; without them the records reach the
    root logger, where the CLI's terminal filter keeps third-party lines off the terminal.
    """
    for name in ("ray", "ray.data", "ray.train", "ray.tune", "ray.serve"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True


@contextmanager
def session(config: Config, address: str | None) -> Iterator[Any]:
    """Connect to the cluster at `address` (or `ray.address`), else start a local one for this run."""
    ray = _ray()
    address = address or config.ray.address or None
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.WARNING,
            "configure_logging": False,  # our handlers decide what reaches the terminal
            # Workers on a remote cluster do not inherit this process's environment: hand them the
            # offline switches too (a local cluster's workers inherit them anyway).
            "runtime_env": {"env_vars": dict(OFFLINE_ENV)},
        }
        if address is None and not os.environ.get("RAY_ADDRESS") and config.ray.num_cpus:
            kwargs["num_cpus"] = config.ray.num_cpus
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"ray: cannot connect to {address or 'a local cluster'}: {exc}") from None
        started = True
    _quiet_ray_loggers()  # ray.init may have added its handlers back
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    # Ray Data logs every pipeline's plan and progress at INFO; our own logs say what each stage did.
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def dataset_root(config: Config) -> str:
    """Where the Parquet datasets live: `ray.dataset`, else the workspace's processed folder."""
    return config.ray.dataset or str(config.paths.processed / "dataset")


def _join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


def _frame_dataset(frame: pd.DataFrame, rows: int) -> Any:
    """A Ray dataset of `frame` in blocks of `rows` (split here: Ray 2.60's from_pandas cannot with pandas 3)."""
    ray = _ray()
    blocks = [frame.iloc[i : i + rows].reset_index(drop=True) for i in range(0, len(frame), max(1, rows))]
    return ray.data.from_pandas(blocks or [frame])


def _pool(config: Config) -> dict[str, Any]:
    """Actor-pool arguments: `ray.workers` actors; each asks for less than a core so a read task
    or the driver's work never waits behind a fully booked pool (which deadlocks a small cluster)."""
    ray = _ray()
    # No actor restarts: a failed batch fails its stage with one line (and a restart with constructor
    # arguments in the object store is what makes Ray's core worker print an error on every run).
    return {
        "compute": ray.data.ActorPoolStrategy(size=config.ray.workers),
        "num_cpus": 0.5,
        "max_restarts": 0,
    }


def read_parquet(path: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Every Parquet part under `path` (a folder or URI) as one frame; empty when there is none."""
    import pyarrow.dataset as pads
    import pyarrow.fs as pafs

    filesystem, where = pafs.FileSystem.from_uri(path) if "://" in path else (pafs.LocalFileSystem(), path)
    info = filesystem.get_file_info(where)
    if info.type == pafs.FileType.NotFound:
        return pd.DataFrame(columns=columns or [])
    table = pads.dataset(where, filesystem=filesystem, format="parquet").to_table(columns=columns)
    # Nullable integer columns (a SimHash is a full 64-bit value) stay exact ints, not floats.
    return table.to_pandas(integer_object_nulls=True)


def _write(ds: Any, path: str) -> None:
    _execute(lambda: ds.write_parquet(path), path)


def _collect(ds: Any, what: str) -> pd.DataFrame:
    return pd.DataFrame(_execute(ds.to_pandas, what))


def _execute(action: Any, what: str) -> Any:
    """Run a pipeline; a failure inside Ray becomes one line naming what was being computed."""
    ray = _ray()
    try:
        return action()
    except ray.exceptions.RayError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GiftsError(f"ray engine: {what}: {first}") from exc


# -- fetch -----------------------------------------------------------------------------------


class FetchPages:
    """One fetcher (its connection pool, politeness and robots cache) per worker."""

    def __init__(self, settings: FetchSettings, raw: str, now: str) -> None:
        self.archive = Archive(Path(raw))
        self.fetcher = None if settings.offline else Fetcher(settings)
        self.now = now
        self.workers = settings.page_workers
        # Each actor keeps its own budgets (actors share no state): a cluster of n actors may spend
        # up to n times a source's budget, in parallel, within the same wall time.
        self.budget = pages.PageBudget(run_s=settings.run_budget_s, source_s=settings.source_budget_s)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        return pages.fetch_page_frame(
            batch, self.archive, self.fetcher, self.now, workers=self.workers, budget=self.budget
        )


def fetch_pages(ctx: Context) -> Counter[str]:
    pending = pages.pending_pages(ctx.store)
    if pending.empty:
        return Counter()
    config = ctx.config
    ds = _frame_dataset(pending, config.ray.batch_size).map_batches(
        FetchPages,
        fn_constructor_args=(config.fetch, str(config.paths.raw), ctx.stamp),
        batch_format="pandas",
        batch_size=None,
        **_pool(config),
    )
    counts = pages.save_page_results(ctx.store, _collect(ds, "fetching pages"))
    ctx.archive = Archive(config.paths.raw)  # workers appended to the URL index
    return counts


# -- extract ---------------------------------------------------------------------------------


def extract_bodies(batch: pd.DataFrame, raw: str, timeout_s: float | None = None) -> pd.DataFrame:
    """(id, raw_sha, kind, title, url) -> extract.EXTRACTED rows, reading each body from the archive.

    Extraction runs in the local engine's own worker pool, inside this Ray task, so a page that
    hangs the extractor or eats memory is cut off at the same limits as on one machine
    (`timeout_s`: None keeps the pool's default).
    """
    archive = Archive(Path(raw))
    tasks, results = [], {}
    kinds = dict(zip(batch["id"], batch["kind"], strict=True))
    for doc_id, sha in zip(batch["id"], batch["raw_sha"], strict=True):
        if not archive.has(sha):
            # A body gone from the archive (a shared folder a node cannot see, say) fails that document alone.
            results[doc_id] = Extracted("extract_failed", reason=f"raw body missing from the archive: {sha}")
            continue
        path = archive.path_of(sha)
        with path.open("rb") as handle:
            kinds[doc_id] = sniff_kind(handle.read(4096), "", kinds[doc_id] or "text")
        tasks.append(Task(doc_id, path, kinds[doc_id]))
    if tasks:
        with ExtractPool(timeout_s=timeout_s) as pool:
            results.update((outcome.key, outcome.result) for outcome in pool.run(tasks))
    return extracted_frame(batch.assign(kind=batch["id"].map(kinds)), results)


def extract(ctx: Context) -> Counter[str]:
    rows = ctx.store.query(
        "SELECT id, raw_sha, kind, title, url FROM documents WHERE state = ? AND raw_sha IS NOT NULL",
        (DocState.PENDING,),
    )
    if not rows:
        return Counter()
    todo = pd.DataFrame([dict(r) for r in rows], columns=["id", "raw_sha", "kind", "title", "url"])
    run_id = ctx.store.current_run()
    part = _join(dataset_root(ctx.config), DOCUMENTS, f"run-{run_id:06d}-{uuid.uuid4().hex[:8]}")
    ds = _frame_dataset(todo, ctx.config.ray.batch_size).map_batches(
        extract_bodies, fn_kwargs={"raw": str(ctx.config.paths.raw)}, batch_format="pandas", batch_size=None
    )
    _write(ds.map_batches(lambda b: b.assign(run_id=run_id), batch_format="pandas"), part)
    done = read_parquet(part, ["id", "state", "reason", "title", "text_sha", "words", "kind", "simhash"])
    counts: Counter[str] = Counter()
    with ctx.store.transaction():
        for r in done.itertuples(index=False):
            # The text itself stays in the Parquet dataset; the store keeps what decides and explains.
            # A text a local run stored earlier is cleared, or a later local run would pair it with
            # the new text's hash (and never extract the document again).
            documents.mark_extracted(
                ctx.store,
                r.id,
                {
                    "state": r.state,
                    "reason": rank_frames.text_or_none(r.reason),
                    "text": None,
                    "text_sha": rank_frames.text_or_none(r.text_sha),
                    "words": int(r.words),
                    "kind": r.kind,
                    "title": rank_frames.text_or_none(r.title),
                },
                ctx.stamp,
            )
            counts[r.state] += 1
    fingerprints = {r.id: int(r.simhash) for r in done.itertuples(index=False) if not pd.isna(r.simhash)}
    collapsed = dedupe.collapse(ctx.store, fingerprints=fingerprints)
    if collapsed["duplicate"]:
        counts["extracted"] -= min(collapsed["duplicate"], counts["extracted"])
        counts["duplicate"] += collapsed["duplicate"]
    return +counts


# -- embed -----------------------------------------------------------------------------------


def latest_documents(ctx: Context, ids: set[str]) -> pd.DataFrame:
    """The newest extraction of each of `ids` (id, title, text, text_sha): from the documents
    dataset, else from the store (documents a local-engine run extracted before this one)."""
    docs = read_parquet(_join(dataset_root(ctx.config), DOCUMENTS), ["id", "title", "text", "text_sha", "run_id"])
    docs = docs[docs["id"].isin(ids)].sort_values(["id", "run_id"], kind="stable")
    docs = docs.drop_duplicates("id", keep="last").drop(columns=["run_id"])
    earlier = pd.DataFrame(
        [
            dict(r)
            for r in ctx.store.query(
                "SELECT id, title, text, text_sha FROM documents WHERE state = ? AND text IS NOT NULL",
                (DocState.EXTRACTED,),
            )
            if r["id"] in ids
        ],
        columns=["id", "title", "text", "text_sha"],
    )
    earlier = earlier[~earlier["id"].isin(set(docs["id"]))]
    both = pd.concat([docs, earlier], ignore_index=True) if len(earlier) else docs
    return both.sort_values("id", kind="stable").reset_index(drop=True)


def current_passages(config: Config, docs: pd.DataFrame) -> pd.DataFrame:
    """Passages cut from each document's current text (older cuts of changed texts are ignored)."""
    parts = read_parquet(_join(dataset_root(config), PASSAGES), list(vectors.PASSAGES))
    current = dict(zip(docs["id"], docs["text_sha"], strict=True))
    keep = parts["doc_id"].map(current) == parts["text_sha"]
    return parts[keep].drop_duplicates(["doc_id", "idx"]).reset_index(drop=True)


def _vectors_path(config: Config, model: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_.@+" else "_" for c in model)
    return _join(dataset_root(config), VECTORS, safe)


class Embed:
    """The embedding model, loaded once per worker (on its GPU when Ray gave it one)."""

    def __init__(self, settings: EmbedSettings, models: str, model: str) -> None:
        from pipeline.embed import load_embedder

        ray = _ray()
        device = "cuda" if ray.get_gpu_ids() else "cpu"
        self.embedder = load_embedder(
            settings.model, Path(models), settings.model_path, settings.batch_size, backend=settings.backend,
            device=device,
        )  # fmt: skip
        if self.embedder.name != model:
            raise GiftsError(f"worker embedder {self.embedder.name} does not match the driver's {model}")

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        return vectors.embed_frame(batch, self.embedder)


def embed_resources(config: Config) -> dict[str, Any]:
    """The embed pool's arguments: one GPU per worker when the cluster has GPUs and the backend can use one.

    Each CPU worker lets OpenVINO use every core of its node: measured on 2 cores with 2 workers,
    one thread each gave 32 passages/s, all threads each 51 (the runtime schedules its own streams).
    """
    pool = _pool(config)
    if config.embed.backend == "torch" and _ray().cluster_resources().get("GPU", 0) > 0:
        pool["num_gpus"] = 1
    return pool


def embed_passages(config: Config, texts: pd.DataFrame, model: str, path: str | None) -> pd.DataFrame | None:
    """Embed (sha, text) rows on the worker pool; writes the vectors under `path` or returns them."""
    # Length-sorted batches pad to similar lengths, as the local engine's embed stage does.
    texts = texts.assign(n=texts["text"].str.len()).sort_values("n", kind="stable").drop(columns=["n"])
    ds = _frame_dataset(texts.reset_index(drop=True), vectors.BATCH).map_batches(
        Embed,
        fn_constructor_args=(config.embed, str(config.paths.models), model),
        batch_format="pandas",
        batch_size=None,
        **embed_resources(config),
    )
    if path is None:
        return _collect(ds, "embedding")
    _write(ds, path)
    return None


def embed(ctx: Context) -> Counter[str]:
    config = ctx.config
    ids = {r["id"] for r in ctx.store.query("SELECT id FROM documents WHERE state = ?", (DocState.EXTRACTED,))}
    docs = latest_documents(ctx, ids)
    run_id = ctx.store.current_run()
    tag = f"run-{run_id:06d}-{uuid.uuid4().hex[:8]}"
    have = current_passages(config, docs)
    to_cut = docs[~docs["id"].isin(set(have["doc_id"]))]
    if not to_cut.empty:
        ds = _frame_dataset(to_cut, config.ray.batch_size).map_batches(
            vectors.passage_frame, fn_args=(config.embed,), batch_format="pandas", batch_size=None
        )
        _write(ds, _join(dataset_root(config), PASSAGES, tag))
        have = current_passages(config, docs)
    known = set(read_parquet(_vectors_path(config, ctx.model), ["sha"])["sha"])
    todo = have[~have["sha"].isin(known)].drop_duplicates("sha")[["sha", "text"]]
    if not todo.empty:
        embed_passages(config, todo, ctx.model, _join(_vectors_path(config, ctx.model), tag))
    # Interests (and the notes about each person) are few and also needed by the driver's profile
    # stage: cached in the store.
    missing = vectors.missing_texts(ctx.store, ctx.model, notes_context.query_texts(ctx.store))
    if missing:
        vectors.embed_texts(ctx.store, ctx.checked_embedder(), missing)
    return Counter({"passaged": len(to_cut), "embedded": len(todo) + len(missing)})


# -- rank ------------------------------------------------------------------------------------


def load_corpus(ctx: Context) -> vectors.Corpus:
    """The rank stage's corpus from the Parquet datasets (texts, passages, vectors) and the store
    (which documents are extracted and not duplicates, and their metadata)."""
    config = ctx.config
    meta = pd.DataFrame(
        [
            dict(r)
            for r in ctx.store.query(
                "SELECT d.id, d.url, d.source_id, COALESCE(s.title, s.location) AS source_title, d.published,"
                " d.words, d.kind FROM documents d JOIN sources s ON s.id = d.source_id WHERE d.state = ?",
                (DocState.EXTRACTED,),
            )
        ],
        columns=["id", "url", "source_id", "source_title", "published", "words", "kind"],
    )
    texts = latest_documents(ctx, set(meta["id"]))
    docs = texts.merge(meta, on="id", how="inner")[list(DOC_COLUMNS)]
    parts = current_passages(config, texts)
    found = read_parquet(_vectors_path(config, ctx.model), ["sha", "vector"])
    wanted = set(parts["sha"])
    table = {
        sha: np.asarray(vec, dtype=np.float32)
        for sha, vec in zip(found["sha"], found["vector"], strict=True)
        if sha in wanted
    }
    return vectors.corpus_frame(docs, parts, table)


class Rank:
    """A rank worker: the run's shared inputs (index, corpus, vectors) come once from the object store."""

    def __init__(self, inputs: rank_frames.RankInputs) -> None:
        self.inputs = inputs

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        return rank_frames.rank_frame(batch, self.inputs)


def rank_all(ctx: Context) -> list[Suggestion]:
    corpus = load_corpus(ctx)
    contacts = profile.load_contacts(ctx.store)
    if corpus.docs.empty or not contacts:
        return []
    inputs = rank_inputs(ctx, corpus, contacts)
    ids = pd.DataFrame({"contact_id": [c.id for c in contacts]})
    # Contacts in blocks small enough that every rank worker gets some.
    rows = max(1, min(ctx.config.ray.batch_size, -(-len(ids) // max(1, ctx.config.ray.workers))))
    ds = _frame_dataset(ids, rows).map_batches(
        Rank, fn_constructor_args=(inputs,), batch_format="pandas", batch_size=None, **_pool(ctx.config)
    )
    out = _collect(ds, "ranking")
    order = {c.id: n for n, c in enumerate(contacts)}  # the local engine's order: contact, then rank
    out = out.assign(_c=out["contact_id"].map(order)).sort_values(["_c", "rank"], kind="stable")
    return rank_frames.suggestions_from_frame(out.drop(columns=["_c"]))


class RayEngine:
    """The heavy stages as Ray Data pipelines over the same batch functions as the local engine."""

    name = "ray"

    def session(self, config: Config, address: str | None) -> AbstractContextManager[object]:
        return session(config, address)

    def fetch_pages(self, ctx: Context) -> Counter[str]:
        return fetch_pages(ctx)

    def extract(self, ctx: Context) -> Counter[str]:
        return extract(ctx)

    def embed(self, ctx: Context) -> Counter[str]:
        return embed(ctx)

    def rank_all(self, ctx: Context) -> list[Suggestion]:
        return rank_all(ctx)
