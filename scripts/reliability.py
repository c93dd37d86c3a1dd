"""Reliability and crash safety of the nightly run against a hostile loopback site.

Serves feeds and pages with injected faults (slow and trickling bodies, gzip bombs, huge bodies,
entity bombs, ill-formed and dead feeds, redirects to file://, robots.txt refusals, pages that
hang the extractor, syndicated copies), makes one clean run, then for each trial kills a run with
SIGKILL at a random moment, checks `PRAGMA integrity_check`, lets the next run finish, and compares
the final state with the clean run's. Also checks that a second run started while one holds the
workspace exits at once and changes nothing. Prints one summary.

    .venv/bin/python scripts/reliability.py --trials 50
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 11, 26, 5, 30, tzinfo=dt.UTC)
# The limits the runs are given: short, so the faults cost seconds (tests shorten them further).
LIMITS = {"fetch_timeout_s": 2.0, "extract_timeout_s": 3.0}
FEEDS = 5
ENTRIES = 6
TOPICS = [
    "schema drift in data pipelines",
    "mentoring junior engineers",
    "cloud cost and rightsizing",
    "model monitoring in hospitals",
    "stream processing backpressure",
]


def _story(feed: int, entry: int) -> str:
    topic = TOPICS[(feed + entry) % len(TOPICS)]
    return " ".join(
        f"Part {k} of story {feed}-{entry}: the team learned something new about {topic}, wrote it down, "
        f"and measured the effect over {k + 2} weeks."
        for k in range(40)
    )


# -- the hostile site ---------------------------------------------------------------------------
# (feed, entry) -> fault kind of the entry's page; every other page is a normal article.
PAGE_FAULTS = {
    (0, 1): "trickle",
    (1, 2): "http_500",
    (2, 3): "gzip_bomb",
    (3, 4): "extractor_hang",
    (4, 5): "redirect_to_file",
    (0, 5): "robots_disallow",
    (1, 4): "huge",
    (2, 0): "syndicated_copy",
}
FEED_FAULTS = {
    5: "entity_bomb",
    6: "ill_formed",
    7: "dead_404",
    8: "slow_headers",
    9: "quadratic_entities",  # a 100 KB entity used 2,000 times: refused before any parser sees it
    10: "long_creator",  # a 100,000-character dc:creator: feedparser's author regex runs for a minute
    11: "many_entries",  # 100,000 entries
    12: "bidi_title",  # right-to-left override characters in titles
    13: "credentials_in_url",  # the feed's own URL carries user:token
}
# Faults that cost a run their full time limit; the test suite skips them (its own tests cover them).
SLOW_FAULTS = frozenset({"trickle", "slow_headers", "extractor_hang", "long_creator", "many_entries"})
# Local faults in the folder source, made by make_workspace (not served by the site).
FOLDER_FAULTS = ("symlink_out", "oversized_file")
SECRET_TOKEN = "TOKEN-4f1c9e"  # noqa: S105 -- the credential that must never be shown or stored
ENV_SECRET = "env-secret-7d2a1b"  # noqa: S105 -- in the runs' environment: must never reach the store or the archive
SKIPPED: set[str] = set()


def _feed_xml(base: str, feed: int) -> bytes:
    items = []
    for entry in range(ENTRIES):
        path = (
            f"/private/{feed}/{entry}" if PAGE_FAULTS.get((feed, entry)) == "robots_disallow" else f"/a/{feed}/{entry}"
        )
        items.append(
            f"<item><title>Story {feed}-{entry}</title><link>{base}{path}?utm_source=rss</link>"
            f"<pubDate>Tue, {10 + entry} Nov 2026 08:00:00 GMT</pubDate><description>Summary {feed}-{entry}"
            "</description></item>"
        )
    items.append("<item><title>Script link</title><link>javascript:alert(1)</link></item>")
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {feed}</title>{"".join(items)}</channel></rss>'
    ).encode()


def _quadratic_entities() -> bytes:
    refs = "&a;" * 2_000
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "{"x" * 100_000}">]><rss version="2.0"><channel>'
        f"<title>Quadratic</title><item><title>{refs}</title><description>{refs}</description>"
        "<link>http://127.0.0.1/q</link></item></channel></rss>"
    ).encode()


def _long_creator() -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>Creator</title><item><title>Long author</title><dc:creator>{'a' * 100_000}</dc:creator>"
        "<link>http://127.0.0.1/c</link></item></channel></rss>"
    ).encode()


def _many_entries() -> bytes:
    items = "".join(f"<item><title>t{i}</title><link>http://127.0.0.1/m/{i}</link></item>" for i in range(100_000))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Many</title>{items}</channel></rss>'.encode()


def _entity_bomb() -> bytes:
    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9)
    )
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [{entities}]><rss version="2.0"><channel><title>&j;</title>'
        "<item><title>Bomb</title><link>http://127.0.0.1/x</link></item></channel></rss>"
    ).encode()


class Site(BaseHTTPRequestHandler):
    base = ""
    hits: ClassVar[Counter[str]] = Counter()

    def log_message(self, *_args: Any) -> None:
        return None

    def _send(self, status: int, body: bytes, ctype: str = "text/html", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/robots.txt":
            return self._send(200, b"User-agent: *\nDisallow: /private/\n", "text/plain")
        match = re.fullmatch(r"/feed(\d+)\.xml", path)
        if match:
            return self._feed(int(match.group(1)))
        match = re.fullmatch(r"/(?:a|private)/(\d+)/(\d+)", path)
        if match:
            return self._page(int(match.group(1)), int(match.group(2)))
        return self._send(404, b"no")

    def _feed(self, feed: int) -> None:
        fault = FEED_FAULTS.get(feed)
        if fault in SKIPPED:
            fault = None
        if fault:
            Site.hits[fault] += 1
        if fault == "entity_bomb":
            return self._send(200, _entity_bomb(), "application/xml")
        if fault == "ill_formed":
            return self._send(200, _feed_xml(self.base, 0)[:700], "application/xml")
        if fault == "dead_404":
            return self._send(404, b"gone")
        if fault == "quadratic_entities":
            return self._send(200, _quadratic_entities(), "application/xml")
        if fault == "long_creator":
            return self._send(200, _long_creator(), "application/xml")
        if fault == "many_entries":
            return self._send(200, _many_entries(), "application/xml")
        if fault == "bidi_title":
            body = _feed_xml(self.base, feed).replace(b"<title>Story", "<title>\u202eStory".encode())
            return self._send(200, body, "application/rss+xml")
        if fault == "slow_headers":
            time.sleep(LIMITS["fetch_timeout_s"] * 2)
            return self._send(200, _feed_xml(self.base, 0), "application/xml")
        etag = f'"{feed}-v1"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.end_headers()
            return None
        return self._send(200, _feed_xml(self.base, feed), "application/rss+xml", {"ETag": etag})

    def _page(self, feed: int, entry: int) -> None:
        fault = PAGE_FAULTS.get((feed, entry))
        if fault in SKIPPED:
            fault = None
        if fault:
            Site.hits[fault] += 1
        if fault == "trickle":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            try:
                for _ in range(40):
                    self.wfile.write(b"<p>slow</p>")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass
            return None
        if fault == "http_500":
            return self._send(500, b"oops")
        if fault == "gzip_bomb":
            return self._send(200, gzip.compress(b" " * 40_000_000), headers={"Content-Encoding": "gzip"})
        if fault == "extractor_hang":
            return self._send(200, ("<html><body><table><tr>" + "<td>x</td>" * 150_000 + "</tr></table>").encode())
        if fault == "redirect_to_file":
            return self._send(302, b"", headers={"Location": "file:///etc/passwd"})
        if fault == "huge":
            return self._send(200, b"<html>" + b"x" * 3_000_000)
        text = _story(1, 0) if fault == "syndicated_copy" else _story(feed, entry)
        return self._send(
            200,
            f"<html><body><article><h1>Story {feed}-{entry}</h1><p>{text}</p></article>"
            "<footer>Subscribe</footer></body></html>".encode(),
        )


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # clients hanging up on bombs and trickles is the point, not news


def start_site() -> tuple[ThreadingHTTPServer, str]:
    Site.hits = Counter()
    server = _QuietServer(("127.0.0.1", 0), Site)
    server.daemon_threads = True
    Site.base = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, Site.base


def make_workspace(folder: Path, base: str) -> Path:
    feeds = [f"{base}/feed{i}.xml" for i in range(FEEDS + len(FEED_FAULTS))]
    for number, fault in FEED_FAULTS.items():
        if fault == "credentials_in_url":
            feeds[number] = feeds[number].replace("http://", f"http://reader:{SECRET_TOKEN}@")
    (folder / "interviews").mkdir(parents=True)
    (folder / "inbox").mkdir()
    (folder / "inbox" / "note.md").write_text("# Local note\n" + _story(9, 9), encoding="utf-8")
    # A link out of the folder (the runs' environment holds ENV_SECRET) and a 3 GB sparse file.
    (folder / "inbox" / "env.txt").symlink_to("/proc/self/environ")
    with (folder / "inbox" / "huge.pdf").open("wb") as handle:
        handle.truncate(3 * 1024**3)
    (folder / "interviews" / "acme.md").write_text(
        "---\ncompany: Acme\ndate: 2026-11-20\nstatus: active\ninterviewers:\n  - name: Ada Byte\n    interests:\n"
        "      - schema drift in data pipelines\n      - mentoring junior engineers\n---\nAda talked about drift.\n",
        encoding="utf-8",
    )
    config = folder / "gifts.toml"
    config.write_text(
        f'[sources]\nfeeds = {json.dumps(feeds)}\nfolders = ["inbox"]\n'
        f"[fetch]\nallow_private_networks = true\ntimeout_s = {LIMITS['fetch_timeout_s']}\nmax_bytes = 2000000\n"
        "[rank]\nmin_score = 0.05\n",
        encoding="utf-8",
    )
    return config


# -- one run, in a child process ----------------------------------------------------------------
class HashEmbedder:
    """Deterministic bag-of-words vectors: the real model would make each trial minutes long."""

    def __init__(self, name: str) -> None:
        self.name = name

    def encode(self, texts: Any) -> np.ndarray:
        out = np.zeros((len(texts), 128), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z]{3,}", text.lower()):
                out[row, int(hashlib.blake2b(word[:5].encode(), digest_size=4).hexdigest(), 16) % 128] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


def child(config_path: Path, out: Path, stages: list[str], extract_timeout: float) -> int:
    import resource

    from pipeline import workers
    from pipeline.config import load
    from pipeline.embed import model_key
    from pipeline.errors import GiftsError
    from pipeline.runner import run

    workers.DEFAULT_TIMEOUT_S = extract_timeout  # a hung extraction is the fault under test, not the clock
    config = load(config_path)
    # The same cache key the runner expects (it names the embedding backend too, where there is one).
    name = model_key(config.embed.model, config.paths.models, getattr(config.embed, "backend", "torch"))
    try:
        result = run(config, stages, now=NOW, embedder_factory=lambda: HashEmbedder(name))  # type: ignore[arg-type,return-value]
    except GiftsError as exc:
        print(f"gifts: error: {exc}", file=sys.stderr)
        return exc.exit_code
    summary = result.summary()
    summary["parent_peak_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out.write_text(json.dumps(summary), encoding="utf-8")
    return 0 if result.status == "ok" else 1


def _spawn(config: Path, out: Path, stages: list[str]) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        str(config),
        "--out",
        str(out),
        "--stages",
        ",".join(stages),
        "--extract-timeout",
        str(LIMITS["extract_timeout_s"]),
    ]
    env = {**os.environ, "GIFTS_RELIABILITY_SECRET": ENV_SECRET}
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)  # noqa: S603


def leaks(workspace: Path, log: str) -> list[str]:
    """Where the feed URL's token was shown, or the environment's secret shown or stored.

    The token may rest where the user put it and where it is needed to fetch the feed again
    (gifts.toml, the store's source list, the raw archive's URL index, keyed by the URL as
    configured); it must not appear in a report, an archived body or the log. The environment's
    secret (behind a symlink in the inbox) must appear nowhere.
    """
    secrets = (("token", SECRET_TOKEN), ("env", ENV_SECRET))
    found = [f"{name} in the log" for name, secret in secrets if secret in log]
    for path in sorted(workspace.rglob("*")):
        if not path.is_file() or path.is_symlink() or path.stat().st_size > 50_000_000:
            continue
        data = path.read_bytes()
        private = path.name in ("gifts.toml", "index.jsonl") or path.name.startswith("gifts.sqlite")
        found += [
            f"{name} in {path.relative_to(workspace)}"
            for name, secret in secrets
            if secret.encode() in data and not (name == "token" and private)
        ]
    return found


# -- checks -------------------------------------------------------------------------------------
def integrity(store: Path) -> str:
    if not store.exists():
        return "ok"  # killed before the store was created
    with sqlite3.connect(store) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


def state(store: Path) -> dict[str, Any]:
    """What a run leaves behind, minus clocks and per-run bookkeeping."""
    with sqlite3.connect(store) as db:
        db.row_factory = sqlite3.Row
        q = lambda sql: [tuple(r) for r in db.execute(sql)]  # noqa: E731
        return {
            "documents": q("SELECT id, state, reason, text_sha, duplicate_of FROM documents ORDER BY id"),
            "sources": q(
                "SELECT id, raw_sha, parsed_sha, etag, consecutive_failures, reason, next_attempt_on,"
                " disabled_at IS NULL FROM sources ORDER BY id"
            ),
            "passages": q("SELECT doc_id, COUNT(*) FROM passages GROUP BY doc_id ORDER BY doc_id"),
            "suggestions": q("SELECT contact_id, doc_id, rank FROM suggestions WHERE active = 1 ORDER BY 1, 3"),
        }


def held_longest(store: Path) -> tuple[float, str]:
    with sqlite3.connect(store) as db:
        rows = list(db.execute("SELECT seconds, source_id FROM source_runs"))
        rows += list(db.execute("SELECT seconds, COALESCE(url, guid) FROM documents WHERE seconds IS NOT NULL"))
    seconds, what = max(rows)
    return float(seconds), str(what)


def trial(base: str, clean: dict[str, Any], clean_seconds: float, seed: int, stages: list[str]) -> dict[str, Any]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="gifts-trial-") as tmp:
        config = make_workspace(Path(tmp) / "ws", base)
        store = config.parent / "data/interim/gifts.sqlite"
        delay = rng.uniform(0.0, clean_seconds)
        killed = _spawn(config, Path(tmp) / "killed.json", stages)
        time.sleep(delay)
        was_running = killed.poll() is None
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        ok = integrity(store)
        done = _spawn(config, Path(tmp) / "done.json", stages)
        _, err = done.communicate(timeout=600)
        code = done.returncode
        final = state(store) if store.exists() else {}
        clean_ids = {d[0] for d in clean["documents"]}
        final_docs = {d[0]: d for d in final.get("documents", [])}
        lost = [d for d in clean["documents"] if final_docs.get(d[0]) != d]
        return {
            "delay": delay,
            "killed_mid_run": was_running,
            "integrity": ok,
            "exit": code,
            # Survived: the next run finished (wrote its summary), not merely exited 0 or 1.
            "survived": code in (0, 1) and (Path(tmp) / "done.json").exists() and ok == "ok",
            "same_state": final == clean,
            "lost": len(lost),
            "lost_examples": [(d, final_docs.get(d[0])) for d in lost[:3]],
            "error": err.decode(errors="replace").strip().splitlines()[-1:] if code not in (0, 1) else [],
            "extra": len(set(final_docs) - clean_ids),
        }


def overlapping_run(base: str, stages: list[str]) -> dict[str, Any]:
    """A second run while the first holds the lock: exits promptly with a clear message, changes nothing."""
    with tempfile.TemporaryDirectory(prefix="gifts-overlap-") as tmp:
        config = make_workspace(Path(tmp) / "ws", base)
        lock = config.parent / "data/interim/gifts.lock"
        first = _spawn(config, Path(tmp) / "first.json", stages)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (lock.exists() and lock.read_text().strip()):
            time.sleep(0.05)
        started = time.monotonic()
        second = _spawn(config, Path(tmp) / "second.json", stages)
        _, err = second.communicate(timeout=60)
        elapsed = time.monotonic() - started
        first.wait(timeout=600)
        return {
            "exit": second.returncode,
            "seconds": elapsed,
            "message": err.decode().strip().splitlines()[-1:],
            "wrote_summary": (Path(tmp) / "second.json").exists(),
        }


def clean_run(base: str, stages: list[str]) -> tuple[dict[str, Any], float, dict[str, Any], tuple[float, str]]:
    with tempfile.TemporaryDirectory(prefix="gifts-clean-") as tmp:
        config = make_workspace(Path(tmp) / "ws", base)
        started = time.monotonic()
        proc = _spawn(config, Path(tmp) / "clean.json", stages)
        _, err = proc.communicate(timeout=600)
        seconds = time.monotonic() - started
        if proc.returncode not in (0, 1) or not (Path(tmp) / "clean.json").exists():
            raise SystemExit(f"clean run failed ({proc.returncode}): {err.decode()[-2000:]}")
        store = config.parent / "data/interim/gifts.sqlite"
        summary = json.loads((Path(tmp) / "clean.json").read_text(encoding="utf-8"))
        summary["store_bytes"] = sum(p.stat().st_size for p in store.parent.glob("gifts.sqlite*"))
        summary["leaks"] = leaks(config.parent, err.decode(errors="replace"))
        return state(store), seconds, summary, held_longest(store)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--stages", default="fetch,parse,extract,profile,embed,rank,report")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--extract-timeout", type=float, default=LIMITS["extract_timeout_s"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    stages = args.stages.split(",")
    if args.child:
        return child(args.child, args.out, stages, args.extract_timeout)
    report = run_trials(args.trials, args.seed, stages)
    print_report(report)
    return (
        0
        if report["lost"] == 0 and report["survived"] == report["trials"] and report["same"] == report["trials"]
        else 1
    )


def run_trials(trials: int, seed: int, stages: list[str], overlap: bool = True) -> dict[str, Any]:
    server, base = start_site()
    try:
        clean, clean_seconds, summary, longest = clean_run(base, stages)
        results = [trial(base, clean, clean_seconds, seed + n, stages) for n in range(trials)]
        overlapped = overlapping_run(base, stages) if overlap else None
    finally:
        server.shutdown()
    faults = Counter(Site.hits)  # what the site actually served; a killed run may not reach them all
    faults.update({"sigkill": trials, "overlapping_run": 1, **dict.fromkeys(FOLDER_FAULTS, 1)})
    return {
        "trials": trials,
        "survived": sum(r["survived"] for r in results),
        "same": sum(r["same_state"] for r in results),
        "killed_mid_run": sum(r["killed_mid_run"] for r in results),
        "lost": sum(r["lost"] for r in results),
        "integrity_failures": sum(r["integrity"] != "ok" for r in results),
        "faults": dict(faults),
        "clean_seconds": clean_seconds,
        "summary": summary,
        "longest": longest,
        "overlap": overlapped,
        "documents": len(clean["documents"]),
        "clean_documents": clean["documents"],
        "results": results,
    }


def print_report(r: dict[str, Any]) -> None:
    s = r["summary"]
    print(f"faults injected by kind (times served or done across {1 + 2 * r['trials'] + 2} runs):")
    for kind, n in sorted(r["faults"].items()):
        print(f"  {kind:18} {n}")
    print(
        f"clean run: {r['clean_seconds']:.1f} s, {r['documents']} documents, status {s['status']}; "
        f"states: "
        + ", ".join(
            f"{k} {s.get(k, 0)}"
            for k in ("extracted", "duplicate", "extract_failed", "too_large", "blocked", "sources_failed")
        )
    )
    print(
        f"runs survived: {r['survived']}/{r['trials']} killed with SIGKILL ({r['killed_mid_run']} mid-run), "
        f"integrity_check failures {r['integrity_failures']}, final state equal to the clean run's in "
        f"{r['same']}/{r['trials']}"
    )
    print(f"documents lost: {r['lost']}")
    print(f"store size after the clean run: {s['store_bytes'] / 1e6:.2f} MB")
    print(f"secrets shown or stored (feed URL token, environment via a symlink): {s['leaks'] or 'none'}")
    print(f"feeds quarantined: {s.get('sources_quarantined', 0)}, pages deferred: {s.get('pages_deferred', 0)}")
    for result in r["results"]:
        for clean_doc, final_doc in result["lost_examples"]:
            print(
                f"  trial killed at {result['delay']:.1f} s: clean {clean_doc[1:3]}"
                f" vs after the kill {final_doc and final_doc[1:3]}"
            )
    print(
        f"peak memory: parent {s['parent_peak_rss_kb'] / 1024:.0f} MiB, extraction workers "
        f"{s.get('extract_worker_peak_rss_kb', 0) / 1024:.0f} MiB"
    )
    print(f"longest time one source or page held the run: {r['longest'][0]:.1f} s ({r['longest'][1]})")
    o = r["overlap"]
    if o is None:
        return
    print(
        f"second run while one runs: exit {o['exit']} after {o['seconds']:.1f} s, wrote nothing: "
        f"{not o['wrote_summary']}, said: {' '.join(o['message'])}"
    )


if __name__ == "__main__":
    sys.exit(main())
