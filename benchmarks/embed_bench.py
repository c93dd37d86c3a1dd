"""Embedding speed and memory: the default torch path against a fast backend, on the same texts.

Parts (all by default; pick with --parts):
  encode   docs/s of both backends, interleaved chunk by chunk in one process so that a busy
           machine slows both alike; wall and CPU-time ratios per round; cosine to the torch
           vectors; cold start (load + first vector) and peak RSS of each backend in its own process.
  job      the whole nightly job from a raw archive of 1,000 new documents (synthetic, built
           deterministically from BEIR SciFact abstracts) to a finished report, once per backend,
           each in a fresh workspace: wall time and peak RSS of `gifts run`.
  memory   peak RSS of embed + rank + report on a 20,000-document corpus: the 1,000-document job's
           store copied 20 times with random unit passage vectors inserted (so only the interests
           are embedded for real), then `gifts run`.
  cli      cold start of `gifts --help` and `gifts status`, and whether they import torch or OpenVINO.

Run from the repository root:
  .venv/bin/python benchmarks/embed_bench.py --json > /tmp/embed_bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from pipeline import vectors  # noqa: E402 -- needs ROOT on sys.path first
from pipeline.archive import Archive, ArchiveEntry  # noqa: E402 -- needs ROOT on sys.path first
from pipeline.passages import passages  # noqa: E402

PY = sys.executable
GIFTS = str(Path(PY).parent / "gifts")
MODEL = "all-MiniLM-L6-v2"
SCIFACT = ROOT.parent / "shared" / "eval" / "scifact"
FEED_ENTRIES = 50  # the default fetch.max_entries_per_feed


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def scifact_docs(folder: Path, min_words: int = 160) -> list[tuple[str, str]]:
    """(title, abstract) pairs long enough to pass the ranking's stub filter, in corpus order."""
    docs = []
    with (folder / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if len(str(row.get("text", "")).split()) >= min_words:
                docs.append((str(row.get("title") or ""), str(row["text"])))
    return docs


def bench_texts(folder: Path, n: int) -> list[str]:
    """Passages cut exactly as the embed stage cuts them (about 180 words each)."""
    texts: list[str] = []
    for title, text in scifact_docs(folder):
        texts.extend(p for p in passages(title, text, 180, 40, 24) if len(p.split()) >= 150)
        if len(texts) >= n:
            break
    return texts[:n]


def run_child(args: list[str], cwd: Path) -> tuple[float, int, str]:
    """Run a command; returns (wall seconds, its peak RSS in bytes, stdout), the RSS from wait4."""
    started = time.perf_counter()
    # stderr goes to a file, not a pipe: reading two pipes in turn could deadlock on a full one.
    with tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errors, text=True, cwd=cwd)
        # communicate() would reap the child itself; read stdout by hand so wait4 gets its rusage.
        out = proc.stdout.read() if proc.stdout else ""
        _, status, usage = os.wait4(proc.pid, 0)
        errors.seek(0)
        err = errors.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(args)} exited {proc.returncode}:\n{err[-3000:]}")
    return wall, usage.ru_maxrss * 1024, out


CHILD_ENCODE = textwrap.dedent(
    """
    import json, resource, sys, time
    started = time.perf_counter()
    from pipeline.embed import PROJECT_MODELS, load_embedder
    embedder = load_embedder("all-MiniLM-L6-v2", PROJECT_MODELS, backend=sys.argv[1])
    embedder.encode(["cold start"])
    cold = time.perf_counter() - started
    texts = json.load(open(sys.argv[2]))
    started = time.perf_counter()
    embedder.encode(texts)
    alone = time.perf_counter() - started
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent across exec.
    status = open("/proc/self/status").read().split("VmHWM:")[1]
    peak = int(status.split()[0]) * 1024
    print(json.dumps({"cold_start_s": cold, "alone_docs_per_s": len(texts) / alone, "peak_rss_bytes": peak}))
    """
)


def part_encode(backends: list[str], n: int, rounds: int, chunk: int) -> dict[str, Any]:
    from pipeline.embed import PROJECT_MODELS, load_embedder

    texts = bench_texts(SCIFACT, n)
    words = statistics.mean(len(t.split()) for t in texts)
    log(f"encode: {len(texts)} passages of {words:.0f} words on average, {rounds} rounds, chunks of {chunk}")
    # Each backend alone in a fresh process first (cold start, peak memory), while this process
    # is still small: a child's ru_maxrss starts from its parent's size.
    alone: dict[str, dict[str, float]] = {}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(texts, handle)
    try:
        for backend in backends:
            _, _, out = run_child([PY, "-c", CHILD_ENCODE, backend, handle.name], cwd=ROOT)
            alone[backend] = json.loads(out.strip().splitlines()[-1])
            log(f"  {backend} alone: cold start {alone[backend]['cold_start_s']:.2f} s")
    finally:
        Path(handle.name).unlink()
    embedders = {b: load_embedder(MODEL, PROJECT_MODELS, backend=b) for b in backends}
    for embedder in embedders.values():
        embedder.encode(texts[:8])  # warm-up: first-call allocations and kernel selection
    per_round: list[dict[str, dict[str, float]]] = []
    vectors: dict[str, list[np.ndarray]] = {b: [] for b in backends}
    for number in range(rounds):
        spent = {b: {"wall": 0.0, "cpu": 0.0} for b in backends}
        for i, start in enumerate(range(0, len(texts), chunk)):
            # Alternate who goes first so a burst of load elsewhere does not always hit the same one.
            order = backends if (i + number) % 2 == 0 else backends[::-1]
            for backend in order:
                wall, cpu = time.perf_counter(), time.process_time()
                out = embedders[backend].encode(texts[start : start + chunk])
                spent[backend]["wall"] += time.perf_counter() - wall
                spent[backend]["cpu"] += time.process_time() - cpu
                if number == 0:
                    vectors[backend].append(out)
        per_round.append(spent)
        line = "  ".join(f"{b} {len(texts) / spent[b]['wall']:.1f}/s" for b in backends)
        log(f"  round {number + 1}: {line}")
    base = backends[0]
    reference = np.concatenate(vectors[base])
    result: dict[str, Any] = {
        "texts": len(texts),
        "mean_words": round(words, 1),
        "rounds": rounds,
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "backends": {},
    }
    for backend in backends:
        wall = sum(r[backend]["wall"] for r in per_round)
        cpu = sum(r[backend]["cpu"] for r in per_round)
        mine = np.concatenate(vectors[backend])
        cosines = (mine * reference).sum(axis=1)
        child = alone[backend]
        result["backends"][backend] = {
            "docs_per_s": round(len(texts) * rounds / wall, 2),
            "docs_per_cpu_s": round(len(texts) * rounds / cpu, 2),
            "ratio_per_round": [round(r[base]["wall"] / r[backend]["wall"], 2) for r in per_round],
            "ratio": round(sum(r[base]["wall"] for r in per_round) / wall, 2),
            "cpu_ratio": round(sum(r[base]["cpu"] for r in per_round) / cpu, 2),
            "cosine_to_torch_min": round(float(cosines.min()), 5),
            "cosine_to_torch_mean": round(float(cosines.mean()), 5),
            "cold_start_s": round(child["cold_start_s"], 2),
            "alone_docs_per_s": round(child["alone_docs_per_s"], 2),
            "peak_rss_mib": round(child["peak_rss_bytes"] / 2**20, 1),
        }
    return result


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><header><nav><a href="/">Bench Journal {feed}</a></nav></header>
<main><article><h1>{title}</h1><p class="byline">By Bench Author {n}, {date}</p>
{paragraphs}
</article></main><footer><p>Bench Journal, a synthetic site for benchmarks.</p></footer></body></html>
"""


def esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def build_job_workspace(folder: Path, docs: int, backend: str) -> Path:
    """A workspace whose raw archive holds `docs` new pages in RSS feeds of 50 entries each."""
    folder.mkdir(parents=True)
    shutil.copytree(ROOT / "data" / "sample" / "interviews", folder / "interviews")
    archive = Archive(folder / "data" / "raw")
    corpus = scifact_docs(SCIFACT)[:docs]
    newest = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    feeds = []
    for f in range(0, len(corpus), FEED_ENTRIES):
        feed_url = f"https://bench-{f // FEED_ENTRIES:02d}.example/feed.xml"
        items = []
        for n in range(f, min(f + FEED_ENTRIES, len(corpus))):
            title, text = corpus[n]
            url = f"https://bench-{f // FEED_ENTRIES:02d}.example/articles/{n:05d}"
            published = format_datetime(newest - timedelta(hours=n))
            sentences = text.split(". ")
            third = max(1, len(sentences) // 3)
            paragraphs = "\n".join(
                f"<p>{esc('. '.join(sentences[i : i + third]))}</p>" for i in range(0, len(sentences), third)
            )
            body = PAGE.format(title=esc(title), feed=f // FEED_ENTRIES, n=n, date=published, paragraphs=paragraphs)
            store(archive, url, body.encode("utf-8"), "text/html; charset=utf-8")
            items.append(
                f"<item><title>{esc(title)}</title><link>{url}</link><guid>{url}</guid>"
                f"<pubDate>{published}</pubDate><description>{esc(text[:200])}</description></item>"
            )
        rss = (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Bench Journal {f // FEED_ENTRIES}</title><link>https://bench.example/</link>"
            f"<description>synthetic</description>{''.join(items)}</channel></rss>"
        )
        store(archive, feed_url, rss.encode("utf-8"), "application/rss+xml")
        feeds.append(feed_url)
    config = folder / "gifts.toml"
    config.write_text(
        f'[workspace]\nname = "bench"\n[sources]\nfeeds = {json.dumps(feeds)}\n'
        f'[fetch]\noffline = true\n[embed]\nbackend = "{backend}"\n',
        encoding="utf-8",
    )
    return config


def store(archive: Archive, url: str, body: bytes, content_type: str) -> None:
    sha = archive.put(body)
    stamp = "Tue, 24 Nov 2026 06:00:00 GMT"
    archive.record(ArchiveEntry(url, sha, content_type, "2026-11-24T06:00:00Z", f'"{sha[:16]}"', stamp, None))


def gifts_run(config: Path) -> dict[str, Any]:
    wall, peak, out = run_child([GIFTS, "--config", str(config), "run", "--json"], cwd=config.parent)
    summary = json.loads(out[out.index("{") :])
    return {"wall_s": round(wall, 1), "peak_rss_mib": round(peak / 2**20, 1), "summary": summary}


def part_job(backends: list[str], docs: int, workdir: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"documents": docs, "backends": {}}
    for backend in backends:
        config = build_job_workspace(workdir / f"job-{backend}", docs, backend)
        log(f"job: {backend}: gifts run over a raw archive of {docs} new documents")
        result["backends"][backend] = gifts_run(config)
        log(f"  {result['backends'][backend]['wall_s']} s, peak {result['backends'][backend]['peak_rss_mib']} MiB")
    base = backends[0]
    for backend in backends[1:]:
        result["backends"][backend]["ratio"] = round(
            result["backends"][base]["wall_s"] / result["backends"][backend]["wall_s"], 2
        )
    return result


def grow_store(db: Path, model: str, copies: int, seed: int = 0) -> tuple[int, int]:
    """Copy every extracted document and its passages `copies - 1` times with random unit vectors."""
    rng = np.random.default_rng(seed)
    con = sqlite3.connect(db)
    doc_cols = [r[1] for r in con.execute("PRAGMA table_info(documents)")]
    pas_cols = [r[1] for r in con.execute("PRAGMA table_info(passages)")]
    docs = con.execute("SELECT * FROM documents WHERE state = 'extracted'").fetchall()
    rows = con.execute(
        "SELECT p.* FROM passages p JOIN documents d ON d.id = p.doc_id WHERE d.state = 'extracted'"
    ).fetchall()
    id_at, url_at, guid_at = doc_cols.index("id"), doc_cols.index("url"), doc_cols.index("guid")
    pdoc_at, psha_at = pas_cols.index("doc_id"), pas_cols.index("sha")
    for k in range(1, copies):
        new_docs = []
        for d in docs:
            d = list(d)
            d[id_at] = f"{d[id_at]}-{k}"
            d[url_at] = f"{d[url_at]}?copy={k}" if d[url_at] else None
            d[guid_at] = f"{d[guid_at]}-{k}" if d[guid_at] else None
            new_docs.append(d)
        con.executemany(f"INSERT INTO documents VALUES ({','.join('?' * len(doc_cols))})", new_docs)
        new_passages, new_vectors = [], []
        vecs = rng.standard_normal((len(rows), 384)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        for p, v in zip(rows, vecs, strict=True):
            p = list(p)
            p[pdoc_at] = f"{p[pdoc_at]}-{k}"
            p[psha_at] = f"{p[psha_at][:56]}{k:08d}"
            new_passages.append(p)
            new_vectors.append((model, p[psha_at], 384, v.tobytes()))
        con.executemany(f"INSERT INTO passages VALUES ({','.join('?' * len(pas_cols))})", new_passages)
        con.executemany("INSERT INTO vectors (model, sha, dim, vec) VALUES (?, ?, ?, ?)", new_vectors)
        con.commit()
    total_docs = con.execute("SELECT COUNT(*) FROM documents WHERE state = 'extracted'").fetchone()[0]
    total_passages = con.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
    # The interests must be embedded again by the run: drop their vectors (and the suggestions).
    con.execute("DELETE FROM vectors WHERE sha NOT IN (SELECT sha FROM passages)")
    con.commit()
    con.close()
    return total_docs, total_passages


def part_memory(backend: str, docs: int, target: int, workdir: Path) -> dict[str, Any]:
    from pipeline.embed import PROJECT_MODELS, model_key

    folder = workdir / f"memory-{backend}"
    db = folder / "data" / "interim" / "gifts.sqlite"
    if (workdir / f"job-{backend}" / "data" / "interim" / "gifts.sqlite").is_file():
        shutil.copytree(workdir / f"job-{backend}", folder, symlinks=True)  # the job part's finished workspace
        config = folder / "gifts.toml"
    else:
        config = build_job_workspace(folder, docs, backend)
        log(f"memory: building a {docs}-document store with {backend}")
        gifts_run(config)
    with sqlite3.connect(db) as con:
        extracted = con.execute("SELECT COUNT(*) FROM documents WHERE state = 'extracted'").fetchone()[0]
    copies = max(1, -(-target // max(1, int(extracted))))
    total_docs, total_passages = grow_store(db, model_key(MODEL, PROJECT_MODELS, backend), copies)
    log(f"  {total_docs} documents, {total_passages} passages; gifts run (embeds the interests, ranks, reports)")
    second = gifts_run(config)
    return {
        "backend": backend,
        "documents": total_docs,
        "passages": total_passages,
        "vectors": f"real for the first {extracted} documents, random unit vectors for the copies",
        "wall_s": second["wall_s"],
        "peak_rss_mib": second["peak_rss_mib"],
        "suggestions": second["summary"].get("suggestions"),
    }


def part_cli(repeat: int = 5) -> dict[str, Any]:
    sample = ROOT / "data" / "sample" / "gifts.toml"
    probe = textwrap.dedent(
        """
        import sys
        from pipeline.cli import main
        try:
            main(sys.argv[1:])
        except SystemExit:
            pass
        heavy = sorted(m for m in ("torch", "openvino", "onnxruntime", "sentence_transformers", "pandas")
                       if m in sys.modules)
        print("HEAVY=" + ",".join(heavy), file=sys.stderr)
        """
    )
    result: dict[str, Any] = {}
    for name, args in {"--help": ["--help"], "status": ["--config", str(sample), "status"]}.items():
        times = [run_child([GIFTS, *args], cwd=ROOT)[0] for _ in range(repeat)]
        heavy = subprocess.run([PY, "-c", probe, *args], cwd=ROOT, capture_output=True, text=True, check=False)
        imported = [line[6:] for line in heavy.stderr.splitlines() if line.startswith("HEAVY=")]
        result[name] = {
            "median_s": round(statistics.median(times), 3),
            "max_s": round(max(times), 3),
            "heavy_imports": imported[0].split(",") if imported and imported[0] else [],
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--backend",
        default="openvino-int8",
        help="the fast backend compared with torch; a comma-separated list compares several in the encode part",
    )
    parser.add_argument("--parts", default="encode,job,memory,cli", help="comma-separated parts to run")
    parser.add_argument("--texts", type=int, default=512, help="passages for the encode part")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds for the encode part")
    parser.add_argument(
        "--chunk", type=int, default=vectors.BATCH, help="texts per interleaved call (the embed stage's batch)"
    )
    parser.add_argument("--docs", type=int, default=1000, help="new documents in the job's raw archive")
    parser.add_argument("--corpus", type=int, default=20000, help="documents for the memory part")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--keep", type=Path, default=None, help="build workspaces here and keep them")
    args = parser.parse_args()
    if not (SCIFACT / "corpus.jsonl").is_file():
        raise SystemExit(f"{SCIFACT}: the SciFact corpus is needed for the benchmark texts")
    parts = set(args.parts.split(","))
    backends = ["torch", *args.backend.split(",")]
    fast = backends[1]
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="embed-bench-"))
    try:
        # The parts that measure child processes' memory go before this process loads any model.
        if "cli" in parts:
            report["cli"] = part_cli()
        if "job" in parts:
            report["job"] = part_job(["torch", fast], args.docs, workdir)
        if "memory" in parts:
            report["memory"] = part_memory(fast, args.docs, args.corpus, workdir)
        if "encode" in parts:
            report["encode"] = part_encode(backends, args.texts, args.rounds, args.chunk)
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    report["self_peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
