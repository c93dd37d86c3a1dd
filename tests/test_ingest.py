"""Ingest over a hostile loopback site: every source and entry ends in one recorded state, and the counts add up."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pytest
from conftest import NOW
from pytest_httpserver import HTTPServer

from pipeline.config import load
from pipeline.runner import run
from pipeline.store import Store

INGEST = ("fetch", "parse", "extract")
SOURCE_STATES = ("new", "not_modified", "failed", "backoff_skip", "disabled")
ENTRY_STATES = ("extracted", "extract_failed", "too_large", "blocked", "duplicate")
STORY = " ".join(
    f"Sentence {i} explains how consumer lag grows when partitions rebalance and how the team tuned it."
    for i in range(30)
)


def _item(base: str, path: str, title: str, guid: str | None = None) -> str:
    return f"<item><title>{title}</title><link>{base}{path}</link><guid>{guid or base + path}</guid></item>"


@pytest.fixture
def hostile(tmp_path: Path, httpserver: HTTPServer) -> Path:
    base = httpserver.url_for("").rstrip("/")
    items = "".join(
        [
            _item(base, "/ok", "A good page"),
            _item(base, "/ok?utm_source=feed#top", "The same page with tracking"),
            _item(base, "/moved-ok", "Same guid, new url", guid=f"{base}/ok"),
            _item(base, "/syndicated", "The good page again, elsewhere"),
            _item(base, "/gone", "A 404"),
            _item(base, "/huge", "Too large"),
            _item(base, "/bomb", "A gzip bomb"),
            _item(base, "/private/secret", "Disallowed by robots.txt"),
            _item(base, "/to-file", "Redirects to file://"),
            _item(base, "/empty", "No text"),
        ]
    )
    feed = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Hostile</title>{items}</channel></rss>'
    page = f"<html><body><article><h1>Lag</h1><p>{STORY}</p></article></body></html>"
    httpserver.expect_request("/feed.xml").respond_with_data(feed, content_type="application/rss+xml")
    httpserver.expect_request("/dead.xml").respond_with_data("gone", status=404)
    httpserver.expect_request("/broken.xml").respond_with_data(b"\x00\xff not xml at all", content_type="text/xml")
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nDisallow: /private/\n")
    httpserver.expect_request("/ok").respond_with_data(page, content_type="text/html")
    httpserver.expect_request("/syndicated").respond_with_data(
        page.replace("<h1>Lag</h1>", "<h1>Lag (syndicated)</h1><p>Originally published elsewhere.</p>"),
        content_type="text/html",
    )
    httpserver.expect_request("/gone").respond_with_data("nope", status=404)
    httpserver.expect_request("/huge").respond_with_data(b"x" * 300_000, content_type="text/html")
    httpserver.expect_request("/bomb").respond_with_data(
        gzip.compress(b" " * 5_000_000), content_type="text/html", headers={"Content-Encoding": "gzip"}
    )
    httpserver.expect_request("/to-file").respond_with_data("", status=302, headers={"Location": "file:///etc/passwd"})
    httpserver.expect_request("/empty").respond_with_data("<html><body></body></html>", content_type="text/html")
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "note.txt").write_text("# A local note\n" + STORY.replace("lag", "latency"), "utf-8")
    (tmp_path / "interviews").mkdir()
    config = tmp_path / "gifts.toml"
    config.write_text(
        f'[sources]\nfeeds = ["{base}/feed.xml", "{base}/dead.xml", "{base}/broken.xml"]\nfolders = ["inbox"]\n'
        "[fetch]\nallow_private_networks = true\nmax_bytes = 200000\ntimeout_s = 5\n",
        encoding="utf-8",
    )
    return config


def _check_adds_up(counts: dict[str, int], store: Store, run_id: int) -> None:
    assert counts["sources"] == sum(counts.get(f"sources_{s}", 0) for s in SOURCE_STATES)
    recorded = store.query("SELECT state, COUNT(*) AS n FROM source_runs WHERE run_id = ? GROUP BY state", (run_id,))
    assert {r["state"]: r["n"] for r in recorded} == {
        s: counts[f"sources_{s}"] for s in SOURCE_STATES if counts.get(f"sources_{s}")
    }
    assert int(store.scalar("SELECT COUNT(*) FROM documents WHERE state = 'pending'")) == 0
    assert counts["failed"] == counts.get("sources_failed", 0) + sum(
        counts.get(s, 0) for s in ("extract_failed", "too_large", "blocked")
    )


def test_every_source_and_entry_ends_in_one_state_and_counts_add_up(hostile: Path) -> None:
    config = load(hostile)
    first = run(config, INGEST, now=NOW)
    counts = first.counts
    with Store(config.paths.store) as store:
        _check_adds_up(counts, store, first.run_id)
        docs = {r["url"] or r["guid"]: (r["state"], r["reason"]) for r in store.query("SELECT * FROM documents")}
        sources = {r["location"].rsplit("/", 1)[-1]: r for r in store.query("SELECT * FROM sources")}
    assert counts["new_documents"] == sum(counts.get(s, 0) for s in ENTRY_STATES)
    assert counts["new_documents"] == len(docs) == 9  # the tracking-parameter copy and the moved guid collapsed
    assert counts["collapsed"] == 1
    by_path = {k.rsplit("/", 1)[-1]: v for k, v in docs.items()}
    # One copy of the syndicated story is kept (the earliest seen, ties by id); the other points to it.
    kept, copy = sorted(["ok", "syndicated"], key=lambda p: by_path[p][0] != "extracted")
    assert by_path[kept][0] == "extracted"
    assert by_path[copy] == ("duplicate", f"near-duplicate of {_doc_id(docs, '/' + kept)}")
    assert by_path["gone"] == ("extract_failed", "fetch: http 404")
    assert by_path["huge"][0] == "too_large"
    assert by_path["bomb"][0] == "too_large"
    assert by_path["secret"] == ("blocked", "fetch: blocked: disallowed by robots.txt")
    assert by_path["to-file"][0] == "blocked"
    assert by_path["empty"] == ("extract_failed", "trafilatura found no main text")
    assert by_path["note.txt"][0] == "extracted"
    assert sources["feed.xml"]["state"] == "new"
    assert sources["dead.xml"]["state"] == "failed" and sources["dead.xml"]["reason"] == "http 404"
    assert sources["broken.xml"]["state"] == "new"  # fetched fine; parsing kept what it could (nothing)

    second = run(config, INGEST, now=NOW + dt.timedelta(hours=1))
    with Store(config.paths.store) as store:
        _check_adds_up(second.counts, store, second.run_id)
    assert second.counts["sources_backoff_skip"] == 1  # dead.xml: not asked again tonight
    assert second.counts.get("new_documents", 0) == 0


def _doc_id(docs: dict[str, tuple[str, str | None]], path: str) -> str:
    from pipeline.feeds import document_id

    [url] = [u for u in docs if u.endswith(path)]
    return document_id(url, None, "")
