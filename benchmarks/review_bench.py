"""Figures for `gifts review`: time to first page with 50 people and 250 suggestions, time per action, memory.

A synthetic store (10 interviews x 5 interviewers, 2 interests and 5 suggestions each, 250 documents
of ~600 words) in a temporary workspace; the app on a real 127.0.0.1 socket, driven with httpx.

    python benchmarks/review_bench.py
"""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline import drafts  # noqa: E402
from pipeline.config import load  # noqa: E402
from pipeline.report import report_context  # noqa: E402
from pipeline.review import Review, bind, server_for  # noqa: E402
from pipeline.store import Store  # noqa: E402

NOW = dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)
WORDS = ("data pipeline latency cost model drift privacy evaluation schema contract stream batch warehouse "
         "lakehouse observability incident budget quality tagging rightsizing governance testing").split()  # fmt: skip


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(14)).capitalize() + " matters for every team we work with."


def synthetic(folder: Path) -> Path:
    shutil.copytree(ROOT / "data" / "sample", folder, ignore=shutil.ignore_patterns("interim", "processed"))
    config = load(folder / "gifts.toml")
    rng = random.Random(7)
    with Store(config.paths.store) as store, store.transaction():
        store.upsert("sources", {"id": "src", "kind": "feed", "location": "https://news.example/feed", "title": "News"})
        for d in range(250):
            text = " ".join(sentence(rng) for _ in range(40))
            store.upsert("documents", {
                "id": f"doc{d}", "source_id": "src", "url": f"https://news.example/{d}", "title": f"Article {d}",
                "state": "extracted", "text": text, "words": len(text.split()), "first_seen": "2026-11-20",
                "published": "2026-11-20", "kind": "html",
            })  # fmt: skip
        for i in range(10):
            store.upsert("interviews", {
                "id": f"iv{i}", "path": str(config.paths.interviews / f"iv{i}.md"), "sha": "x", "company": f"Co {i}",
                "position": "Engineer", "date": "2026-11-2" + str(i % 5), "status": "active", "notes": "",
            })  # fmt: skip
            for p in range(5):
                cid = f"p{i}-{p}"
                store.upsert("contacts", {"id": cid, "interview_id": f"iv{i}", "name": f"Person {i}{p} Doe",
                                          "email": f"p{i}{p}@co.example", "company": f"Co {i}"})  # fmt: skip
                for k in range(2):
                    text = f"{WORDS[k + p]} and {WORDS[k + i]}"
                    store.upsert("interests", {"id": f"{cid}-i{k}", "contact_id": cid, "text": text,
                                               "snippet": sentence(rng), "kind": "said", "weight": 1.0})  # fmt: skip
                for r in range(5):
                    doc = (i * 25 + p * 5 + r) % 250
                    store.upsert("suggestions", {
                        "id": f"s-{cid}-{r}", "contact_id": cid, "doc_id": f"doc{doc}", "active": 1, "rank": r + 1,
                        "score": 0.8 - r * 0.05, "parts": json.dumps({"dense": 0.6, "lexical": 0.4}),
                        "interest_id": f"{cid}-i{r % 2}", "matched_interest": f"{WORDS[p]} and {WORDS[i]}",
                        "best_passage": sentence(rng) + " " + sentence(rng),
                    })  # fmt: skip
    return folder / "gifts.toml"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = load(synthetic(Path(tmp) / "ws"))
        # The nightly report segments every suggested article once and keeps the sentences in the
        # store; the app's first page then quotes from them instead of parsing 250 articles again.
        start = time.perf_counter()
        with Store(config.paths.store) as store:
            report_context(store, config, NOW)
        night_s = time.perf_counter() - start
        drafts._SEGMENTED.clear()  # the app is another process: nothing in memory
        process = psutil.Process()
        rss_before = process.memory_info().rss
        sock = bind("127.0.0.1", 0)
        review = Review(config, sock.getsockname()[1], clock=lambda: NOW)
        server = server_for(review)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        base = f"http://127.0.0.1:{review.port}"
        with httpx.Client(base_url=base, trust_env=False, timeout=120) as client:
            client.get(f"/?token={review.token}", follow_redirects=False)
            start = time.perf_counter()
            first = client.get("/")
            first_s = time.perf_counter() - start
            first.raise_for_status()
            pages = []
            for _ in range(3):
                start = time.perf_counter()
                client.get("/")
                pages.append(time.perf_counter() - start)
            headers = {"origin": base}
            form = {"csrf": review.csrf}
            actions: dict[str, list[float]] = {"skip": [], "undo": [], "draft": [], "reply": []}
            for n in range(5):
                sid = f"s-p{n}-0-0"
                for name, path, data in (
                    ("skip", "/act", {**form, "suggestion_id": sid, "op": "skip"}),
                    ("draft", "/draft", {**form, "suggestion_id": sid, "text": f"My note {n}"}),
                    ("reply", "/reply", {**form, "contact_id": f"p{n}-0", "note": ""}),
                ):
                    start = time.perf_counter()
                    answer = client.post(path, data=data, headers=headers)
                    if answer.status_code != 303:
                        raise RuntimeError(f"{path}: {answer.status_code}")
                    actions[name].append(time.perf_counter() - start)
                with Store(config.paths.store) as store:
                    action = store.scalar("SELECT id FROM actions WHERE suggestion_id = ?", (sid,))
                start = time.perf_counter()
                client.post("/undo", data={**form, "action_id": str(action)}, headers=headers)
                actions["undo"].append(time.perf_counter() - start)
            size = len(first.content)
        server.should_exit = True
        thread.join(10)
        rss = process.memory_info().rss
        print(f"the nightly report before it (segments and caches the 250 articles): {night_s:.1f} s")
        print(f"first page (50 people, 250 suggestions, {size / 1024:.0f} KiB HTML): {first_s:.2f} s")
        print(f"page again: median {statistics.median(pages):.2f} s")
        for name, times in actions.items():
            print(
                f"action {name}: median {statistics.median(times) * 1000:.0f} ms (POST, store write; page not included)"
            )
        print(f"memory: RSS {rss / 2**20:.0f} MiB after serving ({rss_before / 2**20:.0f} MiB before the app started)")


if __name__ == "__main__":
    main()
