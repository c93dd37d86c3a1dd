"""Scale-out benchmark on a deterministic synthetic corpus (issue 8).

Ranking: 200,000 documents (1-3 passages each, 384-dim vectors around a few hundred topic
centroids, texts from a synthetic topic vocabulary) and 5,000 contacts (1-3 interests each, a text
and a vector near a topic), ranked through the nightly rank path (`rank_contacts`, top 5 each):

  brute   every document scored for every interest (what the rank stage does below
          rank.ann_threshold); on a small machine timed on a deterministic sample of contacts and
          extrapolated, which the output says.
  index   the approximate path (faiss IVF + BM25 candidates) the rank stage takes above the threshold.

Each mode runs in its own process, so its peak RSS is its own. Printed: build and ranking wall
time, peak RSS, the index's recall@10 against brute force on the dense neighbours (exact top 10
documents by best-passage cosine), and how far the final top-5 lists of the two modes agree.

Embedding (`--parts embed`, benchmarks/ray_embed.py): passages of the same synthetic corpus embedded
with the nightly backend by the local engine's embed path and by the Ray engine's embed pipeline
with one and with two workers on a local cluster, in passages per second.

Run from the repository root:
  .venv/bin/python benchmarks/scale_bench.py --out /tmp/scale_bench.json
  .venv/bin/python benchmarks/scale_bench.py --docs 20000 --contacts 200 --modes brute,index --parts rank
  .venv/bin/python benchmarks/scale_bench.py --parts embed --embed-passages 3072 --ray-workers 1,2
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from pipeline.config import RankSettings  # noqa: E402 -- needs ROOT on sys.path first
from pipeline.interviews import Contact, Interest  # noqa: E402
from pipeline.rank import DOC_COLUMNS, doc_priors, rank_contacts  # noqa: E402
from pipeline.retrieval import HybridIndex  # noqa: E402
from pipeline.vectors import doc_means  # noqa: E402

DIM = 384
TOPICS = 300
SUBTOPICS = 4  # per topic: documents sit near a subtopic, interests near a topic
TOPIC_WORDS = 10
BACKGROUND_WORDS = 600
TODAY = dt.date(2026, 11, 26)
CHUNK = 20_000  # documents generated at a time, so generation's temporaries stay small
MiB = 1024 * 1024


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _unit(x: np.ndarray) -> np.ndarray:
    return np.asarray(x / np.linalg.norm(x, axis=-1, keepdims=True), dtype=np.float32)


def _noise(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
    # Gaussian noise of expected norm `scale`: added to a unit vector it leaves a cosine of
    # about 1 / sqrt(1 + scale^2) to it.
    return rng.standard_normal((n, DIM), dtype=np.float32) * np.float32(scale / np.sqrt(DIM))


def _vocabulary(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` distinct pronounceable pseudo-words (none an English stop word), so BM25 has terms to match."""
    onsets = [*"bdfgklmnprstvz", "br", "tr", "st", "pl", "kr", "sh"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ou"]
    codas = ["", "n", "r", "s", "l", "x", "nd", "rk"]
    words: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        word = "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(int(rng.integers(2, 4))))
        word += str(rng.choice(codas))
        if word not in words:
            words.add(word)
            out.append(word)
    return np.array(out)


@dataclasses.dataclass(frozen=True)
class Synthetic:
    docs: pd.DataFrame
    passage_texts: list[str]
    passage_vectors: np.ndarray
    passage_doc: np.ndarray
    doc_vectors: np.ndarray
    contacts: list[Contact]
    interest_vectors: dict[str, np.ndarray]
    excluded: dict[str, set[str]]


def synthetic(n_docs: int, n_contacts: int, seed: int) -> Synthetic:
    """The corpus and contacts for `seed`; the same arguments always give the same data."""
    rng = np.random.default_rng(seed)
    centroids = _unit(rng.standard_normal((TOPICS, DIM), dtype=np.float32))
    subtopics = _unit(np.repeat(centroids, SUBTOPICS, axis=0) + _noise(rng, TOPICS * SUBTOPICS, 0.8))
    vocab = _vocabulary(rng, TOPICS * TOPIC_WORDS + BACKGROUND_WORDS)
    topic_words = vocab[: TOPICS * TOPIC_WORDS].reshape(TOPICS, TOPIC_WORDS)
    background = vocab[TOPICS * TOPIC_WORDS :]
    # Some topics are much more written about than others.
    popularity = 1.0 / np.arange(1, TOPICS + 1) ** 0.5
    popularity /= popularity.sum()

    sub = rng.choice(TOPICS * SUBTOPICS, size=n_docs, p=np.repeat(popularity / SUBTOPICS, SUBTOPICS))
    topic = sub // SUBTOPICS
    second = rng.integers(0, TOPICS * SUBTOPICS, n_docs)
    # A third of the documents mix in a second subject.
    mix = np.where(rng.random(n_docs) < 0.35, rng.uniform(0.3, 0.8, n_docs), 0.0).astype(np.float32)
    counts = rng.integers(1, 4, n_docs)
    passage_doc = np.repeat(np.arange(n_docs), counts)
    passage_vectors = np.empty((len(passage_doc), DIM), dtype=np.float32)
    for start in range(0, n_docs, CHUNK):
        stop = min(start + CHUNK, n_docs)
        centre = _unit(subtopics[sub[start:stop]] + mix[start:stop, None] * subtopics[second[start:stop]])
        centre = _unit(centre + _noise(rng, stop - start, 0.9))
        lo, hi = np.searchsorted(passage_doc, [start, stop])
        owner = passage_doc[lo:hi] - start
        passage_vectors[lo:hi] = _unit(centre[owner] + _noise(rng, hi - lo, 0.6))

    texts, titles = [], []
    for d in range(n_docs):
        own = rng.choice(topic_words[topic[d]], 14)
        other = rng.choice(topic_words[second[d] // SUBTOPICS], 6 if mix[d] else 0)
        filler = rng.choice(background, 26)
        words = np.concatenate([own, other, filler])
        rng.shuffle(words)
        texts.append(" ".join(words))
        titles.append(" ".join(rng.choice(topic_words[topic[d]], 3)).title())
    age = rng.integers(0, 730, n_docs)
    published = [None if a % 20 == 0 else (TODAY - dt.timedelta(days=int(a))).isoformat() for a in age]
    docs = pd.DataFrame(
        {
            "id": [f"doc{d:07d}" for d in range(n_docs)],
            "title": titles,
            "url": [f"https://synthetic.example/{d}" for d in range(n_docs)],
            "source_id": [f"src{s:03d}" for s in rng.integers(0, 500, n_docs)],
            "source_title": "Synthetic",
            "published": published,
            # Reading length: log-normal around 700 words; about 4% are stubs under min_words.
            "words": np.round(rng.lognormal(6.5, 0.7, n_docs)).astype(np.int64),
            "text": texts,
        },
        columns=list(DOC_COLUMNS),
    )
    passage_texts = [f"{titles[d]}: passage {k}" for d, k in zip(passage_doc, _ordinal(counts), strict=True)]

    contacts, interest_vectors, excluded = [], {}, {}
    by_topic = pd.Series(np.arange(n_docs)).groupby(topic).apply(np.asarray).to_dict()
    for c in range(n_contacts):
        cid = f"contact{c:05d}"
        interests = []
        chosen = rng.choice(TOPICS, size=int(rng.integers(1, 4)), replace=False, p=popularity)
        for k, t in enumerate(chosen):
            iid = f"{cid}-i{k}"
            words = rng.choice(topic_words[t], int(rng.integers(2, 5)), replace=False)
            interest_vectors[iid] = _unit(centroids[t] + _noise(rng, 1, 0.8)[0])
            inferred = k == 2
            interests.append(
                Interest(
                    id=iid,
                    contact_id=cid,
                    text=" ".join(words),
                    snippet=None,
                    kind="inferred" if inferred else "said",
                    weight=0.8 if inferred else 1.0,
                )
            )
        contacts.append(Contact(cid, f"iv{c // 3}", f"Person {c}", None, None, f"Company {c // 3}", tuple(interests)))
        # History: a few documents of their first topic were already sent or skipped.
        pool = by_topic.get(int(chosen[0]), np.zeros(0, dtype=np.int64))
        taken = rng.choice(pool, size=min(len(pool), int(rng.integers(0, 6))), replace=False)
        excluded[cid] = {f"doc{int(d):07d}" for d in taken}
    return Synthetic(
        docs=docs,
        passage_texts=passage_texts,
        passage_vectors=passage_vectors,
        passage_doc=passage_doc,
        doc_vectors=doc_means(passage_vectors, passage_doc, n_docs),
        contacts=contacts,
        interest_vectors=interest_vectors,
        excluded=excluded,
    )


def _ordinal(counts: np.ndarray) -> np.ndarray:
    """0, 1, ... within each document's passages."""
    return np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _rss_mib() -> float:
    """Resident memory now (not the peak), from /proc."""
    pages = int(Path("/proc/self/statm").read_text(encoding="ascii").split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / MiB


def _exact_top10(data: Synthetic, queries: np.ndarray, block: int = 128) -> np.ndarray:
    """Brute force: the 10 documents with the best passage cosine, per query, best first."""
    starts = np.flatnonzero(np.r_[True, data.passage_doc[1:] != data.passage_doc[:-1]])
    doc_of_start = data.passage_doc[starts]
    out = []
    for lo in range(0, len(queries), block):
        sims = queries[lo : lo + block] @ data.passage_vectors.T
        best = np.full((len(sims), len(data.docs)), -np.inf, dtype=np.float32)
        best[:, doc_of_start] = np.maximum.reduceat(sims, starts, axis=1)
        top = np.argpartition(-best, 10, axis=1)[:, :10]
        order = np.argsort(-np.take_along_axis(best, top, axis=1), axis=1, kind="stable")
        out.append(np.take_along_axis(top, order, axis=1))
    return np.concatenate(out) if out else np.zeros((0, 10), dtype=np.int64)


def worker(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """One mode in this process: generate, build the index, rank; the parent reads our JSON."""
    started = time.perf_counter()
    data = synthetic(args.docs, args.contacts, args.seed)
    generate_s = time.perf_counter() - started
    rss_data = _rss_mib()
    log(f"[{mode}] generated {len(data.docs):,} documents, {len(data.passage_doc):,} passages in {generate_s:.1f} s")

    settings = RankSettings()
    retrieval = settings.retrieval
    if mode == "brute":
        retrieval = dataclasses.replace(retrieval, ann_threshold=len(data.docs))  # never approximate
    elif len(data.docs) <= retrieval.ann_threshold:
        retrieval = dataclasses.replace(retrieval, ann_threshold=0)  # a small trial run: approximate anyway
    settings = dataclasses.replace(settings, retrieval=retrieval)
    started = time.perf_counter()
    index = HybridIndex(
        data.docs["id"].tolist(),
        (data.docs["title"] + "\n" + data.docs["text"]).tolist(),
        data.passage_vectors,
        data.passage_doc,
        settings=retrieval,
    )
    priors = doc_priors(data.docs, settings, TODAY)
    build_s = time.perf_counter() - started
    rss_index = _rss_mib()
    log(f"[{mode}] index built in {build_s:.1f} s (approximate: {index.ann is not None})")

    contacts = data.contacts
    if mode == "brute" and 0 < args.brute_contacts < len(contacts):
        # Every k-th contact: a deterministic sample spread over the whole list.
        step = len(contacts) / args.brute_contacts
        contacts = [contacts[int(i * step)] for i in range(args.brute_contacts)]
    started = time.perf_counter()
    ranked = rank_contacts(
        contacts,
        data.interest_vectors,
        index,
        data.docs,
        data.passage_texts,
        data.doc_vectors,
        data.excluded,
        settings,
        TODAY,
        priors=priors,
    )
    rank_s = time.perf_counter() - started
    peak = _peak_mib()  # before the recall check below, which is not part of ranking
    interests = sum(len(c.interests) for c in contacts)
    log(f"[{mode}] ranked {len(contacts):,} contacts ({interests:,} interests) in {rank_s:.1f} s")
    result: dict[str, Any] = {
        "mode": mode,
        "docs": len(data.docs),
        "passages": len(data.passage_doc),
        "contacts_ranked": len(contacts),
        "contacts_total": len(data.contacts),
        "interests_ranked": interests,
        "generate_s": round(generate_s, 2),
        "build_s": round(build_s, 2),
        "rank_s": round(rank_s, 2),
        "rank_ms_per_contact": round(1000 * rank_s / max(1, len(contacts)), 2),
        "rss_data_mib": round(rss_data),
        "rss_data_and_index_mib": round(rss_index),
        "peak_rss_mib": round(peak),
        "suggestions": sum(len(r) for r in ranked),
        "top5": {c.id: [s.doc_id for s in r] for c, r in zip(contacts, ranked, strict=True)},
    }
    if index.ann is not None:
        result["nlist"] = index.ann.nlist
        result["nprobe"] = index.ann.nprobe
        result["candidates"] = retrieval.ann_candidates
        ids = [i.id for c in data.contacts for i in c.interests]
        if 0 < args.recall_queries < len(ids):
            ids = [ids[int(k * len(ids) / args.recall_queries)] for k in range(args.recall_queries)]
        queries = np.stack([data.interest_vectors[i] for i in ids])
        started = time.perf_counter()
        truth = _exact_top10(data, queries)
        by_nprobe = {}
        for nprobe in sorted({1, 4, 8, 16, retrieval.ann_nprobe}):
            index.ann.nprobe = nprobe
            hits = index.ann.search(queries, retrieval.ann_candidates)
            found = [len(set(t.tolist()) & set(h.docs[:10].tolist())) / 10 for t, h in zip(truth, hits, strict=True)]
            by_nprobe[nprobe] = round(float(np.mean(found)), 4)
            if nprobe == retrieval.ann_nprobe:
                result["recall_at_10"] = by_nprobe[nprobe]
                result["recall_min"] = round(float(np.min(found)), 2)
        result["recall_queries"] = len(ids)
        result["recall_at_10_by_nprobe"] = by_nprobe
        took = time.perf_counter() - started
        log(f"[{mode}] recall@10 {result['recall_at_10']} over {len(ids):,} queries ({took:.0f} s)")
    return result


def run_worker(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """The mode in a child process; returns its result with the child's own wall time and peak RSS."""
    with tempfile.NamedTemporaryFile("r", suffix=".json") as out:
        command = [
            sys.executable,
            __file__,
            "--worker",
            mode,
            "--result",
            out.name,
            "--docs",
            str(args.docs),
            "--contacts",
            str(args.contacts),
            "--seed",
            str(args.seed),
            "--brute-contacts",
            str(args.brute_contacts),
            "--recall-queries",
            str(args.recall_queries),
        ]
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's rusage alone, not every child's
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{mode} worker failed (exit {os.waitstatus_to_exitcode(status)})")
        result: dict[str, Any] = json.loads(Path(out.name).read_text(encoding="utf-8"))
    result["process_wall_s"] = round(time.perf_counter() - started, 1)
    result["process_cpu_s"] = round(usage.ru_utime + usage.ru_stime, 1)
    result["process_peak_rss_mib"] = round(usage.ru_maxrss / 1024)
    return result


def overlap(brute: dict[str, list[str]], index: dict[str, list[str]]) -> dict[str, Any]:
    """How far the index's top-5 lists agree with brute force's, over the contacts both ranked."""
    shared = [c for c in brute if c in index]
    share = [len(set(brute[c]) & set(index[c])) / len(brute[c]) if brute[c] else float(not index[c]) for c in shared]
    return {
        "contacts": len(shared),
        "top5_overlap": round(float(np.mean(share)), 4) if share else None,
        "identical_lists": round(float(np.mean([brute[c] == index[c] for c in shared])), 4) if shared else None,
    }


def table(results: dict[str, dict[str, Any]], summary: dict[str, Any]) -> str:
    rows = [("", *results)]
    for key, label in (
        ("contacts_ranked", "contacts ranked"),
        ("build_s", "index build (s)"),
        ("rank_s", "ranking, measured (s)"),
        ("rank_ms_per_contact", "ms per contact"),
        ("rank_s_all", "ranking, all contacts (s)"),
        ("peak_rss_mib", "peak RSS, start to end of ranking (MiB)"),
        ("rss_data_mib", "RSS: data alone (MiB)"),
        ("rss_data_and_index_mib", "RSS: data + index (MiB)"),
    ):
        rows.append((label, *(str(r.get(key, "")) for r in results.values())))
    width = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, width, strict=True)) for row in rows]
    lines += [f"{k}: {v}" for k, v in summary.items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--contacts", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--modes", default="brute,index", help="comma-separated: brute, index")
    parser.add_argument(
        "--brute-contacts",
        type=int,
        default=250,
        help="brute force ranks this many contacts (a deterministic sample) and extrapolates; 0: all",
    )
    parser.add_argument(
        "--recall-queries",
        type=int,
        default=2000,
        help="interests (an even sample) whose exact top 10 is computed for recall@10; 0: all",
    )
    parser.add_argument("--parts", default="rank,embed", help="comma-separated parts to run: rank, embed")
    parser.add_argument(
        "--embed-passages",
        type=int,
        default=6000,
        help="passages of the synthetic corpus embedded by each engine (the whole corpus would take hours here)",
    )
    parser.add_argument("--ray-workers", default="1,2", help="comma-separated Ray worker counts for the embed part")
    parser.add_argument("--out", type=Path, help="also write the results here as JSON")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        result = worker(args.worker, args)
        args.result.write_text(json.dumps(result), encoding="utf-8")
        return

    parts = [p for p in args.parts.split(",") if p]
    unknown = set(parts) - {"rank", "embed"}
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)} (this script has: rank, embed)")
    modes = [m for m in args.modes.split(",") if m]
    if set(modes) - {"brute", "index"}:
        parser.error("--modes takes brute, index")
    results: dict[str, dict[str, Any]] = {}
    for mode in modes if "rank" in parts else []:
        result = run_worker(mode, args)
        ranked, total = result["contacts_ranked"], result["contacts_total"]
        result["extrapolated"] = ranked < total
        result["rank_s_all"] = round(result["rank_s"] * total / max(1, ranked), 1)
        if result["extrapolated"]:
            result["note"] = f"ranking time for all {total:,} contacts extrapolated from {ranked:,} contacts"
        results[mode] = result
        print(json.dumps({k: v for k, v in result.items() if k != "top5"}), flush=True)

    summary: dict[str, Any] = {}
    if "index" in results:
        summary["recall_at_10"] = results["index"].get("recall_at_10")
        summary["recall_queries"] = results["index"].get("recall_queries")
    if "brute" in results and "index" in results:
        summary.update(overlap(results["brute"]["top5"], results["index"]["top5"]))
        summary["speedup_ranking"] = round(
            results["brute"]["rank_s_all"] / max(1e-9, results["index"]["rank_s_all"]), 1
        )
        if results["brute"]["extrapolated"]:
            summary["brute_note"] = results["brute"]["note"]
    if results:
        print(json.dumps({"summary": summary}), flush=True)
        print(table(results, summary))
    embedding: list[dict[str, Any]] = []
    if "embed" in parts:
        from ray_embed import embed_throughput  # benchmarks/ray_embed.py, beside this script

        # Passages of the nightly length (about 180 words: five synthetic documents' texts each, from
        # the first documents of the same seed's corpus); invented words cost more tokens than
        # English, so each fills the model's 256-token window, as a real passage nearly does.
        docs = synthetic(args.embed_passages * 5, 1, args.seed).docs["text"].tolist()
        texts = [" ".join(docs[i : i + 5]) for i in range(0, 5 * args.embed_passages, 5)]
        embedding = embed_throughput(texts, [int(w) for w in args.ray_workers.split(",") if w])
        for row in embedding:
            print(json.dumps({"embed": row}), flush=True)
    if args.out:
        args.out.write_text(
            json.dumps({"results": results, "summary": summary, "embedding": embedding}, indent=2), encoding="utf-8"
        )


if __name__ == "__main__":
    main()
