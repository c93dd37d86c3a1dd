"""The first night of the sample's interviews with search sources on, each service answered from 127.0.0.1.

A copy of data/sample in a temporary folder, with its own library and feeds left out (`opml = []`,
no data/), so the night holds what the search sources bring and nothing else. `[search] enabled = true`,
every service's base URL pointed at a local server (pytest-httpserver) that answers every query with
that service's recording (tests/fixtures/search/: arXiv Atom, Hacker News Algolia JSON, Crossref JSON,
Google News RSS). The recordings' item links are rewritten to pages on the same server:

- the five items a sample article covers are served as that article (Markdown from
  data/sample/articles/ turned into an HTML page): the Hacker News data-quality post as
  data-reliability/02 (a silent null broke revenue dashboards), the Kafka CDC post as
  data-reliability/01 (data contracts), the Crossref incident-response paper as
  data-reliability/05 (on-call triage), the two arXiv papers (their PDF links) as clinical-ml/04
  (a drift postmortem) and clinical-ml/09 (a hallucination taxonomy);
- the rest (the de-identification paper, the two Google News stories) as a short page of the
  item's own headline and the recording's text, as a news redirect or a paywalled paper would be;
- the Ask HN story links to news.ycombinator.com, which is not rewritten: offline, its page fails
  and it keeps the answer's text.

Two nights, each on a fresh copy: `fetch_articles = false` (the answers' own text only) and
`fetch_articles = true` (pages fetched and extracted). `fetch.offline = false` and
`allow_private_networks = true` (the services are on 127.0.0.1). The real pipeline runs with the real
model: `pipeline.runner.run(load(config), now=NOW)`.

Run from the repository root (about a minute on 2 cores):
  .venv/bin/python benchmarks/search_first_night.py
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import re
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from pytest_httpserver import HTTPServer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import runner  # noqa: E402
from pipeline.config import load  # noqa: E402
from pipeline.feeds import parse_feed  # noqa: E402
from pipeline.store import Store  # noqa: E402

NOW = dt.datetime(2026, 11, 25, 6, 0, tzinfo=dt.UTC)
SAMPLE = ROOT / "data" / "sample"
FIXTURES = ROOT / "tests" / "fixtures" / "search"
# The recordings' paths, item links and sample-article pages, shared with tests/test_cli_sources.py.
RECORDINGS = json.loads((FIXTURES / "recordings.json").read_text(encoding="utf-8"))
SERVICES: dict[str, list[str]] = RECORDINGS["services"]
PAGES: dict[str, str] = RECORDINGS["pages"]
ITEM_LINK = re.compile(RECORDINGS["item_link"])


def page(title: str, paragraphs: list[str]) -> str:
    shown = html.escape(title)
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return f"<html><head><title>{shown}</title></head><body><article><h1>{shown}</h1>{body}</article></body></html>"


def article_page(path: Path) -> str:
    front, body = path.read_text(encoding="utf-8").split("---\n", 2)[1:]
    title = re.search(r'^title: "(.*)"$', front, re.M).group(1)  # type: ignore[union-attr]
    return page(title, [p.removeprefix("## ") for p in body.split("\n\n") if p.strip()])


def serve(server: HTTPServer) -> dict[str, int]:
    """Every recording with its links rewritten; every item's page. Returns items per service's answer."""
    web = server.url_for("/web/")
    items: dict[str, int] = {}
    short: dict[str, str] = {}
    for service, (path, name, content_type) in SERVICES.items():
        body = ITEM_LINK.sub(lambda m: f"{web}{m.group(1)}/", (FIXTURES / name).read_text(encoding="utf-8"))
        server.expect_request(path).respond_with_data(body, content_type=content_type)
        entries = parse_feed(body.encode(), server.url_for(path)).entries
        items[service] = len(entries)
        for entry in entries:
            link = urlsplit(entry.url or "").path.removeprefix("/web/")
            if entry.url and entry.url.startswith(web) and link not in PAGES:
                short[link] = page(entry.title, [entry.summary or entry.title])
    for link, article in PAGES.items():
        server.expect_request(f"/web/{link}").respond_with_data(
            article_page(SAMPLE / "articles" / article), content_type="text/html"
        )
    for link, text in short.items():
        server.expect_request(f"/web/{link}").respond_with_data(text, content_type="text/html")
    server.expect_request("/robots.txt").respond_with_data("", status=404)
    return items


def workspace(folder: Path, base: str, fetch_articles: bool) -> Path:
    shutil.copytree(SAMPLE, folder, ignore=shutil.ignore_patterns("data"))
    config = folder / "gifts.toml"
    head, search = config.read_text(encoding="utf-8").split("[search]\n", 1)
    values = {"enabled": "true", "min_interval_s": "0"}
    values |= {f"{service}_url": f'"{base}{path}"' for service, (path, _, _) in SERVICES.items()}
    for key, value in values.items():
        search, n = re.subn(rf"^{key} = [^#\n]*", f"{key} = {value} ", search, count=1, flags=re.M)
        if n != 1:
            raise SystemExit(f"data/sample/gifts.toml: no [search] {key} line to set")
    edits = {
        "opml": '["sources.opml"]',
        "offline": "true",
        "allow_private_networks": "false",
        "fetch_articles": "true",
    }
    wanted = {"opml": "[]", "offline": "false", "allow_private_networks": "true"}
    wanted["fetch_articles"] = str(fetch_articles).lower()
    for key, old in edits.items():
        head, n = re.subn(rf"^{key} = {re.escape(old)}", f"{key} = {wanted[key]}", head, count=1, flags=re.M)
        if n != 1:
            raise SystemExit(f"data/sample/gifts.toml: no {key} = {old} line to change")
    config.write_text(head + "[search]\n" + search, encoding="utf-8")
    return config


def night(fetch_articles: bool) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp, HTTPServer(host="127.0.0.1", port=0) as server:
        per_service = serve(server)
        config = load(workspace(Path(tmp) / "ws", server.url_for("").rstrip("/"), fetch_articles))
        runner.run(config, now=NOW)
        asked = [dict(parse_qsl(urlsplit(req.url).query)) for req, _ in server.log if "/web/" not in req.path]
        asked = [a for a in asked if a]
        store = Store(config.paths.store)
        docs = store.query(
            "SELECT d.id, d.title, d.kind, d.state, d.words FROM documents d JOIN sources s ON s.id = d.source_id "
            "WHERE s.origin LIKE 'search: %'"
        )
        listed = store.query(
            "SELECT c.name, d.title, s.score, src.origin FROM suggestions s JOIN contacts c ON c.id = s.contact_id "
            "JOIN documents d ON d.id = s.doc_id JOIN sources src ON src.id = d.source_id "
            "WHERE s.active = 1 ORDER BY c.name, s.rank"
        )
        pages = sum(1 for req, _ in server.log if req.path.startswith("/web/"))
    terms = Counter(
        (a.get("query") or a.get("q") or a.get("search_query", "").removeprefix('all:"').removesuffix('"'))
        for a in asked
    )
    company = [t for t in terms if t.startswith('"')]
    searched = [r for r in listed if str(r["origin"]).startswith("search: ")]
    return {
        "fetch_articles": fetch_articles,
        "queries": len(asked),
        "interests_asked": len(terms) - len(company),
        "company_queries": len(company),
        "items_per_service_answer": per_service,
        "items_per_interest": sum(per_service.values()),
        "items_returned": sum(per_service.values()) * (len(terms) - len(company))
        + per_service["googlenews"] * len(company),
        "pages_fetched": pages,
        "distinct_documents": len(docs),
        "documents_150_words_or_more": sum(1 for d in docs if (d["words"] or 0) >= 150),
        "search_suggestions": [(r["name"], r["title"], round(r["score"], 3)) for r in searched],
        "search_documents_listed": len({r["title"] for r in searched}),
        "other_suggestions": len(listed) - len(searched),  # the sample's inbox/ folder
    }


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    for fetch_articles in (False, True):
        print(json.dumps(night(fetch_articles), indent=1))


if __name__ == "__main__":
    main()
