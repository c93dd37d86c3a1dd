"""A hostile feed is quarantined, never fatal: refused or cut off in a worker, recorded with its body's hash.

The feeds come from a server on 127.0.0.1. One declares a large entity and uses it thousands of times
(the audit's quadratic blow-up), one hangs the parser (a stand-in for feedparser's worse-than-quadratic
author regex, made certain by a patched parser so the test does not depend on the machine's speed),
and one is fine. The night finishes with a report, the good feed's articles are in it, and later
nights do not parse the same bodies again.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW, nightly_fake, write_acme_interview
from pytest_httpserver import HTTPServer

from pipeline import workers
from pipeline.config import load
from pipeline.feeds import FEED_FAILED
from pipeline.runner import run
from pipeline.store import Store

STORY = " ".join(
    f"Sentence {i} explains how consumer lag grows when partitions rebalance and how the team tuned it."
    for i in range(30)
)
HANG_MARKER = b"<title>Parser trap</title>"


def _entity_feed(value_chars: int = 100_000, uses: int = 2_000) -> str:
    refs = "&a;" * uses
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "{"x" * value_chars}">]><rss version="2.0"><channel>'
        f"<title>Bomb</title><item><title>{refs}</title><description>{refs}</description>"
        "<link>https://site.example/1</link></item></channel></rss>"
    )


def _hang_on_marker(original: Any) -> Any:
    def parse(body: bytes, base_url: str, max_entries: int | None = None) -> Any:
        if HANG_MARKER in body:
            time.sleep(3600)
        return original(body, base_url, max_entries=max_entries)

    return parse


@pytest.fixture
def workspace_with_hostile_feeds(tmp_path: Path, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    base = httpserver.url_for("").rstrip("/")
    good = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Good</title>'
        f"<item><title>Consumer lag, explained</title><link>{base}/lag</link></item></channel></rss>"
    )
    trap = f'<?xml version="1.0"?><rss version="2.0"><channel>{HANG_MARKER.decode()}</channel></rss>'
    httpserver.expect_request("/good.xml").respond_with_data(good, content_type="application/rss+xml")
    httpserver.expect_request("/bomb.xml").respond_with_data(_entity_feed(), content_type="application/rss+xml")
    httpserver.expect_request("/trap.xml").respond_with_data(trap, content_type="application/rss+xml")
    page = f"<html><body><article><h1>Consumer lag</h1><p>{STORY}</p></article></body></html>"
    httpserver.expect_request("/lag").respond_with_data(page, content_type="text/html")
    write_acme_interview(tmp_path)
    config = tmp_path / "gifts.toml"
    config.write_text(
        f'[sources]\nfeeds = ["{base}/good.xml", "{base}/bomb.xml", "{base}/trap.xml"]\n'
        "[fetch]\nallow_private_networks = true\ntimeout_s = 5\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(workers, "parse_feed", _hang_on_marker(workers.parse_feed))  # forked workers see it
    monkeypatch.setattr(workers, "DEFAULT_TIMEOUT_S", 2.0)
    return config


def test_hostile_feeds_are_quarantined_and_the_night_still_reports(workspace_with_hostile_feeds: Path) -> None:
    config = load(workspace_with_hostile_feeds)
    first = run(config, now=NOW, embedder_factory=nightly_fake)
    assert first.status == "partial"
    assert first.counts["sources_quarantined"] == 2
    assert first.counts["sources"] == 3 == first.counts["sources_new"] + first.counts["sources_quarantined"]
    assert first.counts["failed"] == 2
    assert first.report_dir is not None and (first.report_dir / "index.html").exists()
    with Store(config.paths.store) as store:
        sources = {r["location"].rsplit("/", 1)[-1]: r for r in store.query("SELECT * FROM sources")}
        recorded = {
            r["source_id"]: r["state"]
            for r in store.query("SELECT * FROM source_runs WHERE run_id = ?", (first.run_id,))
        }
        titles = [r["title"] for r in store.query("SELECT title FROM documents")]
    assert sources["bomb.xml"]["state"] == FEED_FAILED
    assert "declares XML entities" in sources["bomb.xml"]["reason"]
    assert sources["trap.xml"]["state"] == FEED_FAILED
    assert "feed parsing took longer than 2 s" in sources["trap.xml"]["reason"]
    for name in ("bomb.xml", "trap.xml"):
        assert sources[name]["parsed_sha"] == sources[name]["raw_sha"]  # the same bytes are never parsed again
        assert recorded[sources[name]["id"]] == FEED_FAILED
    assert titles == ["Consumer lag, explained"]
    assert config.paths.store.stat().st_size < 2_000_000

    started = time.monotonic()
    second = run(config, now=NOW + dt.timedelta(days=1), embedder_factory=nightly_fake)
    # Nothing was parsed again: the trap would have cost the 2 s limit a second time.
    assert second.counts.get("parsed", 0) == 0
    assert time.monotonic() - started < 60
    assert second.counts["sources_quarantined"] == 2
    with Store(config.paths.store) as store:
        reasons = {r["location"].rsplit("/", 1)[-1]: r["reason"] for r in store.query("SELECT * FROM sources")}
    assert "declares XML entities" in reasons["bomb.xml"]  # the reason stays while the body is unchanged


def test_a_store_failure_quarantines_that_feed_alone(
    workspace_with_hostile_feeds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit's second run died on sqlite3.DataError; whatever the store refuses costs that feed only."""
    import sqlite3

    from pipeline import ingest

    original = ingest._store_entries

    def refuse_the_good_feed(store: Store, row: Any, parsed: Any, now: str) -> Any:
        if parsed.title == "Good":
            raise sqlite3.DataError("string or blob too big")
        return original(store, row, parsed, now)

    monkeypatch.setattr(ingest, "_store_entries", refuse_the_good_feed)
    config = load(workspace_with_hostile_feeds)
    result = run(config, now=NOW, embedder_factory=nightly_fake)
    assert result.counts["sources_quarantined"] == 3
    assert result.report_dir is not None and (result.report_dir / "index.html").exists()
    with Store(config.paths.store) as store:
        reason = store.scalar("SELECT reason FROM sources WHERE location LIKE '%good.xml'")
    assert reason == "cannot store its entries: DataError: string or blob too big"


def test_an_entry_without_an_http_link_is_recorded_with_its_reason(tmp_path: Path, httpserver: HTTPServer) -> None:
    """It used to stay pending forever, with no reason; a gift the candidate cannot link to is none."""
    base = httpserver.url_for("").rstrip("/")
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Links</title>'
        "<item><title>By FTP</title><link>ftp://files.example/p.pdf</link><description>text</description></item>"
        "<item><title>No link at all</title><description>Only text.</description></item>"
        "</channel></rss>"
    )
    httpserver.expect_request("/links.xml").respond_with_data(feed, content_type="application/rss+xml")
    write_acme_interview(tmp_path)
    config = tmp_path / "gifts.toml"
    config.write_text(f'[sources]\nfeeds = ["{base}/links.xml"]\n[fetch]\nallow_private_networks = true\n', "utf-8")
    result = run(load(config), ("fetch", "parse", "extract"), now=NOW)
    with Store(load(config).paths.store) as store:
        docs = {r["title"]: (r["state"], r["reason"]) for r in store.query("SELECT * FROM documents")}
    assert docs == {
        "By FTP": ("blocked", "link is not http(s): ftp://files.example/p.pdf"),
        "No link at all": ("blocked", "entry has no link"),
    }
    assert result.counts["blocked"] == 2 and result.status == "partial"
