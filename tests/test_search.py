"""Search sources: the queries asked for the sample's interviews, and recorded answers in each
service's real format (arXiv Atom, Hacker News Algolia JSON, Crossref JSON, Google News RSS) served
from 127.0.0.1, fetched and parsed like any feed."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from conftest import NOW, ROOT
from pytest_httpserver import HTTPServer

from pipeline import ingest, politeness
from pipeline.archive import Archive
from pipeline.config import load
from pipeline.feeds import parse_feed
from pipeline.fetch import Fetcher
from pipeline.search import search_queries
from pipeline.sources import configured_sources
from pipeline.store import Store

FIXTURES = ROOT / "tests" / "fixtures" / "search"
PATHS = {"arxiv": "/arxiv/api/query", "hackernews": "/hn/api/v1/search_by_date", "crossref": "/crossref/works"}
PATHS["googlenews"] = "/news/rss/search"
RECORDED = {
    "arxiv": ("arxiv.xml", "application/atom+xml; charset=utf-8"),
    "hackernews": ("hackernews.json", "application/json; charset=utf-8"),
    "crossref": ("crossref.json", "application/json;charset=utf-8"),
    "googlenews": ("googlenews.xml", "application/xml; charset=utf-8"),
}


def enable_search(config: Path, base: str, extra: str = "") -> Path:
    """Turn the sample's [search] on, every service pointed at `base` (a server on 127.0.0.1), online."""
    text = config.read_text(encoding="utf-8")
    head, search = text.split("[search]\n", 1)
    values = {"enabled": "true", "min_interval_s": "0"}
    values |= {f"{service}_url": f'"{base}{path}"' for service, path in PATHS.items()}
    for line in extra.splitlines():
        key, _, value = line.partition(" = ")
        values[key] = value
    for key, value in values.items():
        search = re.sub(rf"^{key} = [^#\n]*", f"{key} = {value} ", search, count=1, flags=re.M)
    text = re.sub(r"^offline = true", "offline = false", head, flags=re.M) + "[search]\n" + search
    text = re.sub(r"^allow_private_networks = false", "allow_private_networks = true", text, flags=re.M)
    config.write_text(text, encoding="utf-8")
    return config


def serve_recordings(httpserver: HTTPServer) -> None:
    for service, (name, content_type) in RECORDED.items():
        body = (FIXTURES / name).read_bytes()
        httpserver.expect_request(PATHS[service]).respond_with_data(
            body, content_type=content_type, headers={"ETag": f'"{service}-1"'}
        )


def test_no_search_source_unless_enabled(workspace: Path) -> None:
    config = load(workspace)
    assert config.search.enabled is False
    assert search_queries(config) == []
    assert not any(s.origin.startswith("search:") for s in configured_sources(config))


def test_the_queries_asked_for_the_sample_interviews(workspace: Path) -> None:
    config = load(enable_search(workspace, "http://127.0.0.1:9"))
    queries = search_queries(config)
    asked: dict[str, list[dict[str, str]]] = {}
    for query in queries:
        parts = urlsplit(query.url)
        assert f"http://127.0.0.1:9{parts.path}" == f"http://127.0.0.1:9{PATHS[query.service]}"
        asked.setdefault(query.service, []).append(dict(parse_qsl(parts.query)))
    interests = [
        "evaluating LLM-generated clinical summaries for hallucinations and omissions",
        "monitoring deployed models for drift in hospitals",
        "patient data privacy under HIPAA and GDPR, de-identification of notes",
        "data pipeline reliability, data quality checks and incident response",
        "growing junior engineers into team leads",
        "stream processing with Kafka and change data capture",
        "schema changes breaking downstream consumers",
        "reducing cloud spend with FinOps, tagging and rightsizing",
    ]
    assert asked["arxiv"] == [
        {"search_query": f'all:"{text}"', "sortBy": "submittedDate", "max_results": "10"} for text in interests
    ]
    assert asked["hackernews"] == [{"query": text, "tags": "story", "hitsPerPage": "10"} for text in interests]
    assert asked["crossref"] == [
        {"query": text, "rows": "10", "sort": "published", "order": "desc"} for text in interests
    ]
    news = {"hl": "en-US", "gl": "US", "ceid": "US:en"}
    assert asked["googlenews"] == [
        *({"q": text, **news} for text in interests[:3]),
        {"q": '"Helix Health"', **news},
        *({"q": text, **news} for text in interests[3:]),
        {"q": '"Northwind Logistics"', **news},
    ]
    # Nothing for the filled interview (Brightline Energy): not its interests, not its company.
    assert not any("battery" in q.url or "Brightline" in q.url or "accessibility" in q.url for q in queries)
    # Properly encoded: spaces, quotes, commas and colons never travel raw.
    assert all(not re.search(r'[ ",]', q.url.split("?", 1)[1]) for q in queries)
    sources = {s.location: s for s in configured_sources(config)}
    first = sources[queries[0].url]
    assert first.kind == "feed" and first.origin == f"search: {interests[0]}"
    assert first.title == f"arXiv search: {interests[0]}"
    assert sources[queries[-1].url].origin == "search: company news for Northwind Logistics"


def test_services_and_company_news_are_chosen_in_the_config(workspace: Path) -> None:
    extra = 'services = ["crossref"]\ncompany_news = false\nitems_per_query = 3\n'
    queries = search_queries(load(enable_search(workspace, "http://127.0.0.1:9", extra)))
    assert {q.service for q in queries} == {"crossref"} and len(queries) == 8
    assert all("rows=3" in q.url for q in queries)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("arxiv.xml", ("Silent Degradation: Detecting Dataset Shift", "http://arxiv.org/pdf/2611.04417v1", "pdf")),
        ("hackernews.json", ("How we cut consumer lag", "https://engineering.example.com/blog/kafka-cdc", "html")),
        ("crossref.json", ("De-identification of clinical notes", "https://doi.org/10.5555/ehd.2026.0142", "html")),
        ("googlenews.xml", ("Helix Health opens Berlin office", "https://news.google.com/rss/articles/", "html")),
    ],
)  # fmt: skip
def test_each_service_answer_is_read(name: str, expected: tuple[str, str, str]) -> None:
    parsed = parse_feed((FIXTURES / name).read_bytes(), "http://127.0.0.1/q")
    first = parsed.entries[0]
    assert parsed.bozo is None and len(parsed.entries) >= 2
    assert first.title.startswith(expected[0]) and first.url and first.url.startswith(expected[1])
    assert first.kind == expected[2] and first.published and first.published.startswith("2026-11-")
    assert first.reason is None


def test_hacker_news_and_crossref_details() -> None:
    hn = parse_feed((FIXTURES / "hackernews.json").read_bytes(), "http://127.0.0.1/q").entries
    assert hn[0].url == "https://engineering.example.com/blog/kafka-cdc-consumer-lag"  # utm_source dropped
    assert (hn[0].guid, hn[0].author, hn[0].published) == ("hn:42210931", "jkreps2", "2026-11-24")
    ask = hn[1]  # an Ask HN story has no url: its discussion is the link, its text the summary
    assert ask.url == "https://news.ycombinator.com/item?id=42198877" and "rightsizing" in ask.summary
    works = parse_feed((FIXTURES / "crossref.json").read_bytes(), "http://127.0.0.1/q").entries
    assert works[0].author == "Lena Hoffmann, Carlos Mendes" and works[0].guid == "doi:10.5555/ehd.2026.0142"
    assert works[0].published == "2026-11-18"  # published-online, before the coarser issued
    assert works[0].summary.startswith("Abstract Free-text clinical notes")  # JATS tags stripped
    assert works[1].published == "2026-11-02"


def test_search_sources_fetch_parse_and_deduplicate(workspace: Path, httpserver: HTTPServer) -> None:
    serve_recordings(httpserver)
    config = load(enable_search(workspace, httpserver.url_for("").rstrip("/")))
    store = Store(config.paths.store)
    archive = Archive(config.paths.raw)
    searches = [s for s in configured_sources(config) if s.origin.startswith("search:")]
    ingest.sync_sources(store, searches)
    stamp = NOW.isoformat()
    with Fetcher(config.fetch) as fetcher:
        counts = ingest.fetch_feeds(store, archive, fetcher, stamp)
        assert counts["sources_new"] == len(searches) == 34  # 8 interests x 4 services + 2 companies
        ingest.parse_sources(store, archive, stamp, config.fetch.max_entries_per_feed)
        # Every query got the same recording: each item is one document, however many queries found it.
        docs = store.query("SELECT id, url, title FROM documents")
        assert len(docs) == 2 + 3 + 2 + 2 == len({d["url"] for d in docs})
        # A second night the same day asks nothing (every_days = 1), and nothing new is stored.
        again = ingest.fetch_feeds(store, archive, fetcher, stamp)
        assert again["search_not_due"] == 34 and again["sources"] == 0
        # The next day: conditional GETs, answered as not modified by a server that honours ETags.
        httpserver.clear()
        for path in PATHS.values():
            httpserver.expect_request(path).respond_with_data("", status=304)
        later = ingest.fetch_feeds(store, archive, fetcher, "2026-11-27T06:00:00+00:00")
        assert later["sources_not_modified"] == 34
        assert all("If-None-Match" in req.headers for req, _ in httpserver.log)
    assert store.scalar("SELECT COUNT(*) FROM documents") == len(docs)


def test_a_feed_already_in_the_library_is_not_stored_twice(workspace: Path, httpserver: HTTPServer) -> None:
    """The document id is the canonical URL's hash: an item a search finds that a feed already gave is one document."""
    serve_recordings(httpserver)
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Blog</title><item><title>Dashboards</title>'
        "<link>https://blog.example.org/data-quality-checks?utm_medium=rss</link></item></channel></rss>"
    )
    httpserver.expect_request("/blog.xml").respond_with_data(feed, content_type="application/rss+xml")
    config = load(enable_search(workspace, httpserver.url_for("").rstrip("/"), 'services = ["hackernews"]\n'))
    store = Store(config.paths.store)
    archive = Archive(config.paths.raw)
    blog = ingest.Source("feed-blog", "feed", httpserver.url_for("/blog.xml"), "Blog", "config")
    searches = [s for s in configured_sources(config) if s.origin.startswith("search:")]
    ingest.sync_sources(store, [blog, *searches])
    with Fetcher(config.fetch) as fetcher:
        ingest.fetch_feeds(store, archive, fetcher, NOW.isoformat())
    ingest.parse_sources(store, archive, NOW.isoformat(), 50)
    rows = store.query("SELECT url FROM documents WHERE url LIKE '%data-quality-checks%'")
    assert [r["url"] for r in rows] == ["https://blog.example.org/data-quality-checks"]
    # The blog's item, HN's two others, and the two company-news items (company_news is its own switch).
    assert store.scalar("SELECT COUNT(*) FROM documents") == 1 + 2 + 2


def test_filled_interview_queries_stop(workspace: Path) -> None:
    config = load(enable_search(workspace, "http://127.0.0.1:9"))
    store = Store(config.paths.store)
    ingest.sync_sources(store, configured_sources(config))
    helix = config.paths.interviews / "2026-11-20-helix-health.md"
    helix.write_text(helix.read_text(encoding="utf-8").replace("status: active", "status: rejected"), "utf-8")
    ingest.sync_sources(store, configured_sources(load(config.path)))
    removed = store.query("SELECT origin FROM sources WHERE state = 'removed'")
    assert len(removed) == 3 * 4 + 1
    assert {r["origin"] for r in removed} >= {"search: company news for Helix Health"}


def test_a_paced_host_is_asked_at_most_once_per_interval() -> None:
    ticks = iter([0.0, 0.1, 5.0])  # read once per paced request
    limits = politeness.HostLimits(clock=lambda: next(ticks))
    url = "https://api.crossref.org/works?query=a"
    assert limits.next_turn(url) == 0.0  # not paced: no wait
    limits.pace("https://api.crossref.org/works", 1.0)
    assert limits.next_turn(url) == 0.0
    assert limits.next_turn(url) == pytest.approx(0.9)  # 0.1 s after the first: waits for its turn
    assert limits.next_turn(url) == 0.0  # long after
