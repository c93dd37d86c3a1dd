"""JSON Feed 1.0 and 1.1 read beside RSS and Atom, held to the same rules (links, caps, ids)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import NOW, write_acme_interview
from pytest_httpserver import HTTPServer

from pipeline import feeds, jsonfeed
from pipeline.config import load
from pipeline.feeds import parse_feed
from pipeline.runner import run
from pipeline.store import Store

# The shape of jsonfeed.org's own examples: version 1.1 with `authors`, and 1.0 with `author`.
V11 = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "My Example Feed",
    "home_page_url": "https://example.org/",
    "feed_url": "https://example.org/feed.json",
    "authors": [{"name": "Feed Author"}],
    "items": [
        {
            "id": "2",
            "content_text": "This is a second item.",
            "url": "https://example.org/second-item",
            "date_published": "2026-11-20T10:00:00-05:00",
        },
        {
            "id": "1",
            "title": "Consumer lag, <em>explained</em>",
            "content_html": "<p>Hello, <b>world</b>!</p>",
            "url": "/first-item?utm_source=feed",
            "authors": [{"name": "Ada Byte"}, {"name": "Tom Lee"}],
            "date_modified": "2026-11-19T08:00:00Z",
        },
        {
            "id": "3",
            "title": "A white paper",
            "summary": "Read the PDF.",
            "external_url": "https://papers.example/page",
            "attachments": [{"url": "https://papers.example/p.pdf", "mime_type": "application/pdf"}],
        },
    ],
}
V10 = {
    "version": "https://jsonfeed.org/version/1",
    "title": "Old style",
    "author": {"name": "Solo Writer"},
    "items": [{"id": 42, "url": "https://example.org/old", "title": "Numbered id", "content_text": "Text."}],
}


def _parse(data: object) -> feeds.ParsedFeed:
    return parse_feed(json.dumps(data).encode(), "https://example.org/feed.json")


def test_version_1_1() -> None:
    parsed = _parse(V11)
    assert parsed.title == "My Example Feed" and parsed.bozo is None
    second, first, paper = parsed.entries
    assert (second.url, second.guid, second.published) == ("https://example.org/second-item", "2", "2026-11-20")
    assert second.title == "https://example.org/second-item"  # no title: the link stands in, as for RSS
    assert second.author == "Feed Author" and second.summary == "This is a second item."
    assert first.url == "https://example.org/first-item"  # resolved, tracking parameter dropped
    assert first.title == "Consumer lag, explained" and first.summary == "Hello, world !"
    assert first.author == "Ada Byte, Tom Lee" and first.published == "2026-11-19"
    assert (paper.url, paper.kind) == ("https://papers.example/p.pdf", "pdf")


def test_version_1_0() -> None:
    parsed = _parse(V10)
    (entry,) = parsed.entries
    assert (entry.guid, entry.author, entry.title) == ("42", "Solo Writer", "Numbered id")


def test_an_item_without_a_link_is_recorded_not_left_pending() -> None:
    (entry,) = _parse({**V10, "items": [{"id": "x", "title": "No link", "content_text": "t"}]}).entries
    assert entry.url is None and entry.reason == "entry has no link"


def test_ill_formed_json_feeds_keep_what_they_can() -> None:
    assert parse_feed(b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "u").bozo.startswith(
        "JSON Feed: not valid JSON"
    )
    assert parse_feed(b"[1, 2]", "u").entries == ()  # not an object, not JSON Feed: nothing, no crash
    mixed = _parse({**V10, "version": "2", "items": [V10["items"][0], "junk", 7]})
    assert len(mixed.entries) == 1 and mixed.bozo == "JSON Feed: 2 items are not objects; unknown version '2'"
    assert parse_feed(b"{" * 100_000, "u").entries == ()  # nesting too deep for the parser: recorded


def test_json_fields_are_capped_like_xml_ones() -> None:
    long = "y" * 1_000_000
    (entry,) = _parse(
        {**V10, "items": [{"id": long, "url": "https://e.org/a", "title": long, "content_text": long}]}
    ).entries
    assert len(entry.title) <= feeds.MAX_TITLE_CHARS and len(entry.summary) == feeds.MAX_SUMMARY_CHARS
    assert entry.guid is not None and len(entry.guid) <= feeds.MAX_GUID_CHARS


def test_sniffing() -> None:
    assert jsonfeed.looks_like_json(b'\xef\xbb\xbf  \n{"version": 1}')
    assert not jsonfeed.looks_like_json(b'<?xml version="1.0"?><rss/>')


def test_a_json_feed_source_becomes_documents(tmp_path: Path, httpserver: HTTPServer) -> None:
    base = httpserver.url_for("").rstrip("/")
    feed = {**V10, "items": [{"id": "a", "url": f"{base}/a", "title": "Lag", "content_text": "Lag text."}]}
    httpserver.expect_request("/feed.json").respond_with_data(json.dumps(feed), content_type="application/feed+json")
    page = (
        "<html><body><article><p>"
        + "Consumer lag grows when partitions rebalance. " * 30
        + "</p></article></body></html>"
    )
    httpserver.expect_request("/a").respond_with_data(page, content_type="text/html")
    write_acme_interview(tmp_path)
    config = tmp_path / "gifts.toml"
    config.write_text(f'[sources]\nfeeds = ["{base}/feed.json"]\n[fetch]\nallow_private_networks = true\n', "utf-8")
    result = run(load(config), ("fetch", "parse", "extract"), now=NOW)
    assert result.status == "ok" and result.counts["extracted"] == 1
    with Store(load(config).paths.store) as store:
        assert store.scalar("SELECT title FROM sources") == "Old style"
